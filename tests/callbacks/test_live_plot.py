"""LivePlot: the PNG after each epoch (headless), throttling, and the notebook path through
IPython's real display machinery (an InteractiveShell with a capturing display publisher)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from epochal.callbacks import Callback, LivePlot, SystemMonitor

PNG = b"\x89PNG\r\n\x1a\n"


class _Clock:
    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


class _PngSpy(Callback):
    """After LivePlot in the list: reads the file as each epoch ends."""

    def __init__(self, plot: LivePlot) -> None:
        super().__init__()
        self.plot = plot
        self.seen: list[tuple[int, bytes]] = []

    def on_epoch_end(self, epoch, logs=None):
        with open(self.plot.path, "rb") as handle:
            self.seen.append((self.plot.draws, handle.read()))


def test_the_png_is_rewritten_after_every_epoch(tmp_path, tiny_data, compiled_model):
    x, y = tiny_data
    plot = LivePlot(tmp_path / "curves.png", min_interval=0.0)
    spy = _PngSpy(plot)
    compiled_model().fit(
        x,
        y,
        epochs=3,
        batch_size=10,
        verbose=0,
        validation_split=0.25,
        evaluation_data={"test": (x[:10], y[:10])},
        callbacks=[plot, spy],
    )
    assert [draws for draws, _ in spy.seen] == [1, 2, 3]
    assert all(data.startswith(PNG) for _, data in spy.seen)
    assert len({data for _, data in spy.seen}) == 3  # a new picture each epoch
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporaries
    assert plot.draws == 3  # nothing left to draw at train end


def test_the_curves_overlay_validation_and_test_sets(tmp_path, tiny_data, compiled_model):
    x, y = tiny_data
    plot = LivePlot(tmp_path / "curves.png", min_interval=0.0)
    compiled_model().fit(
        x,
        y,
        epochs=4,
        batch_size=10,
        verbose=0,
        validation_split=0.25,
        evaluation_data={"test": (x[:10], y[:10])},
        evaluation_freq=2,
        callbacks=[plot, SystemMonitor(gpu=False)],
    )
    from epochal.plotting import plot_history

    figure = plot_history(plot.history, sets=("test",))
    titles = [axis.get_title() for axis in figure.axes]
    assert any(t.startswith("loss") for t in titles) and any(t.startswith("acc") for t in titles)
    assert not any("system" in t for t in titles)  # monitor keys get no panel by default
    labels = [line.get_label() for line in figure.axes[0].get_lines()]
    assert {"train", "validation", "test"} <= set(labels)
    test_line = next(line for line in figure.axes[0].get_lines() if line.get_label() == "test")
    assert list(test_line.get_xdata()) == [2, 4]  # evaluated on epochs 2 and 4 only
    assert math.isnan(plot.history["test_loss"][0]) and len(plot.history["test_loss"]) == 4


def test_redraws_are_throttled_and_the_end_is_always_drawn(tmp_path, tiny_data, compiled_model):
    x, y = tiny_data
    plot = LivePlot(tmp_path / "curves.png", min_interval=1.0, clock=_Clock(0.4))
    spy = _PngSpy(plot)
    compiled_model().fit(x, y, epochs=5, batch_size=10, verbose=0, callbacks=[plot, spy])
    # clock: 0.4 (draw), 0.8, 1.2, 1.6 (draw: 1.2 s after), 2.0; then train end draws epoch 5
    assert [draws for draws, _ in spy.seen] == [1, 1, 1, 2, 2]
    assert plot.draws == 3


def test_the_notebook_output_is_one_display_updated_in_place(tmp_path, tiny_data, compiled_model):
    pytest.importorskip("IPython", reason="IPython is in the dev extra")
    from IPython.core.displaypub import CapturingDisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    publisher = CapturingDisplayPublisher()
    original, shell.display_pub = shell.display_pub, publisher
    try:
        x, y = tiny_data
        plot = LivePlot(path=None, notebook=True, min_interval=0.0)
        compiled_model().fit(x, y, epochs=3, batch_size=10, verbose=0, callbacks=[plot])
    finally:
        shell.display_pub = original
    outputs = publisher.outputs
    assert len(outputs) == 3
    assert [o["update"] for o in outputs] == [False, True, True]
    ids = {o["transient"]["display_id"] for o in outputs}
    assert len(ids) == 1  # the same output, updated in place
    assert all(o["data"]["image/png"] for o in outputs)
    assert not list(tmp_path.iterdir())  # path=None: no file


def test_resume_keeps_the_earlier_epochs(tmp_path):
    plot = LivePlot(tmp_path / "c.png")
    plot._record({"loss": 1.0})
    plot._record({"loss": 0.5, "val_loss": 0.7})
    restored = LivePlot(tmp_path / "c.png")
    restored.load_state_dict(plot.state_dict())
    assert restored.history["loss"] == [1.0, 0.5]
    assert math.isnan(restored.history["val_loss"][0])
    np.testing.assert_equal(restored.history["val_loss"], [np.nan, 0.7])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"min_interval": -1}, ValueError, "min_interval"),
        ({"notebook": "yes"}, TypeError, "notebook"),
        ({"path": None, "notebook": False}, ValueError, "nowhere"),
        ({"path": 3}, TypeError, "path"),
        ({"metrics": "loss"}, TypeError, "metrics"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        LivePlot(**kwargs)
