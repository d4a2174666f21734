"""Attention and MultiHeadAttention against recorded Keras 3 outputs (and Dot's replay
helper, shared with tests/layers/test_merging.py), functional and subclassed use, dropout,
weights layout and save/load round trips."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import epochal
from epochal.layers import LAYER_CLASSES, Attention, Dense, MultiHeadAttention
from epochal.saving import load_model

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "keras" / "layers_attention.json"
ATOL = 1e-5


@cache
def cases() -> dict[str, dict[str, Any]]:
    return json.loads(FIXTURE.read_text())["cases"]


def _names(prefix: str) -> list[str]:
    return sorted(n for n in cases() if n.startswith(prefix))


def replay(c: dict[str, Any]) -> tuple[Any, list[torch.Tensor]]:
    """The layer rebuilt in epochal with Keras' weights, and its outputs on the inputs."""
    layer = LAYER_CLASSES[c["class_name"]](**c["config"]).eval()
    arrays = {k: torch.tensor(v, dtype=torch.float32) for k, v in c["inputs"].items()}

    def invoke() -> Any:
        kwargs: dict[str, Any] = dict(c["call"])
        if c["style"] == "list":
            if "mask" in c["masks"]:
                kwargs["mask"] = [
                    None if m is None else torch.tensor(m) for m in c["masks"]["mask"]
                ]
            return layer([arrays[k] for k in sorted(arrays)], **kwargs)
        kwargs.update({k: torch.tensor(v) for k, v in c["masks"].items()})
        if "key" in arrays:
            kwargs["key"] = arrays["key"]
        return layer(arrays["query"], arrays["value"], **kwargs)

    invoke()
    layer.set_weights([np.asarray(w, dtype=np.float32) for w in c["weights"]])
    with torch.no_grad():
        out = invoke()
    return layer, list(out) if isinstance(out, tuple | list) else [out]


def max_diff(c: dict[str, Any]) -> float:
    _, outs = replay(c)
    assert len(outs) == len(c["outputs"])
    worst = 0.0
    for got, expected in zip(outs, c["outputs"], strict=True):
        expected = np.asarray(expected, dtype=np.float32)
        assert tuple(got.shape) == expected.shape
        worst = max(worst, float(np.abs(got.numpy() - expected).max()))
    return worst


@pytest.mark.parametrize("name", _names("Attention_") + _names("MHA_"))
def test_matches_keras(name):
    assert max_diff(cases()[name]) <= ATOL


@pytest.mark.parametrize("name", _names("MHA_"))
def test_weights_have_keras_shapes_and_order(name):
    c = cases()[name]
    layer, _ = replay(c)
    assert [tuple(w.shape) for w in layer.get_weights()] == [
        np.asarray(w).shape for w in c["weights"]
    ]
    paths = [p.split("/")[-2] for p in c["weight_paths"]]
    ours = [m.name for m in layer.children() for _ in m.weights]
    assert ours == paths


def test_mha_query_kernel_layout():
    layer = MultiHeadAttention(num_heads=4, key_dim=8, value_dim=5, output_shape=7)
    layer(torch.zeros(2, 3, 6), torch.zeros(2, 9, 10), key=torch.zeros(2, 9, 11))
    assert [tuple(w.shape) for w in layer.weights] == [
        (6, 4, 8), (4, 8), (11, 4, 8), (4, 8), (10, 4, 5), (4, 5), (4, 5, 7), (7,)
    ]  # fmt: skip


