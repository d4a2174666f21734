"""Saving and loading models and weights: atomic writes, no pickle, clear errors.

One internal reader/writer (:class:`Bundle` <-> HDF5) and thin formats: ``.h5``/``.hdf5``
(whole model or weights), ``.weights.h5``, ``.keras`` (zip), ``.safetensors`` and ``.pt``
(weights; ``.pt`` read with ``torch.load(weights_only=True)`` on torch >= 2.10 only).
"""

from epochal.saving._bundle import Bundle, CheckpointError
from epochal.saving.api import (
    PendingSave,
    load_model,
    load_weights,
    prepare_save,
    save_bundle,
    save_model,
    save_weights,
)
from epochal.saving.formats import read_bundle, write_bundle
from epochal.saving.protocol import Saveable, register_model_class
from epochal.saving.serialization import get_registered_object, register_serializable

__all__ = [
    "Bundle",
    "CheckpointError",
    "PendingSave",
    "Saveable",
    "get_registered_object",
    "load_model",
    "load_weights",
    "prepare_save",
    "read_bundle",
    "register_model_class",
    "register_serializable",
    "save_bundle",
    "save_model",
    "save_weights",
    "write_bundle",
]
