"""Checkpoint I/O against raw safetensors, in one process, interleaved.

The model is the issue's 96 MiB MLP (six 2048x2048 Dense layers, Adam). Each round visits
every format in turn and times, back to back, one raw ``safetensors.torch.save_file`` +
fsync of the same tensors, one epochal save, one raw ``load_file`` + ``load_state_dict``
(a lazy mmap alone reads nothing) and one epochal load; every ratio is raw time / epochal
time of the same round (1.0 = as fast as raw, higher is faster), and the table shows the
median over rounds with its min-max. ``.keras`` also holds the optimizer state (three times
the bytes) and is rebuilt from its config by ``load_model``: its row is also reported per
byte. ``.weights.h5`` and ``.keras`` are written in Keras' layout (issue 13). A last line
compares ``load_weights`` of a Keras-written ``.weights.h5`` with epochal's own.

    PYTHONPATH=src OMP_NUM_THREADS=1 .venv/bin/python benchmarks/checkpoint_io.py --rounds 7
    ... --quick            (a 16 MiB model, 3 rounds: a smoke run)
    ... --profile          (also cProfile one save and one load per format: top functions)
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

import epochal
from epochal.layers import Dense

FORMATS = [".safetensors", ".weights.h5", ".pt", ".keras"]


def _model(width: int, depth: int) -> epochal.Model:
    torch.manual_seed(0)
    layers = [Dense(width, input_dim=width)] + [Dense(width) for _ in range(depth - 1)]
    model = epochal.Sequential(layers)
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).normal(size=(8, width)).astype("float32")
    model.fit(x, x, batch_size=8, epochs=1, verbose=0)  # creates Adam's moments
    return model


def _raw_save(tensors: dict[str, torch.Tensor], path: Path) -> None:
    save_file(tensors, str(path))
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _ops(model: epochal.Model, suffix: str, target: Path) -> tuple[Callable, Callable]:
    if suffix == ".keras":
        return (lambda: model.save(target, overwrite=True)), (lambda: epochal.load_model(target))
    save = lambda: model.save_weights(target, overwrite=True)  # noqa: E731
    return save, (lambda: model.load_weights(target))


def _cell(values: list[float]) -> str:
    return f"**{statistics.median(values):.2f}** ({min(values):.2f}-{max(values):.2f})"


def profile(model: epochal.Model, folder: Path, top: int = 8) -> None:
    """cProfile of one save and one load per format (after a warm-up of each)."""
    for suffix in FORMATS:
        save, load = _ops(model, suffix, folder / f"p{suffix}")
        save(), load()
        for what, fn in (("save", save), ("load", load)):
            prof = cProfile.Profile()
            prof.enable()
            fn()
            prof.disable()
            out = io.StringIO()
            stats = pstats.Stats(prof, stream=out).sort_stats("tottime")
            stats.print_stats(top)
            total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
            print(f"\n### {suffix} {what}: {total * 1e3:.0f} ms under cProfile")
            body = out.getvalue().split("filename:lineno(function)", 1)[-1]
            for line in body.strip().splitlines():
                parts = line.split(None, 5)
                if len(parts) == 6:
                    print(f"    {float(parts[1]) * 1e3:7.1f} ms  {parts[5][-90:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--dir", default=None, help="where files go (default: a temp dir)")
    args = parser.parse_args()
    width, depth, rounds = (1024, 4, 3) if args.quick else (2048, 6, args.rounds)
    model = _model(width, depth)
    tensors = {k: v.detach().contiguous() for k, v in model.module.state_dict().items()}
    mib = sum(t.numel() * t.element_size() for t in tensors.values()) / 2**20
    folder = Path(args.dir or tempfile.mkdtemp(prefix="epochal-io-"))
    raw = folder / "raw.safetensors"
    raw_read = lambda: model.module.load_state_dict(load_file(str(raw)))  # noqa: E731
    ops = {suffix: _ops(model, suffix, folder / f"m{suffix}") for suffix in FORMATS}
    for save, load in ops.values():  # warm-up: first-call costs, page cache
        save(), load()
    cols = ("raw_w", "w", "raw_r", "r")
    times: dict[str, dict[str, list[float]]] = {s: {c: [] for c in cols} for s in FORMATS}
    sizes: dict[str, float] = {}
    for _ in range(rounds):
        for suffix, (save, load) in ops.items():
            cell = times[suffix]
            cell["raw_w"].append(_timed(lambda: _raw_save(tensors, raw)))
            cell["w"].append(_timed(save))
            cell["raw_r"].append(_timed(raw_read))
            cell["r"].append(_timed(load))
            sizes[suffix] = (folder / f"m{suffix}").stat().st_size / raw.stat().st_size
    raw_w = statistics.median(t for s in FORMATS for t in times[s]["raw_w"])
    raw_r = statistics.median(t for s in FORMATS for t in times[s]["raw_r"])
    print(
        f"model: {depth} x Dense({width}), weights {mib:.0f} MiB; raw safetensors: write+fsync "
        f"{mib / raw_w:.0f} MiB/s, read {mib / raw_r:.0f} MiB/s (medians); {rounds} rounds, "
        "formats interleaved; ratio = raw time / epochal time in the same round, median "
        "(min-max)"
    )
    print(
        "| format | bytes vs raw | write MiB/s | write ratio | write ratio per byte "
        "| read MiB/s | read ratio | read ratio per byte |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for suffix in FORMATS:
        cell, size = times[suffix], sizes[suffix]
        w = [a / b for a, b in zip(cell["raw_w"], cell["w"], strict=True)]
        r = [a / b for a, b in zip(cell["raw_r"], cell["r"], strict=True)]
        print(
            f"| `{suffix}` | {size:.2f}x | {mib * size / statistics.median(cell['w']):.0f} "
            f"| {_cell(w)} | {statistics.median(w) * size:.2f} "
            f"| {mib * size / statistics.median(cell['r']):.0f} | {_cell(r)} "
            f"| {statistics.median(r) * size:.2f} |"
        )
    keras_read_rows(model, folder, rounds)
    if args.profile:
        profile(model, folder)


def _as_keras_wrote_it(path: Path) -> None:
    """Drops what only epochal writes (marker, checksum, its optimizer copy) from a
    Keras-layout ``.weights.h5``: what remains is the file Keras' ``save_weights`` writes."""
    import h5py

    with h5py.File(path, "a") as f:
        for key in [k for k in f.attrs if k.startswith("epochal")]:
            del f.attrs[key]
        if "epochal_optimizer" in f:
            del f["epochal_optimizer"]


