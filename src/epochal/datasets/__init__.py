"""Datasets with Keras' ``load_data()`` interface.

``digits`` ships inside the package (no network); ``mnist`` reads the standard IDX files or
``mnist.npz`` from a path, or downloads them with checksum verification.
"""

from epochal.datasets import digits, mnist

__all__ = ["digits", "mnist"]
