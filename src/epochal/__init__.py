"""epochal: Keras' training loop and its callbacks, on any ``torch.nn.Module``.

Replace ``keras`` (or ``tf.keras``) by ``epochal`` in your imports: ``epochal.models``,
``epochal.layers``, ``epochal.callbacks``, ``epochal.optimizers``, ``epochal.losses``,
``epochal.metrics``, ``epochal.utils`` and ``epochal.datasets`` mirror Keras' modules.
"""

from epochal import (
    backend,
    callbacks,
    datasets,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    saving,
    utils,
)
from epochal._version import __version__
from epochal.layers import Input, InputLayer
from epochal.models import Functional, Model, Sequential
from epochal.saving import load_model

__all__ = [
    "Functional",
    "Input",
    "InputLayer",
    "Model",
    "Sequential",
    "__version__",
    "backend",
    "callbacks",
    "datasets",
    "layers",
    "load_model",
    "losses",
    "metrics",
    "models",
    "optimizers",
    "plot_history",
    "saving",
    "utils",
]


def __getattr__(name: str) -> object:
    # matplotlib is imported only by those who draw.
    if name == "plot_history":
        from epochal.plotting import plot_history

        return plot_history
    raise AttributeError(f"module 'epochal' has no attribute {name!r}")
