"""plot_history and `epochal plot`: curves per metric, best epoch, learning-rate axis, PNGs."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pytest

import epochal
from epochal.callbacks import CSVLogger
from epochal.cli import main
from epochal.plotting import load_history_csv, plot_history

HISTORY = {
    "loss": [1.0, 0.7, 0.5, 0.45],
    "val_loss": [1.1, 0.8, 0.6, 0.65],
    "accuracy": [0.5, 0.6, 0.7, 0.75],
    "val_accuracy": [0.45, 0.58, 0.69, 0.66],
    "learning_rate": [0.01, 0.01, 0.005, 0.005],
}


def test_panels_curves_best_epoch_and_learning_rate_axis(tmp_path):
    figure = plot_history(HISTORY, path=tmp_path / "curves.png")
    loss_axis, accuracy_axis, lr_axis = figure.axes
    assert loss_axis.get_title() == "loss (best epoch 3: 0.6)"
    assert accuracy_axis.get_title() == "accuracy (best epoch 3: 0.69)"  # max for accuracy
    labels = [line.get_label() for line in loss_axis.get_lines()]
    assert labels[:2] == ["train", "validation"]
    np.testing.assert_allclose(loss_axis.get_lines()[1].get_ydata(), HISTORY["val_loss"])
    np.testing.assert_allclose(lr_axis.get_lines()[0].get_ydata(), HISTORY["learning_rate"])
    assert lr_axis.get_yscale() == "log"
    image = matplotlib.image.imread(tmp_path / "curves.png")
    assert image.shape[0] > 300
    assert image.shape[1] > 300


def test_metrics_selection_and_errors():
    figure = plot_history(HISTORY, metrics=["accuracy"])
    assert len(figure.axes) == 2  # the accuracy panel and the LR twin axis
    with pytest.raises(ValueError, match="auc"):
        plot_history(HISTORY, metrics=["auc"])
    with pytest.raises(TypeError, match="history_or_csv"):
        plot_history(42)


def test_train_only_history_marks_train_curve():
    figure = plot_history({"loss": [3.0, 1.0, 2.0]})
    assert figure.axes[0].get_title() == "loss (best epoch 2: 1)"


def test_from_fit_history_and_csvlogger_file(tmp_path, tiny_data, compiled_model):
    x, y = tiny_data
    model = compiled_model()
    csv_path = tmp_path / "run.csv"
    history = model.fit(
        x,
        y,
        epochs=3,
        batch_size=10,
        verbose=0,
        validation_split=0.25,
        callbacks=[CSVLogger(csv_path, separator=";")],
    )
    loaded = load_history_csv(csv_path)
    assert loaded["epoch"] == [0.0, 1.0, 2.0]
    np.testing.assert_allclose(loaded["val_loss"], history.history["val_loss"])
    from_history = epochal.plot_history(history)
    from_csv = plot_history(str(csv_path))
    assert [a.get_title() for a in from_history.axes] == [a.get_title() for a in from_csv.axes]


def test_cli_plot(tmp_path, capsys):
    csv_path = tmp_path / "run.csv"
    csv_path.write_text("epoch,loss,val_loss\r\n0,1.0,1.2\r\n1,0.5,NA\r\n2,0.4,0.9\r\n")
    out = tmp_path / "curves.png"
    assert main(["plot", str(csv_path), "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Wrote" in capsys.readouterr().out


def test_cli_demo_writes_csv_tensorboard_and_curves(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["demo", "--epochs", "2", "--run-dir", str(run_dir), "--verbose", "0"]) == 0
    out = capsys.readouterr().out
    rows = (run_dir / "history.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,")
    assert len(rows) == 3
    assert list((run_dir / "tensorboard" / "train").glob("events.out.tfevents.*"))
    assert list((run_dir / "tensorboard" / "validation").glob("events.out.tfevents.*"))
    assert (run_dir / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert f"tensorboard --logdir {run_dir / 'tensorboard'}" in out
    columns = rows[0].split(",")
    # SystemMonitor's keys and the test set's evaluation are columns of the CSV.
    assert {"system/process_rss_mib", "system/process_cpu_percent"} <= set(columns)
    assert {"test_loss", "test_accuracy", "val_loss"} <= set(columns)
    history = load_history_csv(run_dir / "history.csv")
    assert all(v > 0 for v in history["system/process_rss_mib"])
    assert all(0 <= v <= 1 for v in history["test_accuracy"])
    assert list((run_dir / "tensorboard" / "test").glob("events.out.tfevents.*"))
