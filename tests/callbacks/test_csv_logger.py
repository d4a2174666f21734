"""CSVLogger: Keras' CSV layout, append across fits, late keys, non-scalars, resume."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from _helpers import StubModel

from epochal.callbacks import Callback, CSVLogger


class AddLearningRate(Callback):
    """Adds `learning_rate` to the epoch logs, from `start` on (a late key when start > 0)."""

    def __init__(self, start: int = 0) -> None:
        super().__init__()
        self.start = start

    def on_epoch_end(self, epoch, logs=None):
        if epoch >= self.start:
            logs["learning_rate"] = 0.5


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def test_args_validation():
    with pytest.raises(TypeError, match="filename"):
        CSVLogger(3)
    with pytest.raises(TypeError, match="separator"):
        CSVLogger("x.csv", separator=1)
    with pytest.raises(TypeError):
        CSVLogger("x.csv", sep=";")


def test_multichar_separator_raises_at_first_epoch_end(tmp_path):
    logger = CSVLogger(tmp_path / "log.csv", separator=";;")
    logger.set_model(StubModel())
    logger.on_train_begin({})
    with pytest.raises(TypeError, match="1-character string"):
        logger.on_epoch_end(0, {"loss": 1.0})


def test_layout_header_na_and_crlf(tmp_path):
    path = tmp_path / "sub" / "log.csv"
    logger = CSVLogger(path, separator=";")
    logger.on_train_begin({})
    logger.on_epoch_end(0, {"loss": 0.5, "accuracy": 0.25})
    logger.on_epoch_end(1, {"loss": 0.125})
    logger.on_train_end({})
    raw = path.read_bytes()
    assert raw == (
        b"epoch;accuracy;loss;val_accuracy;val_loss\r\n0;0.25;0.5;NA;NA\r\n1;NA;0.125;NA;NA\r\n"
    )


def test_full_precision_and_non_scalars(tmp_path):
    path = tmp_path / "log.csv"
    logger = CSVLogger(path)
    logger.on_train_begin({})
    logger.on_epoch_end(
        0,
        {"loss": 0.1 + 0.2, "vec": np.array([1.5, 2.0]), "zero_d": np.array(3.0), "val_loss": 1.0},
    )
    logger.on_train_end({})
    text = path.read_text()
    assert text.splitlines()[1] == '0,0.30000000000000004,1.0,"""[1.5, 2.0]""",3.0'
    assert _rows(path)[1][3] == '"[1.5, 2.0]"'


def test_flushed_every_epoch(tmp_path):
    path = tmp_path / "log.csv"
    logger = CSVLogger(path)
    logger.on_train_begin({})
    logger.on_epoch_end(0, {"loss": 1.0, "val_loss": 2.0})
    # Still open (a crash now loses nothing): the row is already on disk.
    assert _rows(path) == [["epoch", "loss", "val_loss"], ["0", "1.0", "2.0"]]
    logger.on_train_end({})


def test_append_across_two_fits(tmp_path, tiny_data, compiled_model):
    x, y = tiny_data
    path = tmp_path / "log.csv"
    model = compiled_model()
    logger = CSVLogger(path, append=True)
    model.fit(x, y, epochs=2, batch_size=10, verbose=0, validation_split=0.25, callbacks=[logger])
    model.fit(
        x,
        y,
        epochs=3,
        initial_epoch=2,
        batch_size=10,
        verbose=0,
        validation_split=0.25,
        callbacks=[logger],
    )
    rows = _rows(path)
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [r[0] for r in rows[1:]] == ["0", "1", "2"]
    history = model.history.history
    assert float(rows[3][2]) == history["loss"][-1]
    # append=False overwrites.
    model.fit(x, y, epochs=1, batch_size=10, verbose=0, callbacks=[CSVLogger(path)])
    assert [r[0] for r in _rows(path)] == ["epoch", "0"]


def test_append_to_empty_file_writes_header(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("")
    logger = CSVLogger(path, append=True)
    logger.on_train_begin({})
    logger.on_epoch_end(0, {"loss": 1.0})
    logger.on_train_end({})
    assert _rows(path)[0] == ["epoch", "loss", "val_loss"]


def test_late_key_dropped_as_keras(tmp_path, tiny_data, compiled_model):
    x, y = tiny_data
    path = tmp_path / "log.csv"
    model = compiled_model()
    model.fit(
        x,
        y,
        epochs=3,
        batch_size=10,
        verbose=0,
        callbacks=[AddLearningRate(start=1), CSVLogger(path)],
    )
    rows = _rows(path)
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert all(len(r) == 5 for r in rows)
    assert model.history.history["learning_rate"] == [0.5, 0.5]


def test_learning_rate_added_before_logger_gets_first_column(tmp_path, tiny_data, compiled_model):
    x, y = tiny_data
    path = tmp_path / "log.csv"
    model = compiled_model()
    model.fit(
        x, y, epochs=2, batch_size=10, verbose=0, callbacks=[AddLearningRate(), CSVLogger(path)]
    )
    rows = _rows(path)
    # Keras: sorted keys, and the bogus all-NA val_learning_rate.
    assert rows[0] == [
        "epoch",
        "accuracy",
        "learning_rate",
        "loss",
        "val_accuracy",
        "val_learning_rate",
        "val_loss",
    ]
    assert rows[1][2] == "0.5"
    assert rows[1][5] == "NA"


def test_resume_truncates_to_recorded_position(tmp_path):
    path = tmp_path / "log.csv"
    logger = CSVLogger(path)
    logger.on_train_begin({})
    logger.on_epoch_end(0, {"loss": 1.0, "val_loss": 1.5})
    saved = logger.state_dict()
    logger.on_epoch_end(1, {"loss": 0.9, "val_loss": 1.4})  # lost work: written after the backup
    # crash: no on_train_end. A new process restores before (or after) the logger's begin hook.
    for restore_first in (True, False):
        resumed = CSVLogger(path)
        if restore_first:
            resumed.load_state_dict(saved)
            resumed.on_train_begin({})
        else:
            resumed.on_train_begin({})
            resumed.load_state_dict(saved)
        resumed.on_epoch_end(1, {"loss": 0.8, "val_loss": 1.3})
        resumed.on_train_end({})
        assert _rows(path) == [
            ["epoch", "loss", "val_loss"],
            ["0", "1.0", "1.5"],
            ["1", "0.8", "1.3"],
        ]
    assert resumed.state_dict()["keys"] == ["loss", "val_loss"]


def test_state_dict_validation():
    logger = CSVLogger("x.csv")
    with pytest.raises(ValueError, match="offset"):
        logger.load_state_dict({"keys": ["loss"], "offset": -1})
    with pytest.raises(ValueError, match="keys"):
        logger.load_state_dict({"keys": "loss", "offset": 0})


def test_reopened_after_error(tmp_path):
    path = tmp_path / "log.csv"
    logger = CSVLogger(path)
    logger.on_train_begin({})
    first = logger.csv_file
    logger.on_train_begin({})  # an earlier run raised: its file is closed first
    assert first.closed
    logger.on_train_end({})
