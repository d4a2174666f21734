"""Steps/s of epochal ``fit`` against a hand-written PyTorch loop and the peers.

Every loop trains the seed MLP (784-128-10, ReLU, Adam 1e-3, sparse crossentropy from
logits, accuracy) for one epoch over the same random samples, with one torch thread. Each
(loop, round) runs in its own child process, so peak RSS is per loop and no loop warms the
allocator for another; rounds are interleaved (A B C A B C ...) so the machine's drift hits
every loop alike. The table gives medians over rounds of steps/s relative to the
hand-written loop measured in the same rounds.

Usage (from the repository root)::

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/bench_fit.py            # full run
    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/bench_fit.py --quick    # smoke run
    ... --write-readme   # also replace the table in benchmarks/README.md

Peers (Poutyne, PyTorch Lightning, Keras 3 on the torch backend) run when importable, in
this interpreter or in the one given by ``--peer-python`` (a separate venv with the same
torch, so that they do not become epochal's dependencies); otherwise they are skipped.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOOPS = (
    "hand",
    "hand_fused",
    "epochal_torch_adam",
    "epochal_callbacks_torch_adam",
    "epochal",
    "epochal_callbacks",
    "epochal_sequential",
    "epochal_functional",
    "poutyne",
    "lightning",
    "keras",
)
LABELS = {
    "hand": "hand-written PyTorch loop (`.item()` + accuracy each step)",
    "hand_fused": "the hand-written loop with `torch.optim.Adam(fused=True)` (x hand)",
    "epochal_torch_adam": "epochal `fit` (verbose=0), the hand loop's `torch.optim.Adam`",
    "epochal_callbacks_torch_adam": "epochal `fit` + seed callbacks + verbose=1 to a pipe, "
    "the hand loop's `torch.optim.Adam`",
    "epochal": 'epochal `fit` (verbose=0), `optimizer="adam"` (fused Adam), '
    "**x the fused hand loop**",
    "epochal_callbacks": "epochal `fit` + seed callbacks + verbose=1 to a pipe, "
    '`optimizer="adam"` (fused Adam), **x the fused hand loop**',
    "epochal_sequential": 'epochal `Sequential` of `Dense` layers, `optimizer="adam"`',
    "epochal_functional": "epochal functional `Model(inputs, outputs)`, the same `Dense` layers",
    "poutyne": "Poutyne `Model.fit`",
    "lightning": "PyTorch Lightning `Trainer.fit`",
    "keras": "Keras 3 `fit` (torch backend)",
}
PEER_MODULE = {"poutyne": "poutyne", "lightning": "lightning", "keras": "keras"}
SEED_CALLBACKS = (
    "EarlyStopping",
    "ModelCheckpoint",
    "CSVLogger",
    "ReduceLROnPlateau",
    "TensorBoard",
)


# Each loop is timed against the hand-written loop with the same optimizer.
_BASELINE = {"epochal": "hand_fused", "epochal_callbacks": "hand_fused"}


# ---------------------------------------------------------------------------- children
def _data(samples: int, features: int, classes: int):
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.standard_normal((samples, features), dtype=np.float32)
    y = rng.integers(0, classes, size=samples).astype(np.int64)
    return x, y


def _torch_mlp(features: int, hidden: int, classes: int):
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(features, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, classes)
    )


def _run_hand(x, y, batch_size, args, fused: bool = False):
    import torch
    import torch.nn.functional as F

    device = torch.device(args.device)
    model = _torch_mlp(args.features, args.hidden, args.classes).to(device)
    # fused=True: the same optimizer as epochal's `optimizer="adam"`, so that the ratio of
    # those rows measures the loop alone.
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused or None)
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)

    def epoch():
        model.train()
        perm = torch.randperm(len(xt), device=device)
        total_loss, correct, seen = 0.0, 0, 0
        for start in range(0, len(xt), batch_size):
            idx = perm[start : start + batch_size]
            xb, yb = xt[idx], yt[idx]
            optimizer.zero_grad()
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(yb)
            correct += (logits.argmax(dim=1) == yb).sum().item()
            seen += len(yb)
        return total_loss / seen, correct / seen

    return epoch


def _run_epochal(x, y, batch_size, args, with_callbacks: bool, torch_adam: bool):
    import torch

    import epochal
    from epochal.losses import SparseCategoricalCrossentropy

    network = _torch_mlp(args.features, args.hidden, args.classes)
    model = epochal.Model(network, device=args.device)
    # "adam" is what a Keras user writes (epochal then picks torch's fused Adam); the
    # torch.optim.Adam variant runs exactly the hand-written loop's optimizer, so its ratio
    # measures the loop alone.
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3) if torch_adam else "adam"
    model.compile(
        optimizer=optimizer,
        loss=SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    workdir = Path(tempfile.mkdtemp(prefix="epochal-bench-"))
    found = {name: getattr(epochal.callbacks, name, None) for name in SEED_CALLBACKS}

    def callbacks():
        if not with_callbacks:
            return []
        made = []
        if found["EarlyStopping"]:
            made.append(
                found["EarlyStopping"](monitor="loss", patience=3, restore_best_weights=True)
            )
        if found["ModelCheckpoint"]:
            made.append(
                found["ModelCheckpoint"](
                    str(workdir / "best.weights.h5"),
                    monitor="loss",
                    save_best_only=True,
                    save_weights_only=True,
                )
            )
        if found["CSVLogger"]:
            made.append(found["CSVLogger"](str(workdir / "log.csv")))
        if found["ReduceLROnPlateau"]:
            made.append(found["ReduceLROnPlateau"](monitor="loss", patience=2))
        if found["TensorBoard"]:
            made.append(found["TensorBoard"](log_dir=str(workdir / "tb"), update_freq="epoch"))
        return made

    def epoch():
        history = model.fit(
            x,
            y,
            batch_size=batch_size,
            epochs=1,
            verbose=1 if with_callbacks else 0,
            callbacks=callbacks(),
        )
        return history.history["loss"][-1], history.history["accuracy"][-1]

    epoch.missing = [n for n, c in found.items() if c is None] if with_callbacks else []
    return epoch


def _run_epochal_layers(x, y, batch_size, args, functional: bool):
    """The seed MLP built from epochal layers, as a Sequential or as a functional model (the
    pair measures the functional graph's cost against the plain stack)."""
    import torch

    import epochal
    from epochal.layers import Dense
    from epochal.losses import SparseCategoricalCrossentropy

    torch.manual_seed(0)
    hidden, head = Dense(args.hidden, activation="relu"), Dense(args.classes)
    if functional:
        inputs = epochal.Input(shape=(args.features,))
        model = epochal.Model(inputs, head(hidden(inputs)), device=args.device)
    else:
        model = epochal.Sequential(
            [epochal.Input(shape=(args.features,)), hidden, head], device=args.device
        )
    model.compile(
        optimizer="adam",
        loss=SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )

    def epoch():
        history = model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
        return history.history["loss"][-1], history.history["accuracy"][-1]

    return epoch


def _run_poutyne(x, y, batch_size, args):
    import poutyne
    import torch

    network = _torch_mlp(args.features, args.hidden, args.classes)
    model = poutyne.Model(
        network,
        torch.optim.Adam(network.parameters(), lr=1e-3),
        "cross_entropy",
        batch_metrics=["accuracy"],
        device=args.device,
    )

    def epoch():
        model.fit(x, y, batch_size=batch_size, epochs=1, verbose=False)

    return epoch


def _run_lightning(x, y, batch_size, args):
    import lightning
    import torch
    import torch.nn.functional as F

    class Module(lightning.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = _torch_mlp(args.features, args.hidden, args.classes)

        def training_step(self, batch, batch_idx):
            xb, yb = batch
            logits = self.net(xb)
            loss = F.cross_entropy(logits, yb)
            self.log("loss", loss)
            self.log("accuracy", (logits.argmax(dim=1) == yb).float().mean())
            return loss

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=1e-3)

    module = Module()
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))

    def epoch():
        loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True)
        trainer = lightning.Trainer(
            max_epochs=1,
            accelerator="gpu" if args.device == "cuda" else "cpu",
            devices=1,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        trainer.fit(module, loader)

    return epoch


def _run_keras(x, y, batch_size, args):
    os.environ["KERAS_BACKEND"] = "torch"
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((args.features,)),
            keras.layers.Dense(args.hidden, activation="relu"),
            keras.layers.Dense(args.classes),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )

    def epoch():
        model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)

    return epoch


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _make(loop, x, y, batch_size, args):
    if loop in ("hand", "hand_fused"):
        return _run_hand(x, y, batch_size, args, fused=loop == "hand_fused")
    if loop in ("epochal_sequential", "epochal_functional"):
        return _run_epochal_layers(x, y, batch_size, args, loop == "epochal_functional")
    if loop.startswith("epochal"):
        return _run_epochal(x, y, batch_size, args, "callbacks" in loop, loop.endswith("adam"))
    return globals()[f"_run_{loop}"](x, y, batch_size, args)