def _qv(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(2, 3, 4, generator=g), torch.randn(2, 5, 4, generator=g)


@pytest.mark.parametrize(
    "make",
    [lambda: Attention(dropout=0.5, seed=3), lambda: MultiHeadAttention(2, 3, dropout=0.5, seed=3)],
)
def test_dropout_only_in_training_and_seeded(make):
    q, v = _qv()
    a, b = make(), make()

    def call(layer, training):
        if isinstance(layer, Attention):
            return layer([q, v], training=training)
        return layer(q, v, training=training)

    call(a, False)
    call(b, False)
    b.set_weights(a.get_weights())
    torch.testing.assert_close(call(a, False), call(b, False))
    torch.testing.assert_close(call(a, False), call(a, False))
    ta, tb = call(a, True), call(b, True)
    torch.testing.assert_close(ta, tb)  # same seed, same masks
    assert not torch.allclose(ta, call(a, False))


def _two_input_model() -> epochal.Model:
    query = epochal.Input((3, 4), name="query")
    value = epochal.Input((5, 4), name="value")
    a = MultiHeadAttention(2, 3, name="mha")(query, value)
    b = MultiHeadAttention(2, 3, name="mha_kw")(query=query, value=value, key=value)
    scores_out, scores = MultiHeadAttention(1, 2, name="mha_scores")(
        query, value, return_attention_scores=True
    )
    assert scores.shape == (None, 1, 3, 5)
    luong = Attention(use_scale=True, name="luong")([query, value])
    assert a.shape == (None, 3, 4) and luong.shape == (None, 3, 4)
    merged = epochal.layers.Concatenate()([a, b, scores_out, luong])
    out = Dense(1)(epochal.layers.Flatten()(merged))
    return epochal.Model([query, value], out)


def test_functional_model_positional_and_keyword_calls_fit_and_files(tmp_path):
    model = _two_input_model()
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(8, 3, 4)).astype("float32"), rng.normal(size=(8, 5, 4)).astype("float32")]
    y = rng.normal(size=(8, 1)).astype("float32")
    history = model.fit(x, y, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    expected = model.predict(x, verbose=0)
    for suffix in (".keras", "own.keras", ".h5", ".weights.h5"):
        path = tmp_path / f"m{suffix}"
        if suffix == ".weights.h5":
            model.save_weights(path)
            other = _two_input_model()
            other.load_weights(path)
        else:
            model.save(path, keras_compatible=None if suffix != "own.keras" else False)
            other = load_model(path)
        np.testing.assert_allclose(other.predict(x, verbose=0), expected, atol=1e-6, rtol=0)


def test_subclassed_model_with_self_attention_trains():
    class Encoder(epochal.Model):
        def __init__(self):
            super().__init__()
            self.attention = MultiHeadAttention(2, 4)
            self.norm = epochal.layers.LayerNormalization()
            self.head = Dense(1)

        def call(self, x, training=None):
            h = self.norm(x + self.attention(x, x, use_causal_mask=True, training=training))
            return self.head(h[:, -1])

    model = Encoder()
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 5, 4)).astype("float32")
    y = rng.normal(size=(16, 1)).astype("float32")
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=5, verbose=0)
    assert model.evaluate(x, y, verbose=0) < before


def test_causal_mask_hides_the_future():
    layer = MultiHeadAttention(1, 2)
    x = torch.randn(1, 4, 3)
    base = layer(x, x, use_causal_mask=True)
    changed = x.clone()
    changed[0, 3] += 5.0
    torch.testing.assert_close(layer(changed, changed, use_causal_mask=True)[0, :3], base[0, :3])
    _out, weights = Attention()([x, x], use_causal_mask=True, return_attention_scores=True)
    assert torch.all(weights[0].triu(1) == 0)


