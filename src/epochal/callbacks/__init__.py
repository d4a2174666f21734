"""Keras' callbacks, on epochal's loop."""

from epochal.callbacks.base_logger import BaseLogger
from epochal.callbacks.callback import Callback
from epochal.callbacks.callback_list import CallbackList
from epochal.callbacks.early_stopping import EarlyStopping
from epochal.callbacks.history import History
from epochal.callbacks.lambda_callback import LambdaCallback
from epochal.callbacks.learning_rate_scheduler import LearningRateScheduler
from epochal.callbacks.monitor_callback import MonitorCallback
from epochal.callbacks.progbar_logger import ProgbarLogger
from epochal.callbacks.reduce_lr_on_plateau import ReduceLROnPlateau
from epochal.callbacks.terminate_on_nan import TerminateOnNaN

__all__ = [
    "BaseLogger",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "MonitorCallback",
    "ProgbarLogger",
    "ReduceLROnPlateau",
    "TerminateOnNaN",
]
