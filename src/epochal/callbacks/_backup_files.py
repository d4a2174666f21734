"""Helpers of BackupAndRestore: reading a backup (with fallback), each rank's share of it."""

from __future__ import annotations

import signal
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from epochal._rng import capture_rng
from epochal._version import __version__
from epochal.distributed import Strategy
from epochal.saving import state_file as _state_io

__all__ = [
    "exit_message",
    "own_share",
    "rank_report",
    "read_backup",
    "share",
    "to_device",
    "version",
]


def read_backup(paths: Iterable[Path], model_state: Mapping[str, torch.Tensor]) -> Any:
    """The state in the first of ``paths`` that is intact; `None` when there is no file.

    Raises:
        CorruptStateError: when every file there is corrupted (each one is warned about).
        IncompatibleStateError: a backup of another model or format version.
    """
    fingerprint = _state_io.fingerprint(model_state)
    error: _state_io.CorruptStateError | None = None
    for path in (p for p in paths if p.is_file()):
        try:
            return dict(_state_io.read_state(path, fingerprint))
        except _state_io.CorruptStateError as exc:
            error = exc
            warnings.warn(f"Cannot restore from {path}: {exc}", stacklevel=3)
    if error is not None:
        raise error
    return None


def own_share(
    ranks: list[dict[str, Any]] | None, strategy: Strategy, backup_dir: Path
) -> dict[str, Any]:
    """This rank's random state and running metric sums, from a backup's ``ranks``."""
    if not ranks:
        return {}
    if len(ranks) != strategy.world_size:
        if strategy.is_main_process:
            warnings.warn(
                f"The backup in {backup_dir} was written by {len(ranks)} processes and this "
                f"run has {strategy.world_size}: training resumes at the saved epoch and "
                "batch, but not bit-exactly (the data shards and each process's random "
                "state differ).",
                stacklevel=4,
            )
        return {}
    return dict(ranks[strategy.rank])


def to_device(tree: Any, device: torch.device) -> Any:
    if isinstance(tree, torch.Tensor):
        return tree.to(device)
    if isinstance(tree, dict):
        return {k: to_device(v, device) for k, v in tree.items()}
    return tree


def version() -> str:
    return __version__


def rank_report(model: Any, pending_signal: int | None) -> dict[str, Any]:
    """What one rank contributes at a backup: its own random state and running metric sums
    (they differ between ranks), its ``stop_training`` and the signal it got, if any."""
    metrics = model.train_state.metrics
    sums = metrics.state_dict() if metrics is not None else None
    return {
        "rng": capture_rng(),
        "metrics": to_device(sums, torch.device("cpu")),
        "stop": bool(model.stop_training),
        "signal": pending_signal or 0,
    }


def share(report: dict[str, Any]) -> dict[str, Any]:
    """The part of a :func:`rank_report` that the backup keeps."""
    return {k: v for k, v in report.items() if k in ("rng", "metrics") and v is not None}


def exit_message(signum: int, finished: bool, state: Any, backup_dir: Path) -> str:
    name = signal.Signals(signum).name
    if finished:
        return f"\n{name} received; training had finished, exiting."
    return (
        f"\n{name} received: training stopped after epoch {state.epoch + 1}, batch "
        f"{state.step}, and a backup was written to {backup_dir}. Run the same command "
        "again to resume exactly where it stopped."
    )
