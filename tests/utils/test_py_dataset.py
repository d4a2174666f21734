"""PyDataset / Sequence and pandas inputs to fit, evaluate and predict."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

import epochal
from epochal import layers
from epochal.utils import PyDataset, Sequence


class Batches(PyDataset):
    def __init__(self, batches=4, size=3, **kwargs):
        super().__init__(**kwargs)
        self.batches, self.size = batches, size
        self.calls: list[str] = []
        self.threads: set[int] = set()

    def __len__(self):
        return self.batches

    def __getitem__(self, index):
        self.calls.append(f"get{index}")
        self.threads.add(threading.get_ident())
        x = np.full((self.size, 2), float(index), dtype="float32")
        return x, x.sum(axis=1, keepdims=True)

    def on_epoch_begin(self):
        self.calls.append("begin")

    def on_epoch_end(self):
        self.calls.append("end")


def _model():
    model = epochal.Sequential([layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_sequence_is_pydataset():
    assert Sequence is PyDataset


def test_fit_reads_every_batch_once_per_epoch_with_hooks_around():
    data = Batches()
    model = _model()
    model.fit(data, epochs=2, shuffle=False, verbose=0)
    passes = data.calls[1:]  # the first call builds the model
    assert passes == ["begin", "get0", "get1", "get2", "get3", "end"] * 2


def test_shuffle_permutes_batch_order_per_epoch():
    data = Batches(batches=8)
    model = _model()
    model.fit(data, epochs=2, verbose=0)
    gets = [c for c in data.calls[1:] if c.startswith("get")]
    first, second = gets[:8], gets[8:]
    assert sorted(first) == sorted(second) == sorted(f"get{i}" for i in range(8))
    assert first != [f"get{i}" for i in range(8)] or second != first


def test_steps_per_epoch_still_ends_each_pass():
    data = Batches()
    _model().fit(data, epochs=2, steps_per_epoch=4, shuffle=False, verbose=0)
    assert data.calls.count("end") == 2


def test_evaluate_and_predict_take_a_pydataset():
    data = Batches()
    model = _model()
    model.fit(data, epochs=1, verbose=0)
    assert np.isfinite(model.evaluate(data, verbose=0))
    out = model.predict(data, verbose=0)
    assert out.shape == (12, 1)


def test_workers_threads_keep_batch_order():
    data = Batches(batches=6, workers=3, max_queue_size=2)
    model = _model()
    model.fit(data, epochs=1, shuffle=False, verbose=0)
    preds = model.predict(Batches(batches=6, workers=3), verbose=0)
    serial = model.predict(Batches(batches=6), verbose=0)
    np.testing.assert_array_equal(preds, serial)


def test_multiprocessing_workers_give_the_same_predictions():
    model = _model()
    model.fit(Batches(), epochs=1, verbose=0)
    parallel = model.predict(Batches(workers=2, use_multiprocessing=True), verbose=0)
    np.testing.assert_array_equal(parallel, model.predict(Batches(), verbose=0))


def test_a_subclass_without_super_init_warns_and_uses_defaults():
    class NoSuper(PyDataset):
        def __init__(self):  # forgets super().__init__()
            self.size = 2

        def __len__(self):
            return 1

        def __getitem__(self, index):
            return np.ones((2, 2), "float32"), np.ones((2, 1), "float32")

    with pytest.warns(UserWarning, match="super"):
        _model().fit(NoSuper(), epochs=1, verbose=0)


def test_bad_batches_and_arguments_are_named():
    class Bad(Batches):
        def __getitem__(self, index):
            return "nope"

    with pytest.raises(ValueError, match="must return a tuple or a dict"):
        _model().fit(Bad(), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="`y` must be None"):
        _model().fit(Batches(), np.zeros(3), verbose=0)
    with pytest.raises(ValueError, match="workers"):
        _model().fit(Batches(workers=-1), verbose=0)


def test_pandas_dataframe_and_series_train_as_their_arrays():
    pd = pytest.importorskip("pandas")  # in the dev extra
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=16), "b": rng.normal(size=16)})
    target = pd.Series(rng.normal(size=16))
    torch.manual_seed(0)
    a = _model()
    a.fit(frame, target, batch_size=4, epochs=2, shuffle=False, verbose=0, validation_split=0.25)
    torch.manual_seed(0)
    b = _model()
    x, y = np.array(frame.to_numpy()), np.array(target.to_numpy()[:, None])
    b.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0, validation_split=0.25)
    np.testing.assert_allclose(a.predict(frame, verbose=0), b.predict(x, verbose=0), rtol=1e-6)
    assert a.evaluate(frame, target, verbose=0) == pytest.approx(b.evaluate(x, y, verbose=0))
    assert a.predict(frame, verbose=0).dtype == np.float32
