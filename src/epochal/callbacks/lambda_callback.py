"""LambdaCallback: a callback assembled from plain functions."""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Callable
from typing import Any

from epochal.callbacks.callback import HOOKS, LEGACY_BATCH_HOOKS, Callback, legacy_hook

__all__ = ["LambdaCallback"]


class LambdaCallback(Callback):
    """Builds a callback from functions passed by hook name.

    Any hook of :class:`Callback` can be given as a keyword, including the test and predict
    hooks and the Keras 2 ``on_batch_begin``/``on_batch_end`` (training batches). The
    functions are called as Keras calls them: epoch hooks ``f(epoch, logs)``, begin/end hooks
    ``f(logs)``, batch hooks ``f(batch, logs=logs)`` (so the second parameter must be named
    ``logs``). Hooks not given cost nothing: the loop skips them.

    A keyword that is not a hook name becomes a plain attribute of the callback, as in Keras
    (``LambdaCallback(custom_method=f).custom_method is f``); the loop never calls it. One
    that looks like a misspelt hook (``on_epoch_ends=``) warns, naming the closest hook. A
    name that would replace a method or attribute the loop relies on (``set_model=``,
    ``model=``) is refused.

    Args:
        on_epoch_begin: ``f(epoch, logs)``. Defaults to `None`.
        on_epoch_end: ``f(epoch, logs)``. Defaults to `None`.
        on_train_begin: ``f(logs)``. Defaults to `None`.
        on_train_end: ``f(logs)``. Defaults to `None`.
        on_train_batch_begin: ``f(batch, logs)``. Defaults to `None`.
        on_train_batch_end: ``f(batch, logs)``. Defaults to `None`.
        **kwargs: any other hook name (``on_test_begin``, ``on_predict_batch_end``,
            ``on_batch_end``...), each a function; other names are stored as attributes.

    Raises:
        TypeError: for a hook whose value is not callable, or a keyword that would replace
            an attribute of the callback itself.

    Example:
        >>> from epochal.callbacks import LambdaCallback
        >>> seen = []
        >>> cb = LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(epoch))
        >>> cb.on_epoch_end(0, {}); seen
        [0]
        >>> cb.implements("on_epoch_end"), cb.implements("on_train_batch_end")
        (True, False)
    """

    def __init__(
        self,
        on_epoch_begin: Callable[..., Any] | None = None,
        on_epoch_end: Callable[..., Any] | None = None,
        on_train_begin: Callable[..., Any] | None = None,
        on_train_end: Callable[..., Any] | None = None,
        on_train_batch_begin: Callable[..., Any] | None = None,
        on_train_batch_end: Callable[..., Any] | None = None,
        **kwargs: Callable[..., Any] | None,
    ) -> None:
        super().__init__()
        # Keras 2 names receive training batches, through the default train-batch hooks.
        hook_names = (*HOOKS, *LEGACY_BATCH_HOOKS)
        extras = {name: kwargs.pop(name) for name in sorted(set(kwargs) - set(hook_names))}
        for name, value in extras.items():
            if name.startswith("_") or hasattr(self, name):
                raise TypeError(
                    f"LambdaCallback: `{name}` would replace an attribute of the callback "
                    "itself; pass it under another name."
                )
            close = difflib.get_close_matches(name, hook_names, n=1, cutoff=0.8)
            if close:
                warnings.warn(
                    f"LambdaCallback: `{name}` is not a hook name, so it is kept as an "
                    f"attribute and never called. Did you mean `{close[0]}`?",
                    UserWarning,
                    stacklevel=2,
                )
            setattr(self, name, value)  # Keras keeps unknown keywords as attributes
        given = {
            "on_epoch_begin": on_epoch_begin,
            "on_epoch_end": on_epoch_end,
            "on_train_begin": on_train_begin,
            "on_train_end": on_train_end,
            "on_train_batch_begin": on_train_batch_begin,
            "on_train_batch_end": on_train_batch_end,
            **kwargs,
        }
        self._hooks: set[str] = set()
        for name, fn in given.items():
            if fn is None:
                continue
            if not callable(fn):
                raise TypeError(f"`{name}` must be a function. Received: {name}={fn!r}")
            # An instance attribute shadows the class hook, as Keras does.
            setattr(self, name, fn)
            self._hooks.add(name)

    def implements(self, hook: str) -> bool:
        return hook in self._hooks or legacy_hook(hook) in self._hooks
