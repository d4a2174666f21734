"""CallbackList: the dispatcher between the loop and the callbacks."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from epochal.callbacks.callback import HOOKS, RUN_GUARD_METHODS, Callback, RunGuard
from epochal.logs import convert_logs

if TYPE_CHECKING:
    from epochal.callbacks.host import CallbackHost

__all__ = ["CallbackList"]

# How backups written before `state_key` keyed callback states.
_LEGACY_KEY = re.compile(r"\d+:[A-Za-z_]\w*")


class CallbackList(Callback):
    """Calls a list of callbacks, each hook only on the callbacks that implement it.

    Per hook call, ``logs`` become one new :class:`~epochal.logs.Logs` (keys sorted, scalars
    as floats, device values fetched only when read) and that same mapping goes to every
    callback in order, so a key added by one (``learning_rate``) is seen by the next ones, by
    History and by the progress bar — Keras' behaviour.

    Args:
        callbacks: A callback or a list of callbacks. Defaults to `None`.
        add_history: Append a :class:`History` unless one is present. Defaults to `False`.
        add_progbar: Append a :class:`ProgbarLogger` unless one is present. Defaults to
            `False`.
        model: The model to attach. Defaults to `None`.
        **params: The ``params`` handed to every callback (``verbose``, ``epochs``, ``steps``).

    Raises:
        TypeError: when an entry is not a :class:`Callback` (a nested list, say).
        ValueError: when an ``on_*_end`` hook is called without its ``on_*_begin``.
    """

    def __init__(
        self,
        callbacks: Callback | Iterable[Callback] | None = None,
        add_history: bool = False,
        add_progbar: bool = False,
        model: CallbackHost | None = None,
        **params: Any,
    ) -> None:
        super().__init__()
        if callbacks is None:
            items: list[Callback] = []
        elif isinstance(callbacks, Callback):
            items = [callbacks]
        else:
            items = list(callbacks)
        for position, item in enumerate(items):
            if not isinstance(item, Callback):
                raise TypeError(
                    "`callbacks` must be a Callback or a flat list of Callback objects. "
                    f"Entry {position} is {type(item).__name__}: {item!r}"
                )
            _check_run_guard(item)
        self.callbacks = items
        from epochal.callbacks.history import History
        from epochal.callbacks.progbar_logger import ProgbarLogger

        if add_history and not any(isinstance(c, History) for c in items):
            self.callbacks.append(History())
        if add_progbar and not any(isinstance(c, ProgbarLogger) for c in items):
            self.callbacks.append(ProgbarLogger())
        self._main_process = True
        self._dispatch = self._build_dispatch()
        self._open: set[str] = set()
        if model is not None:
            self.set_model(model)
        if params:
            self.set_params(params)

    def ensure_history(self) -> None:
        """Appends a :class:`History` unless one is present (``fit`` returns it)."""
        from epochal.callbacks.history import History

        if not any(isinstance(c, History) for c in self.callbacks):
            self.callbacks.append(History())
            self._dispatch = self._build_dispatch()

    def set_model(self, model: CallbackHost) -> None:
        from epochal.callbacks.history import History

        super().set_model(model)
        # The one rank check of main_process_only callbacks: skipped on every rank but 0.
        self._main_process = bool(getattr(model, "is_main_process", True))
        self._dispatch = self._build_dispatch()
        for callback in self.callbacks:
            callback.set_model(model)
            if isinstance(callback, History):
                model.history = callback

    def _build_dispatch(self) -> dict[str, list[Callback]]:
        # List order, except that run guards come last (stable sort); callbacks marked
        # main_process_only are left out on every rank but 0.
        ordered = sorted(self.callbacks, key=lambda c: isinstance(c, RunGuard))
        active = [c for c in ordered if self._main_process or not c.main_process_only]
        self._guards: list[RunGuard] = [c for c in active if isinstance(c, RunGuard)]
        return {hook: [c for c in active if c.implements(hook)] for hook in HOOKS}

    def set_params(self, params: dict[str, Any]) -> None:
        super().set_params(params)
        for callback in self.callbacks:
            callback.set_params(params)

    def implements(self, hook: str) -> bool:
        return bool(self._dispatch[hook])

    def _keyed(self) -> list[tuple[str, Callback]]:
        """``(key, callback)`` for every callback: its ``state_key``, with ``#2``, ``#3``...
        for the second and later callbacks of the same key, in list order."""
        seen: dict[str, int] = {}
        keyed = []
        for callback in self.callbacks:
            key = callback.state_key
            seen[key] = seen.get(key, 0) + 1
            keyed.append((key if seen[key] == 1 else f"{key}#{seen[key]}", callback))
        return keyed

    def state_dict(self) -> dict[str, Any]:
        """States of the callbacks that have any, keyed by each one's ``state_key``."""
        states = {}
        for key, callback in self._keyed():
            state = callback.state_dict()
            if state:
                states[key] = state
        return states

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Hands each saved state to the callback of the same ``state_key`` and warns about
        saved states that no callback claims (they are not restored). Backups written before
        ``state_key`` (keys ``"<position>:<class>"``) are matched by position and class, else
        by class when one callback of that class is left on each side."""
        if state and all(_LEGACY_KEY.fullmatch(key) for key in state):
            keyed = _legacy_keys(self.callbacks, state)
        else:
            keyed = self._keyed()
        for key, callback in keyed:
            if key in state:
                callback.load_state_dict(state[key])
        unclaimed = sorted(set(state) - {key for key, _ in keyed})
        if unclaimed:
            warnings.warn(
                "The backup holds the state of callbacks this fit() does not have: "
                f"{', '.join(unclaimed)}. Their state is not restored. Pass the same "
                "callbacks (with the same identifying arguments) as the run that wrote the "
                "backup to continue them.",
                UserWarning,
                stacklevel=2,
            )

    # ------------------------------------------------------------------ the RunGuard side
    def restore_run(self) -> None:
        """Lets the run guards restore an interrupted run (before ``on_train_begin``)."""
        for guard in self._guards:
            guard.restore_run()

    def interrupt_run(self) -> None:
        """Tells the run guards the run ends early on an agreed interrupt (before
        ``on_train_end``)."""
        for guard in self._guards:
            guard.interrupt_run()

    def end_run(self) -> None:
        """Tells the run guards ``fit`` is over (also when it raised); every one is told even
        if another raises, and the first error is raised after."""
        error: BaseException | None = None
        for callback in self._guards:
            try:
                callback.end_run()
            except BaseException as exc:  # re-raised below
                error = error or exc
        if error is not None:
            raise error

    # ------------------------------------------------------------------ dispatch
    def _call(self, hook: str, logs: Mapping[str, Any] | None, index: int | None = None) -> None:
        targets = self._dispatch[hook]
        if not targets:
            return
        converted = convert_logs(logs)
        if index is None:
            for callback in targets:
                getattr(callback, hook)(converted)
        elif hook.startswith("on_epoch"):
            for callback in targets:
                getattr(callback, hook)(index, converted)
        else:
            for callback in targets:
                getattr(callback, hook)(index, logs=converted)

    def _call_batch(self, hook: str, batch: int, logs: Mapping[str, Any] | None) -> None:
        # The per-step path: no work at all when no callback overrides the hook.
        targets = self._dispatch[hook]
        if targets:
            converted = convert_logs(logs)
            for callback in targets:
                getattr(callback, hook)(batch, logs=converted)

    def _begin(self, phase: str) -> None:
        self._open.add(phase)

    def _end(self, phase: str) -> None:
        if phase not in self._open:
            raise ValueError(f"`on_{phase}_end` called without corresponding `on_{phase}_begin`")
        self._open.discard(phase)

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self._begin("train")
        self._call("on_train_begin", logs)

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        self._end("train")
        self._call("on_train_end", logs)

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._begin("epoch")
        self._call("on_epoch_begin", logs, epoch)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._end("epoch")
        self._call("on_epoch_end", logs, epoch)

    def on_test_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self._begin("test")
        self._call("on_test_begin", logs)

    def on_test_end(self, logs: Mapping[str, Any] | None = None) -> None:
        self._end("test")
        self._call("on_test_end", logs)

    def on_predict_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self._begin("predict")
        self._call("on_predict_begin", logs)

    def on_predict_end(self, logs: Mapping[str, Any] | None = None) -> None:
        self._end("predict")
        self._call("on_predict_end", logs)

    def on_train_batch_begin(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._call_batch("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._call_batch("on_train_batch_end", batch, logs)

    def on_batch_begin(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        self.on_train_batch_begin(batch, logs)

    def on_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        self.on_train_batch_end(batch, logs)

    def on_test_batch_begin(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._call_batch("on_test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._call_batch("on_test_batch_end", batch, logs)

    def on_predict_batch_begin(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._call_batch("on_predict_batch_begin", batch, logs)

    def on_predict_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._call_batch("on_predict_batch_end", batch, logs)


def _check_run_guard(callback: Callback) -> None:
    """Refuses a callback with some of :class:`RunGuard`'s methods but not all: fit would
    otherwise call none of them, silently."""
    present = [name for name in RUN_GUARD_METHODS if callable(getattr(callback, name, None))]
    if present and len(present) < len(RUN_GUARD_METHODS):
        missing = [name for name in RUN_GUARD_METHODS if name not in present]
        raise TypeError(
            f"{type(callback).__name__} defines {', '.join(present)} but not "
            f"{', '.join(missing)}: a run guard (epochal.callbacks.RunGuard) implements all of "
            f"{', '.join(RUN_GUARD_METHODS)} (the others may do nothing)."
        )


def _legacy_keys(callbacks: list[Callback], state: Mapping[str, Any]) -> list[tuple[str, Callback]]:
    """Pairs position-keyed saved states with callbacks: same position and class first, then
    the same class when exactly one saved state and one callback of it remain."""
    keyed = [(f"{i}:{type(c).__name__}", c) for i, c in enumerate(callbacks)]
    matched = [(key, c) for key, c in keyed if key in state]
    left_keys = set(state) - {key for key, _ in matched}
    left_callbacks = [c for key, c in keyed if key not in state]
    for name in {key.split(":", 1)[1] for key in left_keys}:
        keys = [key for key in left_keys if key.split(":", 1)[1] == name]
        owners = [c for c in left_callbacks if type(c).__name__ == name]
        if len(keys) == 1 and len(owners) == 1:
            matched.append((keys[0], owners[0]))
    return matched
