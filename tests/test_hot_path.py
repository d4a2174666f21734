"""The per-step path's shortcuts give the same numbers as the straightforward code (issue 8)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import epochal
from epochal.data import ArraySource
from epochal.losses import SparseCategoricalCrossentropy, sparse_categorical_crossentropy
from epochal.metrics import Mean, SparseCategoricalAccuracy

CPU = torch.device("cpu")


def test_loss_tracker_defers_and_folds_to_the_exact_weighted_mean():
    tracker = Mean(name="loss")
    values = torch.rand(150)
    weights = [4] * 149 + [3]  # a short last batch
    for value, weight in zip(values, weights, strict=True):
        tracker.update(value, weight)
    expected = (values * torch.tensor(weights, dtype=torch.float32)).sum() / sum(weights)
    assert len(tracker.__dict__["_pending"]) < Mean._FOLD_EVERY  # folded periodically
    torch.testing.assert_close(tracker.result(), expected)
    state = tracker.state_dict()  # keeps what is still pending, unfolded
    assert len(state["pending"]) == len(tracker.__dict__["_pending"]) > 0
    restored = Mean(name="loss")
    restored.load_state_dict(state)
    assert torch.equal(restored.result(), tracker.result())
    for _ in range(70):  # further folds happen at the same step counts: equal bit for bit
        tracker.update(values[0], 4)
        restored.update(values[0], 4)
    assert torch.equal(restored.result(), tracker.result())


def test_metric_snapshot_is_not_changed_by_later_updates():
    import copy

    metric = SparseCategoricalAccuracy()
    y_pred = torch.tensor([[0.9, 0.1], [0.2, 0.8]])
    metric.update(torch.tensor([0, 1]), y_pred)
    frozen = copy.copy(metric)
    for _ in range(100):
        metric.update(torch.tensor([1, 0]), y_pred)
    assert float(frozen.result()) == 1.0
    assert float(metric.result()) == pytest.approx(2 / 202)
    metric.reset()
    assert float(metric.result()) == 0.0


def test_sparse_crossentropy_from_logits_fast_path_equals_per_sample_mean():
    logits = torch.randn(16, 5)
    labels = torch.randint(0, 5, (16, 1))
    loss = SparseCategoricalCrossentropy(from_logits=True)
    expected = sparse_categorical_crossentropy(labels, logits, from_logits=True).mean()
    torch.testing.assert_close(loss(labels, logits), expected)
    torch.testing.assert_close(loss(labels.float().squeeze(-1), logits), expected)
    weights = torch.rand(16)
    weighted = (sparse_categorical_crossentropy(labels, logits, True) * weights).mean()
    torch.testing.assert_close(loss(labels, logits, weights), weighted)


def test_keras_adam_uses_torch_fused_kernel_and_matches_the_loop_version():
    torch.manual_seed(0)
    fused_net = torch.nn.Linear(6, 3)
    plain_net = torch.nn.Linear(6, 3)
    plain_net.load_state_dict(fused_net.state_dict())
    fused = epochal.optimizers.Adam(1e-2)
    fused.build(fused_net.parameters())
    assert fused.torch_optimizer.param_groups[0]["fused"] is True
    # the same (Keras') update through torch's per-parameter loop kernel
    plain = epochal.optimizers.Adam(1e-2, foreach=False)
    plain.build(plain_net.parameters())
    assert not plain.torch_optimizer.param_groups[0].get("fused")
    x = torch.randn(32, 6)
    for _ in range(20):
        for net, opt in ((fused_net, fused), (plain_net, plain)):
            opt.zero_grad()
            net(x).square().mean().backward()
            opt.step()
    for a, b in zip(fused_net.parameters(), plain_net.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_users_choice_of_torch_implementation_is_kept():
    for kwargs in ({"foreach": False}, {"fused": False}):
        opt = epochal.optimizers.Adam(**kwargs)
        opt.build(torch.nn.Linear(2, 2).parameters())
        assert not opt.torch_optimizer.param_groups[0].get("fused")
    sgd = epochal.optimizers.SGD()
    sgd.build(torch.nn.Linear(2, 2).parameters())
    assert not sgd.torch_optimizer.param_groups[0].get("fused")


def test_float32_arrays_are_batched_in_place_and_float64_converted_once():
    x32 = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    source = ArraySource(x32, np.zeros(64, "int64"), batch_size=8, shuffle=True, device=CPU)
    assert source.x.data_ptr() == x32.__array_interface__["data"][0]  # no copy
    x64 = x32.astype("float64")
    source = ArraySource(x64, None, batch_size=8, shuffle=False, device=CPU)
    assert source.x.dtype == torch.float32
    batch = source.batch(None, 1)[0]
    assert batch.data_ptr() == source.x[8:].data_ptr()  # unshuffled batches are views
    np.testing.assert_array_equal(batch.numpy(), x32[8:16])


def test_fit_logs_match_a_hand_computed_epoch():
    """The deferred accumulators give Keras' epoch means: sample-weighted over batches."""
    torch.manual_seed(0)
    module = torch.nn.Linear(4, 3)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(70, 4)).astype("float32")
    y = rng.integers(0, 3, 70)
    model = epochal.Model(module, device="cpu")
    model.compile(
        optimizer=epochal.optimizers.SGD(0.0),  # no update: a fixed network
        loss=SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    logs = model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False).history
    with torch.no_grad():
        logits = module(torch.from_numpy(x))
        target = torch.from_numpy(y)
        loss = float(F.cross_entropy(logits, target))
        accuracy = float((logits.argmax(1) == target).float().mean())
    assert logs["loss"][0] == pytest.approx(loss, rel=1e-5)
    assert logs["accuracy"][0] == pytest.approx(accuracy)
