"""Datasets with Keras' ``load_data()`` interface, read from Keras' own files.

``digits`` ships inside the package (no network); ``mnist`` reads the IDX files or
``mnist.npz``. ``fashion_mnist``, ``cifar10``, ``cifar100``, ``imdb``, ``reuters``,
``boston_housing`` and ``california_housing`` read the files Keras caches
(``$KERAS_HOME/datasets`` or ``~/.keras/datasets``) or a ``path`` you give, and download
them from Keras' origins with Keras' checksums otherwise. Nothing is ever unpickled beyond
numpy arrays, lists and numbers (see :mod:`epochal.datasets._files`).
"""

from epochal.datasets import (
    boston_housing,
    california_housing,
    cifar10,
    cifar100,
    digits,
    fashion_mnist,
    imdb,
    mnist,
    reuters,
)

__all__ = [
    "boston_housing",
    "california_housing",
    "cifar10",
    "cifar100",
    "digits",
    "fashion_mnist",
    "imdb",
    "mnist",
    "reuters",
]