def _timed(epoch, device: str) -> float:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    epoch()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def child(args: argparse.Namespace) -> None:
    """One loop in a fresh process: peak RSS of that loop alone, then steps/s timed in
    alternation with the hand-written loop in the same process (A B B A ...), so that the
    ratio is immune to the machine's drift and to any global torch setting a peer changes."""
    import torch

    torch.set_num_threads(1)
    x, y = _data(args.samples, args.features, args.classes)
    result: dict = {
        "loop": args.loop,
        "steps_per_s": {},
        "hand_steps_per_s": {},
        "ratios": {},
        "missing": [],
    }
    result["rss_before_mib"] = _rss_mib()
    epochs = {b: _make(args.loop, x, y, b, args) for b in args.batch_sizes}
    result["missing"] = getattr(next(iter(epochs.values())), "missing", [])
    for epoch in epochs.values():
        epoch()  # warm-up: allocator, lazy init, first-call costs
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    hands = {}
    if args.loop != "hand":
        baseline = _BASELINE.get(args.loop, "hand")
        hands = {b: _make(baseline, x, y, b, args) for b in args.batch_sizes}
    for epoch in hands.values():
        epoch()
    for rep in range(args.reps):
        for b in args.batch_sizes:
            steps = -(-args.samples // b)
            pair = [("loop", epochs[b]), ("hand", hands.get(b))]
            if rep % 2:
                pair.reverse()
            times = {name: _timed(fn, args.device) for name, fn in pair if fn is not None}
            result["steps_per_s"].setdefault(str(b), []).append(steps / times["loop"])
            if "hand" in times:
                result["hand_steps_per_s"].setdefault(str(b), []).append(steps / times["hand"])
                result["ratios"].setdefault(str(b), []).append(times["hand"] / times["loop"])
    Path(args.out).write_text(json.dumps(result))


# ---------------------------------------------------------------------------- parent
def _python_for(loop: str, args: argparse.Namespace) -> str:
    return args.peer_python if loop in PEER_MODULE and args.peer_python else sys.executable


def _available(loop: str, args: argparse.Namespace) -> bool:
    module = PEER_MODULE.get(loop)
    if module is None:
        return True
    python = _python_for(loop, args)
    if python == sys.executable:
        return importlib.util.find_spec(module) is not None
    probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([python, "-c", probe], check=False).returncode == 0


def _machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"torch {torch.__version__}, 1 torch thread"
    )


