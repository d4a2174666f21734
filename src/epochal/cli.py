"""The ``epochal`` command: ``epochal demo`` and ``epochal plot``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["main", "run_demo"]

_DESCRIPTION = (
    "Keras' training loop and callbacks on PyTorch.\n\n"
    "  epochal demo   train a small digit classifier with the standard callbacks\n"
    "  epochal plot   draw training curves from a CSVLogger file"
)


def run_demo(run_dir: Path, epochs: int = 20, verbose: Any = 1) -> dict[str, Any]:
    """Trains a small MLP (Flatten, Dense 128, Dropout, Dense 10) on the 8x8 digits shipped
    with epochal, with the standard callbacks, and writes the run's outputs into
    ``run_dir``. Returns the History's dict."""
    import torch

    import epochal
    from epochal import callbacks as cb
    from epochal.layers import Dense, Dropout, Flatten
    from epochal.utils import to_categorical

    # A model this small gains nothing from intra-op threads, and on a busy 2-core
    # machine OpenMP spin-waiting makes each step tens of times slower.
    torch.set_num_threads(1)
    torch.manual_seed(0)
    (x_train, y_train), (x_test, y_test) = epochal.datasets.digits.load_data()
    x_train, x_test = x_train / 16.0, x_test / 16.0
    y_train, y_test = to_categorical(y_train, 10), to_categorical(y_test, 10)
    model = epochal.Sequential(
        [
            Flatten(input_shape=(8, 8)),
            Dense(128, activation="relu"),
            Dropout(0.5),
            Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    run_dir.mkdir(parents=True, exist_ok=True)
    callbacks: list[Any] = [cls(run_dir) for cls in _demo_callback_factories(cb)]
    history = model.fit(
        x_train,
        y_train,
        batch_size=32,
        epochs=epochs,
        verbose=verbose,
        validation_split=0.2,
        # The held-out test set, evaluated after every epoch: test_loss, test_accuracy.
        evaluation_data={"test": (x_test, y_test)},
        callbacks=callbacks,
    )
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"\nTest loss {loss:.4f} - test accuracy {accuracy:.4f}")
    return history.history


def _demo_callback_factories(cb: Any) -> list[Any]:
    """Callbacks of the demo, as factories of the run folder (only those that exist)."""
    factories = []
    if hasattr(cb, "EarlyStopping"):
        factories.append(
            lambda d: cb.EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True)
        )
    if hasattr(cb, "ReduceLROnPlateau"):
        factories.append(lambda d: cb.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2))
    if hasattr(cb, "ModelCheckpoint"):
        factories.append(
            lambda d: cb.ModelCheckpoint(
                str(d / "best.weights.h5"),
                monitor="val_loss",
                save_best_only=True,
                save_weights_only=True,
            )
        )
    if hasattr(cb, "CSVLogger"):
        factories.append(lambda d: cb.CSVLogger(str(d / "history.csv")))
    if hasattr(cb, "TensorBoard"):
        factories.append(lambda d: cb.TensorBoard(log_dir=str(d / "tensorboard")))
    if hasattr(cb, "SystemMonitor"):
        # CPU / memory (and GPU) columns in history.csv, sampled on a background thread.
        factories.append(lambda d: cb.SystemMonitor(interval=0.25))
    if hasattr(cb, "LivePlot"):
        # curves.png redrawn while training (at most twice a second): open it and watch.
        factories.append(lambda d: cb.LivePlot(d / "curves.png", min_interval=0.5))
    return factories


def _write_history_csv(history: dict[str, Any], path: Path) -> None:
    import csv

    keys = sorted(history)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["epoch", *keys])
        for epoch in range(len(history.get("loss", []))):
            writer.writerow(
                [epoch, *(history[k][epoch] if epoch < len(history[k]) else "NA" for k in keys)]
            )


def _demo(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir or f"runs/demo-{time.strftime('%Y%m%d-%H%M%S')}")
    print(
        "epochal demo: training a digit classifier (8x8 images shipped with epochal); "
        f"outputs in {run_dir}/"
    )
    history = run_demo(run_dir, epochs=args.epochs, verbose=args.verbose)
    if not (run_dir / "history.csv").exists():
        _write_history_csv(history, run_dir / "history.csv")
    if not (run_dir / "curves.png").exists():
        from epochal.plotting import plot_history

        plot_history(history, path=run_dir / "curves.png", sets=("test",))
    print(f"Run folder: {run_dir.resolve()}")
    for item in sorted(run_dir.iterdir()):
        print(f"  {item.name}")
    if (run_dir / "tensorboard").exists():
        print(
            f"Open TensorBoard with: tensorboard --logdir {run_dir / 'tensorboard'}"
            " (then browse http://localhost:6006)"
        )
    return 0


def _plot(args: argparse.Namespace) -> int:
    from epochal.plotting import plot_history

    plot_history(args.csv, metrics=args.metrics, path=args.output)
    print(f"Wrote {args.output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="epochal",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{demo,plot}")
    demo = sub.add_parser(
        "demo",
        help="train a small digit classifier with the standard callbacks",
        description=(
            "Trains a small MLP on the 8x8 handwritten digits shipped with epochal (no "
            "download) with EarlyStopping, ReduceLROnPlateau, ModelCheckpoint, CSVLogger, "
            "TensorBoard, SystemMonitor and LivePlot, evaluating the test set after every "
            "epoch, and writes the history (with CPU and memory columns), the best weights, "
            "the TensorBoard logs and the curves (redrawn while it trains) into a run folder."
        ),
    )
    demo.add_argument("--epochs", type=int, default=20, help="epochs to train (default 20)")
    demo.add_argument("--run-dir", default=None, help="output folder (default runs/demo-<time>)")
    demo.add_argument(
        "--verbose",
        type=int,
        default=1,
        choices=(0, 1, 2),
        help="0 silent, 1 progress bar, 2 one line per epoch (default 1)",
    )
    demo.set_defaults(func=_demo)
    plot = sub.add_parser(
        "plot",
        help="draw training curves from a CSVLogger file",
        description="Draws train/validation curves, one panel per metric, from a CSV log "
        "written by CSVLogger (or the demo's history.csv).",
    )
    plot.add_argument("csv", help="the CSV log (an epoch column, then one column per metric)")
    plot.add_argument(
        "-o", "--output", default="curves.png", help="image file (default curves.png)"
    )
    plot.add_argument(
        "--metrics", nargs="*", default=None, help="metrics to draw (default: all of them)"
    )
    plot.set_defaults(func=_plot)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
