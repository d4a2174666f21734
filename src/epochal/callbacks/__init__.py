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
from epochal.callbacks.live_plot import LivePlot
from epochal.callbacks.mlflow_logger import MLflowLogger
from epochal.callbacks.model_checkpoint import ModelCheckpoint
from epochal.callbacks.monitor_callback import MonitorCallback
from epochal.callbacks.progbar_logger import ProgbarLogger
from epochal.callbacks.reduce_lr_on_plateau import ReduceLROnPlateau
from epochal.callbacks.remote_monitor import RemoteMonitor
from epochal.callbacks.swap_ema_weights import SwapEMAWeights
from epochal.callbacks.system_monitor import SystemMonitor
from epochal.callbacks.tensorboard import TensorBoard
from epochal.callbacks.terminate_on_nan import TerminateOnNaN
from epochal.callbacks.wandb_logger import WandbLogger

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
    "LivePlot",
    "MLflowLogger",
    "ModelCheckpoint",
    "MonitorCallback",
    "ProgbarLogger",
    "ReduceLROnPlateau",
    "RemoteMonitor",
    "RunGuard",
    "Stateful",
    "SwapEMAWeights",
    "SystemMonitor",
    "TensorBoard",
    "TerminateOnNaN",
    "TrainStateView",
    "WandbLogger",
]
