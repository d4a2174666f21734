"""SimpleRNN, LSTM, GRU, Bidirectional, TimeDistributed against recorded Keras 3 outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _keras_layers import check_case, load_cases, save_round_trip

from epochal.layers import (
    GRU,
    LSTM,
    Bidirectional,
    Dense,
    Embedding,
    Masking,
    SimpleRNN,
    TimeDistributed,
)

CASES = load_cases("recurrent")


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_keras(name):
    check_case(CASES[name])


def _seq(batch=2, steps=4, features=2):
    return torch.from_numpy(np.random.default_rng(1).uniform(-1, 1, (batch, steps, features)))


@pytest.mark.parametrize(("cls", "n_states"), [(SimpleRNN, 1), (LSTM, 2), (GRU, 1)])
def test_return_state_and_initial_state(cls, n_states):
    layer = cls(3, return_state=True)
    x = _seq().float()
    out, *states = layer(x)
    assert out.shape == (2, 3)
    assert len(states) == n_states
    torch.testing.assert_close(out, states[0])
    again, *_ = layer(x, initial_state=[s * 0 for s in states])
    torch.testing.assert_close(again, out)
    moved, *_ = layer(x, initial_state=[s + 1 for s in states])
    assert not torch.allclose(moved, out)
    with pytest.raises(ValueError, match="initial state"):
        layer(x, initial_state=[states[0]] * (n_states + 1))


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_weights_use_keras_shapes_and_gate_blocks(cls):
    gates = {SimpleRNN: 1, LSTM: 4, GRU: 3}[cls]
    layer = cls(5, input_shape=(7, 3))
    shapes = [w.shape for w in layer.get_weights()]
    bias = (2, gates * 5) if cls is GRU else (gates * 5,)
    assert shapes == [(3, gates * 5), (5, gates * 5), bias]
    assert [w._keras_name for w in layer.weights] == ["kernel", "recurrent_kernel", "bias"]


def test_lstm_unit_forget_bias_starts_the_forget_gate_at_one():
    bias = LSTM(2, input_shape=(3, 1)).get_weights()[2]
    np.testing.assert_array_equal(bias, [0, 0, 1, 1, 0, 0, 0, 0])
    bias = LSTM(2, unit_forget_bias=False, input_shape=(3, 1)).get_weights()[2]
    np.testing.assert_array_equal(bias, np.zeros(8))


def test_recurrent_kernel_starts_orthogonal():
    kernel = SimpleRNN(4, input_shape=(3, 2)).recurrent_kernel.detach()
    torch.testing.assert_close(kernel @ kernel.T, torch.eye(4), atol=1e-5, rtol=0)


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_dropout_only_in_training_and_seeded(cls):
    x = _seq().float()
    a = cls(3, dropout=0.5, recurrent_dropout=0.3, seed=7, return_sequences=True)
    b = cls(3, dropout=0.5, recurrent_dropout=0.3, seed=7, return_sequences=True)
    a(x)
    b(x)
    b.set_weights(a.get_weights())
    torch.testing.assert_close(a(x, training=False), b(x, training=False))
    train_a, train_b = a(x, training=True), b(x, training=True)
    torch.testing.assert_close(train_a, train_b)
    assert not torch.allclose(train_a, a(x, training=False))


def test_stateful_is_refused_by_name():
    with pytest.raises(ValueError, match="stateful"):
        LSTM(3, stateful=True)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"units": 0}, "units"),
        ({"units": 2, "dropout": 1.5}, "dropout"),
        ({"units": 2, "return_sequences": "yes"}, "return_sequences"),
        ({"units": 2, "kernel_initializer": "bogus"}, "kernel_initializer"),
        ({"units": 2, "activation": "bogus"}, "activation"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GRU(**kwargs)


def test_bad_input_rank_is_named():
    with pytest.raises(ValueError, match="batch, time, features"):
        LSTM(2)(torch.ones(2, 3))


def test_bidirectional_refuses_non_recurrent_layers_and_bad_merge_mode():
    with pytest.raises(ValueError, match="layer"):
        Bidirectional(Dense(2))
    with pytest.raises(ValueError, match="merge_mode"):
        Bidirectional(LSTM(2), merge_mode="max")


def test_bidirectional_merge_none_returns_both_directions():
    layer = Bidirectional(GRU(2, return_sequences=True), merge_mode=None)
    forward, backward = layer(_seq().float())
    assert forward.shape == backward.shape == (2, 4, 2)
    assert layer.forward_layer.name.startswith("forward_")
    assert layer.backward_layer.go_backwards


def test_masking_output_zeros_masked_steps_and_mask_reaches_the_rnn():
    x = _seq().float()
    x[1, 2:] = 0.0
    masking = Masking()
    out = masking(x)
    torch.testing.assert_close(out, x)
    assert masking.compute_mask(x).tolist() == [[True] * 4, [True, True, False, False]]
    # A masked sample's last output is its output at its last valid step.
    rnn = SimpleRNN(3, return_sequences=True)
    full = rnn(x)
    last = SimpleRNN(3)
    last(x)
    last.set_weights(rnn.get_weights())
    from epochal import Sequential

    model = Sequential([Masking(), last])
    torch.testing.assert_close(model.module(x)[1], full[1, 1])


def test_a_mask_dropped_by_a_layer_that_cannot_take_it_warns_once():
    from epochal import Sequential
    from epochal.layers import Flatten

    model = Sequential([Embedding(5, 2, mask_zero=True), Flatten(), Dense(1)])
    ids = torch.tensor([[1, 2, 0]])
    with pytest.warns(UserWarning, match="does not support masking"):
        model.module(ids)


def test_embedding_mask_zero_and_config():
    layer = Embedding(5, 2, mask_zero=True)
    ids = torch.tensor([[1, 0, 3]])
    assert layer.compute_mask(ids).tolist() == [[True, False, True]]
    assert Embedding(5, 2).compute_mask(ids) is None
    clone = Embedding.from_config(layer.get_config())
    assert clone.mask_zero and clone.get_config() == layer.get_config()
    with pytest.warns(UserWarning, match="input_length"):
        Embedding(5, 2, input_length=3)


_SAVED = {
    "SimpleRNN": lambda: [SimpleRNN(3, return_sequences=True, go_backwards=True), SimpleRNN(2)],
    "LSTM": lambda: [Masking(), LSTM(3, recurrent_activation="hard_sigmoid", dropout=0.1)],
    "GRU": lambda: [GRU(3, reset_after=False, return_sequences=True), GRU(2, use_bias=False)],
    "Bidirectional": lambda: [
        Bidirectional(LSTM(2, return_sequences=True), merge_mode="sum"),
        Bidirectional(GRU(2), backward_layer=GRU(2, go_backwards=True)),
    ],
    "TimeDistributed": lambda: [TimeDistributed(Dense(3, activation="relu")), LSTM(2)],
}


@pytest.mark.parametrize("name", sorted(_SAVED))
def test_save_load_round_trip(tmp_path, name):
    save_round_trip(tmp_path, _SAVED[name](), _seq().float().numpy())


def test_save_load_round_trip_with_embedding_mask(tmp_path):
    ids = np.array([[1, 2, 3, 4], [2, 3, 0, 0]])
    save_round_trip(tmp_path, [Embedding(5, 2, mask_zero=True), LSTM(3)], ids)
