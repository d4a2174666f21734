"""Keras' callbacks, on epochal's loop."""

from epochal.callbacks.base_logger import BaseLogger
from epochal.callbacks.callback import Callback
from epochal.callbacks.callback_list import CallbackList
from epochal.callbacks.history import History
from epochal.callbacks.model_checkpoint import ModelCheckpoint
from epochal.callbacks.progbar_logger import ProgbarLogger

__all__ = [
    "BaseLogger",
    "Callback",
    "CallbackList",
    "History",
    "ModelCheckpoint",
    "ProgbarLogger",
]
