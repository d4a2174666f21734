"""What backups and checkpoints cost a run: synchronous vs asynchronous, in one process.

The model is the issue's 16 MiB MLP (four 1024x1024 Dense layers, Adam: a backup holds
48 MiB of weights and moments). Each round runs, interleaved, one ``fit`` of ``--steps``
batches without any saving callback, and the same ``fit`` with each saving callback below;
the ratio is (time with it) / (time without it) in the same round, the median over rounds.
The *stall* is the time a save keeps the training thread (snapshot to host memory, plus
waiting for the write in flight, if any), the median over every save of every round; the
*writer CPU* is the CPU time of one backup file's write itself (checksum, encoding, the
kernel's copy), on whichever thread runs it. An asynchronous write is free only when a core
is idle for it: on a machine whose cores are all busy, its CPU time is taken from training.

    PYTHONPATH=src OMP_NUM_THREADS=1 .venv/bin/python benchmarks/backup_overhead.py
    ... --quick            (2 rounds of 40 steps: a smoke run)

On a shared machine absolute times are noisy; the ratios compare runs seconds apart.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import epochal
from epochal.callbacks import BackupAndRestore, ModelCheckpoint
from epochal.layers import Dense
from epochal.saving import state_file

WRITER_CPU: dict[bool, list[float]] = {False: [], True: []}


def _model(width: int, depth: int) -> epochal.Model:
    torch.manual_seed(0)
    layers = [Dense(width, input_dim=width, activation="relu")]
    layers += [Dense(width, activation="relu") for _ in range(depth - 2)] + [Dense(width)]
    model = epochal.Sequential(layers)
    model.compile(optimizer="adam", loss="mse")
    return model


def _timed_saves(callback: Any, method: str, stalls: list[float]) -> None:
    """Records how long each save holds the training thread."""
    inner = getattr(callback, method)

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            stalls.append(time.perf_counter() - start)

    setattr(callback, method, timed)


def _variants(folder: Path, freq: int) -> dict[str, Any]:
    def backup(async_save: bool) -> Any:
        def writer(path: Path, state: Any, fingerprint: Any) -> None:
            start = time.thread_time()
            state_file.write_state(path, state, fingerprint)
            WRITER_CPU[async_save].append(time.thread_time() - start)

        return lambda: BackupAndRestore(
            folder / f"backup-{async_save}", save_freq=freq, async_save=async_save, writer=writer
        )

    def checkpoint(async_save: bool) -> Any:
        return lambda: ModelCheckpoint(
            folder / f"ckpt-{async_save}" / "w-{epoch}-{batch}.weights.h5",
            save_weights_only=True,
            save_freq=freq,
            max_to_keep=2,
            async_save=async_save,
        )

    return {
        f"BackupAndRestore(save_freq={freq}), async_save=False": backup(False),
        f"BackupAndRestore(save_freq={freq}), async_save=True (default)": backup(True),
        f"ModelCheckpoint(.weights.h5, save_freq={freq}), async_save=False (default)": (
            checkpoint(False)
        ),
        f"ModelCheckpoint(.weights.h5, save_freq={freq}), async_save=True": checkpoint(True),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--save-freq", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--dir", default=None, help="where files go (default: a temp dir)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rounds, steps = (2, 40) if args.quick else (args.rounds, args.steps)
    width, depth, batch = 1024, 4, args.batch_size
    model = _model(width, depth)
    x = np.random.default_rng(0).normal(size=(steps * batch, width)).astype("float32")
    folder = Path(args.dir or tempfile.mkdtemp(prefix="epochal-backup-"))
    variants = _variants(folder, args.save_freq)
    fit: dict[str, Any] = {"batch_size": batch, "epochs": 1, "verbose": 0, "shuffle": False}
    model.fit(x, x, **fit)  # warm-up: Adam's moments, first-call costs
    ratios: dict[str, list[float]] = {name: [] for name in variants}
    stalls: dict[str, list[float]] = {name: [] for name in variants}
    bare_times = []
    for _ in range(rounds):
        for name, make in variants.items():
            start = time.perf_counter()
            model.fit(x, x, **fit)
            bare = time.perf_counter() - start
            callback = make()
            _timed_saves(callback, "_save", stalls[name])
            start = time.perf_counter()
            model.fit(x, x, callbacks=[callback], **fit)
            ratios[name].append((time.perf_counter() - start) / bare)
            bare_times.append(bare)
    mib = sum(t.numel() * t.element_size() for t in model.module.state_dict().values()) / 2**20
    print(
        f"model: {depth} x Dense({width}), weights {mib:.0f} MiB (+ Adam moments); "
        f"{steps} steps of batch {batch} per fit, a save every {args.save_freq} steps; "
        f"{rounds} rounds; bare fit {statistics.median(bare_times) / steps * 1e3:.1f} ms/step"
    )
    print(
        "| callback | run time vs no callback (min-max) | stall per save, median (max) "
        "| writer CPU per save |"
    )
    print("| --- | --- | --- | --- |")
    for name in variants:
        r, s = ratios[name], stalls[name]
        cpu = WRITER_CPU["async_save=True" in name] if name.startswith("Backup") else []
        used = f"{statistics.median(cpu) * 1e3:.0f} ms" if cpu else "-"
        print(
            f"| {name} | **{statistics.median(r):.3f}x** ({min(r):.2f}-{max(r):.2f}) "
            f"| {statistics.median(s) * 1e3:.1f} ms ({max(s) * 1e3:.0f} ms) | {used} |"
        )


if __name__ == "__main__":
    main()
