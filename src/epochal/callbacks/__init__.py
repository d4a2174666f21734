"""Keras' callbacks, on epochal's loop."""

from epochal.callbacks.backup_and_restore import BackupAndRestore
from epochal.callbacks.base_logger import BaseLogger
from epochal.callbacks.callback import Callback, RunGuard
from epochal.callbacks.callback_list import CallbackList
from epochal.callbacks.csv_logger import CSVLogger
from epochal.callbacks.early_stopping import EarlyStopping
from epochal.callbacks.history import History
from epochal.callbacks.host import CallbackHost, Stateful, TrainStateView
from epochal.callbacks.lambda_callback import LambdaCallback
from epochal.callbacks.learning_rate_scheduler import LearningRateScheduler
from epochal.callbacks.mlflow_logger import MLflowLogger
from epochal.callbacks.model_checkpoint import ModelCheckpoint
from epochal.callbacks.monitor_callback import MonitorCallback
from epochal.callbacks.progbar_logger import ProgbarLogger
from epochal.callbacks.reduce_lr_on_plateau import ReduceLROnPlateau
from epochal.callbacks.remote_monitor import RemoteMonitor
from epochal.callbacks.tensorboard import TensorBoard
from epochal.callbacks.terminate_on_nan import TerminateOnNaN

__all__ = [
    "BackupAndRestore",
    "BaseLogger",
    "CSVLogger",
    "Callback",
    "CallbackHost",
    "CallbackList",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "MLflowLogger",
    "ModelCheckpoint",
    "MonitorCallback",
    "ProgbarLogger",
    "ReduceLROnPlateau",
    "RemoteMonitor",
    "RunGuard",
    "Stateful",
    "TensorBoard",
    "TerminateOnNaN",
    "TrainStateView",
]