def _table(results: dict, loops: list[str], batch_sizes: list[int]) -> str:
    header = "| loop | " + " | ".join(f"batch {b}: x hand (min-max), steps/s" for b in batch_sizes)
    header += " | peak RSS MiB (growth in the loop) |\n"
    header += "| --- |" + " --- |" * (len(batch_sizes) + 1) + "\n"
    rows = []
    for loop in loops:
        runs = results[loop]
        cells = []
        for b in batch_sizes:
            key = str(b)
            speed = statistics.median(s for r in runs for s in r["steps_per_s"][key])
            if loop == "hand":
                cells.append(f"1 ({speed:.0f}/s)")
                continue
            # Per process: best epoch of the loop over best epoch of the hand loop (the best
            # of several is the least disturbed by other work on the machine); median over
            # the processes. The paired per-epoch ratios' median is shown too.
            best = [max(r["steps_per_s"][key]) / max(r["hand_steps_per_s"][key]) for r in runs]
            paired = statistics.median(q for r in runs for q in r["ratios"][key])
            cells.append(
                f"**{statistics.median(best):.3f}** ({min(best):.2f}-{max(best):.2f};"
                f" paired {paired:.2f}), {speed:.0f}/s"
            )
        peak = statistics.median(r["peak_rss_mib"] for r in runs)
        grown = statistics.median(r["peak_rss_mib"] - r["rss_before_mib"] for r in runs)
        rows.append(f"| {LABELS[loop]} | " + " | ".join(cells) + f" | {peak:.0f} (+{grown:.0f}) |")
    return header + "\n".join(rows) + "\n"


