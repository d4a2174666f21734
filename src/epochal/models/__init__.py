"""Models: the :class:`Model` facade, :class:`Sequential` and the text summary.

Keras' module name: ``from epochal.models import Sequential, load_model``.
"""

from epochal.models.functional import Functional
from epochal.models.model import Model, default_device
from epochal.models.sequential import Sequential
from epochal.saving import load_model

__all__ = ["Functional", "Model", "Sequential", "default_device", "load_model"]