def test_masks_are_refused_when_malformed():
    q, v = _qv()
    with pytest.raises(ValueError, match="list"):
        Attention()(q)
    with pytest.raises(ValueError, match="mask"):
        Attention()([q, v], mask=torch.ones(2, 3))
    with pytest.raises(ValueError, match="key"):
        MultiHeadAttention(2, 3)(q, v, key=torch.zeros(2, 4, 4))


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"num_heads": 0, "key_dim": 2}, "num_heads"),
        ({"num_heads": 2, "key_dim": "2"}, "key_dim"),
        ({"num_heads": 2, "key_dim": 2, "value_dim": -1}, "value_dim"),
        ({"num_heads": 2, "key_dim": 2, "dropout": 1.5}, "dropout"),
        ({"num_heads": 2, "key_dim": 2, "output_shape": "x"}, "output_shape"),
        ({"num_heads": 2, "key_dim": 2, "attention_axes": "x"}, "attention_axes"),
        ({"num_heads": 2, "key_dim": 2, "kernel_initializer": "nope"}, "kernel_initializer"),
        ({"num_heads": 2, "key_dim": 2, "kernel_regularizer": "nope"}, "kernel_regularizer"),
        ({"num_heads": 2, "key_dim": 2, "sliding_window": 0}, "sliding_window"),
        ({"num_heads": 2, "key_dim": 2, "flash_attention": True, "dropout": 0.1}, "dropout"),
    ],
)
def test_bad_mha_arguments_name_themselves(kwargs, word):
    with pytest.raises((TypeError, ValueError), match=word):
        MultiHeadAttention(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"score_mode": "add"}, "score_mode"),
        ({"use_scale": 1}, "use_scale"),
        ({"dropout": -1}, "dropout"),
    ],
)
def test_bad_attention_arguments_name_themselves(kwargs, word):
    with pytest.raises((TypeError, ValueError), match=word):
        Attention(**kwargs)


def test_regularizers_and_constraints_reach_every_projection():
    layer = MultiHeadAttention(
        2, 3, kernel_regularizer="l2", activity_regularizer="l1", bias_constraint="non_neg"
    )
    q, v = _qv()
    layer(q, v)
    assert len(layer.losses) == 4 + 4  # four activity terms, four kernel terms
    assert all(getattr(m.bias, "_keras_constraint", None) is not None for m in layer.children())


def test_config_round_trip():
    layer = MultiHeadAttention(2, 3, value_dim=4, output_shape=(2, 3), attention_axes=1, seed=2)
    clone = MultiHeadAttention.from_config(layer.get_config())
    assert clone.get_config()["output_shape"] == [2, 3]
    attention = Attention(use_scale=True, score_mode="concat", dropout=0.1, seed=4)
    assert Attention.from_config(attention.get_config()).get_config() == {
        **attention.get_config(),
        "name": Attention.from_config(attention.get_config()).name,
    }


# ---------------------------------------------------------------- Keras files both ways
FILES = Path(__file__).resolve().parents[1] / "fixtures" / "keras_files"
KERAS_PYTHON = Path("/work/kerasenv/bin/python")


def scale_by(x, factor=2.0):
    """The named function of the recorded Lambda (scripts/record_keras_attention.py)."""
    return x * factor


def _keras_record(name: str) -> tuple[list[np.ndarray], np.ndarray]:
    rec = json.loads((FILES / f"{name}.json").read_text())
    inputs = rec["inputs"]
    x = [np.asarray(a, np.float32) for a in inputs] if name == "attention" else inputs
    return x, np.asarray(rec["predictions"], np.float32)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_keras_written_attention_model_loads_and_predicts_as_keras(suffix):
    x, expected = _keras_record("attention")
    model = load_model(FILES / f"attention{suffix}", custom_objects={"scale_by": scale_by})
    got = model.predict(x, verbose=0)
    assert float(np.abs(got - expected).max()) <= ATOL
    assert type(model.get_layer("mha")) is MultiHeadAttention
    assert model.get_layer("luong").get_config()["score_mode"] == "concat"


def test_keras_weights_file_loads_into_the_model_rebuilt_by_epochal(tmp_path):
    x, expected = _keras_record("attention")
    model = load_model(
        FILES / "attention.keras", custom_objects={"scale_by": scale_by}, compile=False
    )
    for w in model.module.parameters():
        torch.nn.init.zeros_(w)
    model.load_weights(FILES / "attention.weights.h5")
    assert float(np.abs(model.predict(x, verbose=0) - expected).max()) <= ATOL