def keras_read_rows(model: epochal.Model, folder: Path, rounds: int) -> None:
    """Reading a Keras-written ``.weights.h5`` (Keras 3 layout, optimizer variables
    included as Keras writes them) against reading epochal's own ``.weights.h5``, both with
    ``load_weights``, interleaved; ratio = Keras file time / own file time (issue 13: at
    most 1.2)."""
    own, keras_file = folder / "own.weights.h5", folder / "keras.weights.h5"
    model.save_weights(own, keras_compatible=False)
    model.save_weights(keras_file, keras_compatible=True)
    _as_keras_wrote_it(keras_file)
    ratios, own_s, keras_s = [], [], []
    for _ in range(rounds):
        a = _timed(lambda: model.load_weights(own))
        b = _timed(lambda: model.load_weights(keras_file))
        own_s.append(a)
        keras_s.append(b)
        ratios.append(b / a)
    print(
        f"\nload_weights: epochal's own .weights.h5 ({own.stat().st_size / 2**20:.0f} MiB) "
        f"{statistics.median(own_s) * 1e3:.0f} ms; Keras-written .weights.h5 "
        f"({keras_file.stat().st_size / 2**20:.0f} MiB) {statistics.median(keras_s) * 1e3:.0f} "
        f"ms; Keras / own = {statistics.median(ratios):.2f} (target <= 1.2)"
    )


if __name__ == "__main__":
    main()
