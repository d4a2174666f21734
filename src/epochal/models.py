"""Keras' ``models`` module name: ``from epochal.models import Sequential``."""

from epochal.model import Model
from epochal.sequential import Sequential

__all__ = ["Model", "Sequential", "load_model"]


def load_model(*args, **kwargs):  # type: ignore[no-untyped-def]
    """See :func:`epochal.saving.load_model`."""
    from epochal.saving import load_model as _load

    return _load(*args, **kwargs)