def parent(args: argparse.Namespace) -> None:
    loops = [loop for loop in args.loops if _available(loop, args)]
    skipped = [loop for loop in args.loops if loop not in loops]
    results: dict[str, list[dict]] = {loop: [] for loop in loops}
    with tempfile.TemporaryDirectory() as tmp:
        for round_index in range(args.rounds):
            for loop in loops:
                out = Path(tmp) / f"{loop}-{round_index}.json"
                command = [
                    _python_for(loop, args),
                    __file__,
                    "--child",
                    loop,
                    "--out",
                    str(out),
                    "--samples",
                    str(args.samples),
                    "--device",
                    args.device,
                    "--hidden",
                    str(args.hidden),
                    "--reps",
                    str(args.reps),
                    "--batch-sizes",
                    *map(str, args.batch_sizes),
                ]
                env = {**os.environ, "OMP_NUM_THREADS": "1"}
                proc = subprocess.run(command, capture_output=True, env=env, check=False)
                if proc.returncode != 0:
                    print(f"{loop} failed:\n{proc.stderr.decode()[-2000:]}", file=sys.stderr)
                    continue
                results[loop].append(json.loads(out.read_text()))
            print(f"round {round_index + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    loops = [loop for loop in loops if results[loop]]
    missing = sorted({m for runs in results.values() for r in runs for m in r["missing"]})
    command = "PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/bench_fit.py " + " ".join(
        sys.argv[1:]
    )
    report = [
        f"Machine: {_machine()}, device {args.device}.",
        f"Command: `{command.strip()}`",
        f"Model: MLP {args.features}-{args.hidden}-{args.classes}, Adam, one epoch of "
        f"{args.samples} random samples per timing; {args.rounds} rounds (one fresh process per "
        f"loop per round, loops interleaved), {args.reps} timed epochs per batch size in each, "
        "each paired with an epoch of the hand-written loop (the fused-Adam one for the "
        '`optimizer="adam"` rows) in the same process. Cells: median '
        "over processes of (best epoch's steps/s / the hand-written loop's best epoch's steps/s "
        "in the same process), its min-max over processes, the median of the per-pair ratios, "
        "and the loop's median steps/s. Peak RSS: "
        "the loop's process after its warm-up epochs, before the hand-written loop runs in it; "
        "in brackets the growth from before the loop was built (data already in memory).",
        "",
        _table(results, loops, args.batch_sizes),
    ]
    if "epochal_sequential" in loops and "epochal_functional" in loops:
        cells = []
        for b in args.batch_sizes:

            def best(loop: str, key: str = str(b)) -> float:
                runs = results[loop]
                return statistics.median(
                    max(r["steps_per_s"][key]) / max(r["hand_steps_per_s"][key]) for r in runs
                )

            ratio = best("epochal_functional") / best("epochal_sequential")
            cells.append(f"batch {b}: {ratio:.3f}")
        report.append("Functional / Sequential (same layers, x hand): " + ", ".join(cells) + ".")
    if skipped:
        report.append(f"Not installed, skipped: {', '.join(skipped)}.")
    if missing:
        report.append(f"Seed callbacks missing from this build, left out: {', '.join(missing)}.")
    text = "\n".join(report).rstrip() + "\n"
    print(text)
    if args.write_readme:
        readme = HERE / "README.md"
        old = readme.read_text() if readme.exists() else ""
        begin, end = "<!-- table:begin -->", "<!-- table:end -->"
        if begin in old and end in old:
            head, rest = old.split(begin, 1)
            new = head + begin + "\n" + text + end + rest.split(end, 1)[1]
        else:
            new = old + f"\n{begin}\n{text}{end}\n"
        readme.write_text(new)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", dest="loop", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--loops", nargs="+", default=list(LOOPS), choices=LOOPS)
    parser.add_argument(
        "--rounds", type=int, default=1, help="fresh processes per loop, interleaved across loops"
    )
    parser.add_argument(
        "--reps",
        type=int,
        default=3,
        help="timed epochs per batch size in each process (each paired with "
        "one of the hand-written loop)",
    )
    parser.add_argument("--samples", type=int, default=32_000)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--peer-python",
        default=None,
        help="interpreter with poutyne/lightning/keras installed (a separate "
        "venv with the same torch); defaults to this one",
    )
    parser.add_argument("--quick", action="store_true", help="1 round, 2 reps, 6,400 samples")
    parser.add_argument("--write-readme", action="store_true")
    args = parser.parse_args()
    args.features, args.classes = 784, 10
    if args.quick:
        args.rounds, args.reps, args.samples = 1, 2, 6_400
    if args.loop:
        child(args)
    else:
        parent(args)


if __name__ == "__main__":
    main()
