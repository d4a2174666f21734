"""ProgbarLogger: Keras' text, throttled redraws, no flooding of non-terminal streams."""

from __future__ import annotations

import io
import re

import pytest

from epochal.callbacks import ProgbarLogger
from epochal.callbacks.progbar_logger import format_value
from tests.conftest import FakeClock, make_model


class Terminal(io.StringIO):
    def isatty(self):
        return True


def _fit(tiny_data, verbose, stream, epochs=2, **kwargs):
    x, y = tiny_data
    bar = ProgbarLogger(stream=stream, clock=FakeClock(0.01), **kwargs)
    make_model().fit(
        x[:30],
        y[:30],
        batch_size=10,
        epochs=epochs,
        verbose=verbose,
        validation_data=(x[30:], y[30:]),
        callbacks=[bar],
    )
    return stream.getvalue()


def test_verbose_2_prints_one_keras_line_per_epoch(tiny_data):
    text = _fit(tiny_data, 2, io.StringIO())
    lines = text.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and len(lines) == 4
    pattern = (
        r"^3/3 - \d+s - \d+ms/step - accuracy: \d\.\d{4} - loss: \d\.\d{4}"
        r" - val_accuracy: \d\.\d{4} - val_loss: \d\.\d{4}$"
    )
    assert re.match(pattern, lines[1]), lines[1]


def test_single_epoch_prints_no_epoch_header(tiny_data):
    assert "Epoch" not in _fit(tiny_data, 2, io.StringIO(), epochs=1)


def test_verbose_1_on_a_pipe_does_not_flood(tiny_data):
    x, y = tiny_data
    stream = io.StringIO()
    bar = ProgbarLogger(stream=stream, clock=FakeClock(0.01))
    make_model().fit(x, y, batch_size=1, epochs=2, verbose=1, callbacks=[bar])
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4  # header + final line, per epoch
    assert lines[1].startswith("40/40 ━━━━━━━━━━━━━━━━━━━━ ")
    assert "\r" not in stream.getvalue()


def test_verbose_1_on_a_pipe_writes_progress_lines_every_static_interval(tiny_data):
    x, y = tiny_data
    stream = io.StringIO()
    bar = ProgbarLogger(stream=stream, clock=FakeClock(1.0), static_interval=10.0)
    make_model().fit(x, y, batch_size=1, epochs=1, verbose=1, callbacks=[bar])
    lines = stream.getvalue().splitlines()
    assert 2 < len(lines) < 10 and lines[-1].startswith("40/40")


def test_verbose_1_on_a_terminal_draws_a_tqdm_bar(tiny_data):
    text = _fit(tiny_data, 1, Terminal(), epochs=1)
    assert "━" in text and "\r" in text
    final = text.rstrip("\n").split("\r")[-1]
    assert final.startswith("3/3") and "val_loss:" in final


def test_terminal_redraws_are_throttled_by_time(tiny_data):
    x, y = tiny_data
    stream = Terminal()
    bar = ProgbarLogger(stream=stream, clock=FakeClock(0.001), interval=0.05)
    make_model().fit(x, y, batch_size=1, epochs=1, verbose=1, callbacks=[bar])
    redraws = stream.getvalue().count("\r")
    assert redraws < 40 / 2  # not one per batch


def test_evaluate_and_predict_bars(tiny_data):
    x, y = tiny_data
    model = make_model()
    stream = io.StringIO()
    model.evaluate(
        x, y, batch_size=20, verbose=2, callbacks=[ProgbarLogger(stream=stream, clock=FakeClock())]
    )
    assert re.match(r"^2/2 - \d+s - \d+ms/step - accuracy: .* - loss: ", stream.getvalue())
    stream = io.StringIO()
    model.predict(
        x, batch_size=20, verbose=2, callbacks=[ProgbarLogger(stream=stream, clock=FakeClock())]
    )
    assert re.match(r"^2/2 - \d+s - \d+ms/step\n$", stream.getvalue())


def test_validation_inside_fit_is_silent(tiny_data):
    text = _fit(tiny_data, 2, io.StringIO(), epochs=1)
    assert len(text.splitlines()) == 1


def test_verbose_zero_adds_no_progbar(tiny_data, capsys):
    x, y = tiny_data
    make_model().fit(x, y, epochs=2, verbose=0)
    assert capsys.readouterr().out == ""


def test_default_verbose_prints_to_stdout(tiny_data, capsys):
    x, y = tiny_data
    make_model().fit(x, y, epochs=2)
    out = capsys.readouterr().out
    assert "Epoch 2/2" in out and "loss:" in out


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.23456, "1.2346"),
        (0.0, "0.0000e+00"),
        (-0.5, "-0.5000"),
        (0.0001, "1.0000e-04"),
        ("x", "x"),
    ],
)
def test_number_format(value, text):
    assert format_value(value) == text


def test_legacy_arguments_warn():
    with pytest.warns(DeprecationWarning, match="count_mode"):
        ProgbarLogger(count_mode="samples")
