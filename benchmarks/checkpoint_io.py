"""Checkpoint I/O against raw safetensors, in one process, interleaved.

The model is the issue's 96 MiB MLP (six 2048x2048 Dense layers, Adam). For every format
epochal writes, each round times one epochal save and one raw
``safetensors.torch.save_file`` + fsync of the same tensors, then one epochal load and one
raw ``load_file`` + ``load_state_dict`` (a lazy mmap alone reads nothing); the ratio is raw
time / epochal time (1.0 = as fast as raw, higher is faster), the median over rounds.
``.keras`` also holds the optimizer state (three times the bytes): its row is also reported
per byte written. ``.weights.h5`` and ``.keras`` are written in Keras' layout (issue 13). A
last line compares ``load_weights`` of a Keras-written ``.weights.h5`` with epochal's own.

    PYTHONPATH=src OMP_NUM_THREADS=1 .venv/bin/python benchmarks/checkpoint_io.py
    ... --quick            (a 16 MiB model, 3 rounds: a smoke run)
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
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


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dir", default=None, help="where files go (default: a temp dir)")
    args = parser.parse_args()
    width, depth, rounds = (1024, 4, 3) if args.quick else (2048, 6, args.rounds)
    model = _model(width, depth)
    tensors = {k: v.detach().contiguous() for k, v in model.module.state_dict().items()}
    mib = sum(t.numel() * t.element_size() for t in tensors.values()) / 2**20
    folder = Path(args.dir or tempfile.mkdtemp(prefix="epochal-io-"))
    raw = folder / "raw.safetensors"
    rows = []
    for suffix in FORMATS:
        target = folder / f"m{suffix}"
        writes, reads, sizes = [], [], []
        for _ in range(rounds):
            raw_write = _timed(lambda: _raw_save(tensors, raw))
            if suffix == ".keras":
                ours_write = _timed(lambda t=target: model.save(t, overwrite=True))
            else:
                ours_write = _timed(lambda t=target: model.save_weights(t, overwrite=True))
            sizes.append(target.stat().st_size / raw.stat().st_size)
            raw_read = _timed(lambda: model.module.load_state_dict(load_file(str(raw))))
            if suffix == ".keras":
                ours_read = _timed(lambda t=target: epochal.load_model(t))
            else:
                ours_read = _timed(lambda t=target: model.load_weights(t))
            writes.append(raw_write / ours_write)
            reads.append(raw_read / ours_read)
        per_byte = statistics.median(sizes)
        rows.append((suffix, per_byte, statistics.median(writes), statistics.median(reads)))
        target.unlink()
    raw_mibs = mib / statistics.median(
        [_timed(lambda: _raw_save(tensors, raw)) for _ in range(rounds)]
    )
    print(
        f"model: {depth} x Dense({width}), weights {mib:.0f} MiB; raw safetensors+fsync "
        f"{raw_mibs:.0f} MiB/s; {rounds} rounds, ratios = raw time / epochal time"
    )
    print("| format | bytes vs raw | write ratio | read ratio | write ratio per byte |")
    print("| --- | --- | --- | --- | --- |")
    for suffix, per_byte, write, read in rows:
        print(
            f"| `{suffix}` | {per_byte:.2f}x | {write:.2f} | {read:.2f} | {write * per_byte:.2f} |"
        )
    keras_read_rows(model, folder, rounds)


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
