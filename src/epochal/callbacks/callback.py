"""The :class:`Callback` base class: Keras' hook set plus a state protocol."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    from epochal.callbacks.host import CallbackHost

__all__ = [
    "HOOKS",
    "LEGACY_BATCH_HOOKS",
    "RUN_GUARD_METHODS",
    "Callback",
    "RunGuard",
    "canonical_hook",
    "legacy_hook",
]

HOOKS = (
    "on_train_begin",
    "on_train_end",
    "on_epoch_begin",
    "on_epoch_end",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_test_begin",
    "on_test_end",
    "on_test_batch_begin",
    "on_test_batch_end",
    "on_predict_begin",
    "on_predict_end",
    "on_predict_batch_begin",
    "on_predict_batch_end",
)

#: Keras 2's batch hooks and the training-batch hooks they stand for: the one table of them
#: (a training-batch hook counts as implemented when only its legacy name is).
LEGACY_BATCH_HOOKS: Mapping[str, str] = MappingProxyType(
    {"on_batch_begin": "on_train_batch_begin", "on_batch_end": "on_train_batch_end"}
)
_LEGACY_NAME = {hook: legacy for legacy, hook in LEGACY_BATCH_HOOKS.items()}


def canonical_hook(name: str) -> str:
    """The hook ``name`` stands for: ``"on_batch_end"`` -> ``"on_train_batch_end"``."""
    return LEGACY_BATCH_HOOKS.get(name, name)


def legacy_hook(hook: str) -> str | None:
    """The Keras 2 name of a training-batch ``hook`` (``"on_batch_end"``), else None."""
    return _LEGACY_NAME.get(hook)


@runtime_checkable
class RunGuard(Protocol):
    """A callback that guards a whole ``fit`` run, beyond Keras' hooks (``BackupAndRestore``).

    A callback with these three methods is a run guard: ``fit`` calls :meth:`restore_run`
    before any ``on_train_begin``, :meth:`interrupt_run` when the ranks agreed to end the run
    early, and :meth:`end_run` when ``fit`` ends in any way. Every hook reaches a run guard
    after all other callbacks, so what it snapshots includes what the others just did.
    """

    def restore_run(self) -> None:
        """Called by ``fit`` before ``on_train_begin``: put an interrupted run back (through
        the host's ``snapshot()``) when there is one to restore."""

    def interrupt_run(self) -> None:
        """Called on every rank, after the last training step and before ``on_train_end``,
        when the ranks agreed to end the run early because a callback set
        ``model.train_state.interrupt_requested`` (on any rank): back the run up here."""

    def end_run(self) -> None:
        """Called when ``fit`` ends, normally (after ``on_train_end``) or by an exception
        (``on_train_end`` is not called then): release what ``on_train_begin`` acquired
        (signal handlers, say). Must not raise."""


#: The methods that make a callback a :class:`RunGuard` (all three, or none).
RUN_GUARD_METHODS = ("restore_run", "interrupt_run", "end_run")


class Callback:
    """Base class for objects that watch and steer ``fit``, ``evaluate`` and ``predict``.

    Override any hook; the loop calls only the hooks a callback actually overrides, so an
    unused batch hook costs nothing. Epoch indices are 0-based; ``batch`` is the index within
    the epoch. The default ``on_train_batch_begin/end`` call the legacy ``on_batch_begin/end``.

    A callback may use ``self.model`` (an :class:`epochal.Model`: ``stop_training``,
    ``optimizer.learning_rate``, ``get_weights()``/``set_weights()``, ``history``,
    ``module``, ``rank``, ``world_size``, ``is_main_process``, ``train_state``),
    ``self.params`` (``{"verbose", "epochs", "steps"}``) and the ``logs`` it is handed.

    In a distributed run every rank runs every callback, with identical epoch logs. A
    callback that only writes (files, network) sets the class attribute
    ``main_process_only = True``: it then runs on rank 0 alone. That check is made once,
    by :class:`~epochal.callbacks.CallbackList` (its hooks never reach such a callback on
    another rank), so the callback itself never checks the rank again. One that must also
    act on other ranks (``ModelCheckpoint`` keeps the same books on every rank,
    ``BackupAndRestore`` gathers every rank's state) checks ``self.model.is_main_process``
    once, around the writes themselves; the saving functions never check it.

    Callbacks whose state should survive an interrupted run (see ``BackupAndRestore``)
    implement :meth:`state_dict` and :meth:`load_state_dict`. When ``fit`` resumes a run,
    every callback's :meth:`load_state_dict` is called *before* any ``on_train_begin``, and
    ``self.model.train_state.resumed`` is then `True`: ``on_train_begin`` must keep the
    loaded state instead of resetting it (and a logger reopens its file for appending).

    Example:
        >>> import epochal
        >>> class CountBatches(epochal.callbacks.Callback):
        ...     def on_train_begin(self, logs=None):
        ...         self.batches = 0
        ...     def on_train_batch_end(self, batch, logs=None):
        ...         self.batches += 1
    """

    #: Callbacks that only write (files, network) set this: they run on rank 0 alone.
    main_process_only: ClassVar[bool] = False

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}
        self._model: CallbackHost | None = None

    # Keras makes `model` read-only; Keras 2 code assigns it, so it is settable here.
    @property
    def model(self) -> CallbackHost:
        return self.__dict__.get("_model")  # type: ignore[return-value]

    @model.setter
    def model(self, model: CallbackHost) -> None:
        self._model = model

    @property
    def resuming(self) -> bool:
        """Whether this run was just restored (``model.train_state.resumed``).

        ``on_train_begin`` keeps the state ``load_state_dict`` restored when this is `True`,
        instead of resetting it for a fresh run.
        """
        state = getattr(self.model, "train_state", None)
        return bool(getattr(state, "resumed", False))

    def set_model(self, model: CallbackHost) -> None:
        self._model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def implements(self, hook: str) -> bool:
        """Whether this callback does something in ``hook`` (the loop skips it otherwise)."""
        cls = type(self)
        if getattr(cls, hook) is not getattr(Callback, hook):
            return True
        alias = legacy_hook(hook)
        return alias is not None and getattr(cls, alias) is not getattr(Callback, alias)

    # ------------------------------------------------------------------ state protocol
    @property
    def state_key(self) -> str:
        """The key of this callback's state in a backup: the class name plus the arguments
        that tell two instances apart (as Lightning's ``Callback.state_key``).

        A resumed ``fit`` hands each saved state to the callback with the same key, wherever
        it stands in the list; a saved state that no callback claims is reported in a
        warning. Subclasses used twice in one run override it through
        :meth:`_generate_state_key` (``EarlyStopping`` keys on ``monitor`` and ``mode``).
        """
        return self._generate_state_key()

    def _generate_state_key(self, **identity: Any) -> str:
        """``ClassName`` or ``ClassName{'monitor': 'val_loss', ...}`` from ``identity``."""
        return type(self).__qualname__ + (repr(identity) if identity else "")

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue this callback's work after a restart.

        Values must be plain Python data, numpy arrays or tensors. Defaults to `{}`.
        """
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores what :meth:`state_dict` returned."""

    # ------------------------------------------------------------------ hooks
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Called once at the start of ``fit``."""

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """Called once at the end of ``fit`` with the last epoch's logs."""

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Called at the start of each epoch (0-based ``epoch``)."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Called at the end of each epoch with training and ``val_`` metrics."""

    def on_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Legacy alias, called by the default :meth:`on_train_batch_begin`."""

    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Legacy alias, called by the default :meth:`on_train_batch_end`."""

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Called before each training batch."""
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Called after each training batch with the epoch's running means."""
        self.on_batch_end(batch, logs=logs)

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Called at the start of ``evaluate`` and of validation inside ``fit``."""

    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        """Called at the end of evaluation with its final metrics (no ``val_`` prefix)."""

    def on_test_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Called before each evaluation batch."""

    def on_test_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Called after each evaluation batch with running means."""

    def on_predict_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Called at the start of ``predict``."""

    def on_predict_end(self, logs: dict[str, Any] | None = None) -> None:
        """Called at the end of ``predict``."""

    def on_predict_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Called before each prediction batch."""

    def on_predict_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Called after each prediction batch with ``{"outputs": numpy array}``."""
