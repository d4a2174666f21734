"""Data sources and the epoch iterator: order as a function of (seed, pass), resume by index."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from epochal.data import (
    ArraySource,
    EpochIterator,
    EpochSampler,
    IterableSource,
    make_source,
    order_for,
    split_validation,
)

CPU = torch.device("cpu")


def _source(n=10, batch_size=3, shuffle=True):
    x = np.arange(n, dtype="float32").reshape(n, 1)
    return ArraySource(x, np.arange(n), batch_size=batch_size, shuffle=shuffle, device=CPU)


def _epoch_ids(iterator, start=0):
    return [batch[1].tolist() for _, batch in iterator.epoch(start)]


def test_order_depends_only_on_seed_and_pass():
    assert torch.equal(order_for(50, 7, 3), order_for(50, 7, 3))
    assert not torch.equal(order_for(50, 7, 3), order_for(50, 7, 4))
    assert not torch.equal(order_for(50, 7, 3), order_for(50, 8, 3))
    torch.manual_seed(123)
    a = order_for(50, 7, 3)
    torch.rand(100)  # global RNG use must not matter
    assert torch.equal(a, order_for(50, 7, 3))


def test_epoch_covers_every_sample_once_and_reshuffles():
    iterator = EpochIterator(_source(), seed=1)
    first = sum(_epoch_ids(iterator), [])
    second = sum(_epoch_ids(iterator), [])
    assert sorted(first) == sorted(second) == list(range(10))
    assert first != second


def test_no_shuffle_is_in_order_with_a_short_last_batch():
    iterator = EpochIterator(_source(shuffle=False))
    assert _epoch_ids(iterator) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]


def test_resume_mid_epoch_from_state_gives_the_remaining_batches():
    full = EpochIterator(_source(), seed=5)
    _epoch_ids(full)
    reference = _epoch_ids(full)  # pass 1

    partial = EpochIterator(_source(), seed=5)
    _epoch_ids(partial)
    iterator = partial.epoch()
    next(iterator)
    next(iterator)
    state = partial.state_dict()
    assert state == {"seed": 5, "pass_index": 1, "cursor": 2}

    resumed = EpochIterator(_source(), seed=999)
    resumed.load_state_dict(state)
    assert _epoch_ids(resumed, start=2) == reference[2:]


def test_resume_does_not_replay_batches():
    reference = _epoch_ids(EpochIterator(_source(n=1000, batch_size=10), seed=0))
    iterator = EpochIterator(_source(n=1000, batch_size=10), seed=0)
    iterator.load_state_dict({"seed": 0, "pass_index": 0, "cursor": 95})
    resumed = list(iterator.epoch(95))
    assert [step for step, _ in resumed] == list(range(95, 100))
    assert [batch[1].tolist() for _, batch in resumed] == reference[95:]


def test_epoch_sampler_is_seeded_and_can_start_mid_epoch():
    sampler = EpochSampler(range(10), seed=3)
    sampler.set_epoch(2)
    order = list(sampler)
    sampler.set_start(4)
    assert list(sampler) == order[4:]
    assert list(sampler) == order  # start applies once
    loader = torch.utils.data.DataLoader(torch.arange(10), batch_size=2, sampler=sampler)
    source = IterableSource(loader, CPU)
    assert source.seekable
    batches = [b[0].tolist() for b in source.iterate(3, 2, start=3)]
    assert sum(batches, []) == order[6:]


def test_split_validation_holds_out_the_tail():
    x = np.arange(10)
    (tx, _, _), (vx, vy, _) = split_validation(x, x * 2, None, 0.2)
    assert tx.tolist() == list(range(8)) and vx.tolist() == [8, 9] and vy.tolist() == [16, 18]
    with pytest.raises(ValueError, match="validation_split"):
        split_validation(x, x, None, 0.95)


def test_make_source_kinds_and_errors():
    x = np.zeros((4, 2))
    assert isinstance(
        make_source(x, None, None, batch_size=2, shuffle=False, device=CPU), ArraySource
    )
    dataset = torch.utils.data.TensorDataset(torch.zeros(4, 2), torch.zeros(4))
    source = make_source(dataset, None, None, batch_size=2, shuffle=True, device=CPU, seed=1)
    assert isinstance(source, IterableSource) and source.seekable
    with pytest.raises(TypeError, match="`x` must be"):
        make_source(42, None, None, batch_size=2, shuffle=False, device=CPU)
    with pytest.raises(ValueError, match="same number of samples"):
        make_source(x, np.zeros(3), None, batch_size=2, shuffle=False, device=CPU)


def test_dtypes_follow_keras_rules():
    source = ArraySource(
        np.zeros((2, 2), dtype="float64"),
        np.array([0, 1], dtype="int32"),
        batch_size=2,
        shuffle=False,
        device=CPU,
    )
    x, y, _ = source.batch(None, 0)
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    images = ArraySource(
        np.zeros((2, 2), dtype="uint8"), None, batch_size=2, shuffle=False, device=CPU
    )
    assert images.batch(None, 0)[0].dtype == torch.float32


# ---------------------------------------------------------------- one-shot iterators


def _xy_batches(count=4, size=2):
    return [
        (torch.full((size, 3), float(i)), torch.full((size, 1), float(i))) for i in range(count)
    ]


def test_one_shot_iterator_hands_out_the_peeked_batch_again():
    source = IterableSource(iter(_xy_batches()), CPU)
    data = EpochIterator(source)
    first = data.first_batch()
    assert data.first_batch()[0][0, 0].item() == 0.0  # peeking twice takes nothing more
    seen = [batch[0][0, 0].item() for _, batch in data.epoch()]
    assert seen == [0.0, 1.0, 2.0, 3.0]
    assert torch.equal(first[0], torch.zeros(2, 3))


def test_re_iterable_inputs_are_not_consumed_by_first_batch():
    batches = _xy_batches()
    data = EpochIterator(IterableSource(batches, CPU))
    data.first_batch()
    assert len(list(data.epoch())) == 4
    assert len(list(data.epoch())) == 4


def test_an_input_without_batches_is_refused_clearly():
    with pytest.raises(ValueError, match="no batch"):
        EpochIterator(IterableSource(iter([]), CPU)).first_batch()


class _CountingLinear(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 1)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.linear(x)


def _counting_model():
    import epochal

    net = _CountingLinear()
    model = epochal.Model(net, device="cpu")
    model.compile(optimizer="sgd", loss="mse")
    return model, net


@pytest.mark.parametrize("make_input", ["iter", "generator"])
def test_fit_on_a_one_shot_iterator_trains_on_every_batch(make_input):
    model, net = _counting_model()
    batches = _xy_batches()
    data = iter(batches) if make_input == "iter" else (b for b in batches)
    with pytest.warns(UserWarning, match="steps_per_epoch"):
        history = model.fit(data, epochs=1, verbose=0)
    assert model.optimizer.iterations == 4
    # 4 training forwards; the module has no lazy weights, so building runs nothing.
    assert net.calls == 4
    assert len(history.history["loss"]) == 1


def test_fit_on_re_iterable_inputs_trains_every_batch_every_epoch():
    model, _ = _counting_model()
    model.fit(_xy_batches(), epochs=2, verbose=0)
    assert model.optimizer.iterations == 8
    dataset = torch.utils.data.TensorDataset(torch.zeros(8, 3), torch.zeros(8, 1))
    model.fit(torch.utils.data.DataLoader(dataset, batch_size=2), epochs=2, verbose=0)
    assert model.optimizer.iterations == 16


def test_a_one_shot_iterator_runs_out_after_its_first_epoch():
    model, _ = _counting_model()
    with pytest.warns(UserWarning, match="steps_per_epoch"):
        model.fit(iter(_xy_batches()), epochs=2, verbose=0)
    assert model.optimizer.iterations == 4  # every batch once; the second epoch finds none


def test_evaluate_and_predict_on_one_shot_iterators_see_every_batch():
    model, _ = _counting_model()
    batches = _xy_batches()
    expected = model.predict(torch.cat([x for x, _ in batches]), verbose=0)
    outputs = model.predict(iter([x for x, _ in batches]), verbose=0)
    assert outputs.shape == (8, 1)
    np.testing.assert_allclose(outputs, expected, rtol=1e-6)
    loss = model.evaluate(iter(batches), verbose=0)
    assert loss == pytest.approx(model.evaluate(batches, verbose=0))
