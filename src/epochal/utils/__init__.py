"""Keras' ``keras.utils``: array helpers, ``get_file``, ``plot_model``, ``PyDataset``.

Everything is importable as ``epochal.utils.X``; the submodules group them as Keras does.
"""

from epochal.utils._core import set_random_seed, to_categorical
from epochal.utils.file_utils import get_file
from epochal.utils.model_visualization import model_to_dot, plot_model
from epochal.utils.py_dataset import PyDataset, Sequence
from epochal.utils.sequences import normalize, pad_sequences

__all__ = [
    "PyDataset",
    "Sequence",
    "get_file",
    "model_to_dot",
    "normalize",
    "pad_sequences",
    "plot_model",
    "set_random_seed",
    "to_categorical",
]
