"""Keras' callbacks, on epochal's loop."""

from epochal.callbacks.backup_and_restore import BackupAndRestore
from epochal.callbacks.base_logger import BaseLogger
from epochal.callbacks.callback import Callback
from epochal.callbacks.callback_list import CallbackList
from epochal.callbacks.csv_logger import CSVLogger
from epochal.callbacks.history import History
from epochal.callbacks.mlflow_logger import MLflowLogger
from epochal.callbacks.progbar_logger import ProgbarLogger
from epochal.callbacks.remote_monitor import RemoteMonitor
from epochal.callbacks.tensorboard import TensorBoard

__all__ = [
    "BackupAndRestore",
    "BaseLogger",
    "CSVLogger",
    "Callback",
    "CallbackList",
    "History",
    "MLflowLogger",
    "ProgbarLogger",
    "RemoteMonitor",
    "TensorBoard",
]