def test_a_keras_file_with_a_named_lambda_is_refused_without_custom_objects():
    with pytest.raises(epochal.saving.CheckpointError, match=r"scaled.*scale_by.*custom_objects"):
        load_model(FILES / "attention.keras")


def test_a_keras_marshalled_lambda_is_never_run(monkeypatch):
    import marshal

    def forbidden(*args, **kwargs):
        raise AssertionError("marshal.loads was called")

    monkeypatch.setattr(marshal, "loads", forbidden)
    with pytest.raises(epochal.saving.CheckpointError, match=r"'shift'.*lambda.*custom_objects"):
        load_model(FILES / "lambda_python.keras")
    x, expected = _keras_record("lambda_python")
    model = load_model(
        FILES / "lambda_python.keras", custom_objects={"shift": lambda t: t * 2.0 + 1.0}
    )
    got = model.predict(np.asarray(x, np.float32), verbose=0)
    assert float(np.abs(got - expected).max()) <= ATOL


def test_epochal_writes_attention_models_in_keras_layout(tmp_path):
    model = load_model(FILES / "attention.keras", custom_objects={"scale_by": scale_by})
    model.save(tmp_path / "again.keras")
    model.save_weights(tmp_path / "again.weights.h5")
    import h5py

    with h5py.File(tmp_path / "again.weights.h5") as f:
        mine: list[str] = []
        f.visit(mine.append)
    with h5py.File(FILES / "attention.weights.h5") as f:
        theirs: list[str] = []
        f.visit(theirs.append)
    assert sorted(p for p in mine if p.startswith("layers")) == sorted(
        p for p in theirs if p.startswith("layers")
    )
    x, expected = _keras_record("attention")
    again = load_model(tmp_path / "again.keras", custom_objects={"scale_by": scale_by})
    assert float(np.abs(again.predict(x, verbose=0) - expected).max()) <= ATOL


_KERAS_CHECK = """
import json, os, sys
os.environ["KERAS_BACKEND"] = "torch"
import keras, numpy as np
def scale_by(x, factor=2.0):
    return x * factor
x = [np.asarray(a, np.float32) for a in json.load(open(sys.argv[1]))]
model = keras.models.load_model(sys.argv[2] + "/m.keras", custom_objects={"scale_by": scale_by})
first = model.predict(x, verbose=0)
model.load_weights(sys.argv[2] + "/m.weights.h5")
print(json.dumps([first.tolist(), model.predict(x, verbose=0).tolist()]))
"""


@pytest.mark.keras
@pytest.mark.slow
@pytest.mark.skipif(not KERAS_PYTHON.exists(), reason="needs the Keras oracle environment")
def test_real_keras_loads_the_attention_model_epochal_writes(tmp_path):
    import subprocess

    model = load_model(FILES / "attention.keras", custom_objects={"scale_by": scale_by})
    model.fit(*_keras_record("attention"), epochs=1, verbose=0)  # not Keras' weights anymore
    x, _ = _keras_record("attention")
    model.save(tmp_path / "m.keras")
    model.save_weights(tmp_path / "m.weights.h5")
    expected = model.predict(x, verbose=0)
    (tmp_path / "x.json").write_text(json.dumps([a.tolist() for a in x]))
    (tmp_path / "check.py").write_text(_KERAS_CHECK)
    done = subprocess.run(
        [str(KERAS_PYTHON), str(tmp_path / "check.py"), str(tmp_path / "x.json"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={"KERAS_BACKEND": "torch", "PATH": "/usr/bin:/bin"},
    )
    if done.returncode != 0 and "No module named 'keras'" in done.stderr:
        pytest.skip("keras is not importable")
    assert done.returncode == 0, done.stderr[-3000:]
    loaded, reloaded = json.loads(done.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(np.array(loaded), expected, atol=1e-5, rtol=0)
    np.testing.assert_allclose(np.array(reloaded), expected, atol=1e-5, rtol=0)
