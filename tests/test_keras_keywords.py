"""No Keras keyword is accepted and ignored (issue 11, item 7).

Keras 3's parameters of ``compile`` / ``fit`` / ``evaluate`` / ``predict`` / the batch
methods / ``save`` / ``save_weights`` / ``load_weights`` / ``load_model`` / ``summary``, of
every callback and of every layer are recorded by ``scripts/record_keras_outputs.py`` into
``tests/fixtures/keras/keywords.json`` (no Keras needed here). Each one must be in epochal's
signature (implemented), or be refused loudly: a TypeError/ValueError naming it, or a
one-time warning where Keras itself tolerates it.
"""

from __future__ import annotations

import inspect
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import epochal
from epochal import callbacks as callbacks_module
from epochal import layers as layers_module
from epochal.models import model as model_module
from epochal.saving import load_model

KEYWORDS = json.loads(
    (Path(__file__).resolve().parent / "fixtures" / "keras" / "keywords.json").read_text(
        encoding="utf-8"
    )
)
VARIADIC = ("VAR_KEYWORD", "VAR_POSITIONAL")

OURS = {
    "compile": epochal.Model.compile,
    "fit": epochal.Model.fit,
    "evaluate": epochal.Model.evaluate,
    "predict": epochal.Model.predict,
    "train_on_batch": epochal.Model.train_on_batch,
    "test_on_batch": epochal.Model.test_on_batch,
    "predict_on_batch": epochal.Model.predict_on_batch,
    "save": epochal.Model.save,
    "save_weights": epochal.Model.save_weights,
    "load_weights": epochal.Model.load_weights,
    "load_model": load_model,
    "summary": epochal.Model.summary,
}

# Keras keywords whose every value does in epochal what it does in Keras on torch, though no
# code path depends on them (the reason says why). Kept short and explained.
HONOURED_AS_IS = {
    ("compile", "run_eagerly"): "Keras on torch runs the step eagerly unless jit_compile; so "
    "does epochal, always",
    ("compile", "auto_scale_loss"): "Keras scales the loss only under the mixed_float16 "
    "policy; so does epochal (GradScaler), and the test model is float32",
    ("load_model", "safe_mode"): "epochal files hold no code (JSON and tensors, no pickle): "
    "every load is safe",
}

# Keras keywords epochal tolerates for a value it does not honour with a one-time warning.
WARN_ONCE = {
    ("compile", "steps_per_execution"): {"steps_per_execution": 4},
}

# Keras keywords refused (ValueError naming them) for the values epochal does not honour.
REFUSED = {
    ("save", "zipped"): {"zipped": False},
    ("save_weights", "max_shard_size"): {"max_shard_size": "5GB"},
    ("load_weights", "skip_mismatch"): {"skip_mismatch": True},
    ("summary", "line_length"): {"line_length": 120},
    ("summary", "positions"): {"positions": [0.4, 0.7, 1.0]},
    ("summary", "expand_nested"): {"expand_nested": True},
    ("summary", "show_trainable"): {"show_trainable": True},
    ("summary", "layer_range"): {"layer_range": ["dense", "dense"]},
}

# Accepted and dropped: must stay empty.
IGNORED: set[tuple[str, str]] = set()


def _keras_params(group: str, name: str) -> list[dict]:
    table = KEYWORDS["methods"] if group == "methods" else KEYWORDS[group]
    return [p for p in table[name] if p["kind"] not in VARIADIC]


METHOD_KEYWORDS = [(method, p["name"]) for method in OURS for p in _keras_params("methods", method)]


@pytest.mark.parametrize(("method", "keyword"), METHOD_KEYWORDS)
def test_every_keras_keyword_of_the_model_api_is_in_our_signature(method, keyword):
    assert (method, keyword) not in IGNORED
    assert keyword in inspect.signature(OURS[method]).parameters, (
        f"Keras' {method}({keyword}=...) is missing from epochal's {method}()"
    )


@pytest.mark.parametrize("method", sorted(OURS))
def test_keras_positional_order_is_ours(method):
    keras_order = [
        p["name"]
        for p in KEYWORDS["methods"][method]
        if p["kind"] in ("POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD")
    ]
    ours = [
        name
        for name, p in inspect.signature(OURS[method]).parameters.items()
        if name != "self" and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    assert ours[: len(keras_order)] == keras_order


def test_the_exception_tables_name_real_keras_keywords():
    for method, keyword in [*HONOURED_AS_IS, *WARN_ONCE, *REFUSED]:
        assert (method, keyword) in METHOD_KEYWORDS


def _model() -> epochal.Model:
    torch.manual_seed(0)
    model = epochal.Sequential(
        [epochal.layers.Dense(2, input_shape=(3,), name="dense")], device="cpu"
    )
    model.compile(optimizer="sgd", loss="mse")
    return model


def _call(method: str, model: epochal.Model, tmp_path: Path, **kwargs):
    x, y = np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32)
    if method == "compile":
        return model.compile(optimizer="sgd", loss="mse", **kwargs)
    if method == "save":
        return model.save(tmp_path / "m.keras", **kwargs)
    if method == "save_weights":
        return model.save_weights(tmp_path / "m.weights.h5", **kwargs)
    if method == "load_weights":
        model.save_weights(tmp_path / "w.weights.h5")
        return model.load_weights(tmp_path / "w.weights.h5", **kwargs)
    if method == "load_model":
        model.save(tmp_path / "saved.keras")
        return load_model(tmp_path / "saved.keras", **kwargs)
    if method == "summary":
        return model.summary(print_fn=lambda _text: None, **kwargs)
    if method in ("predict", "predict_on_batch"):
        return getattr(model, method)(x, **kwargs)
    if method == "fit":
        return model.fit(x, y, verbose=0, **kwargs)
    if method == "evaluate":
        return model.evaluate(x, y, verbose=0, **kwargs)
    return getattr(model, method)(x, y, **kwargs)


@pytest.mark.parametrize(("method", "keyword"), sorted(REFUSED))
def test_unhonoured_values_are_refused_naming_the_keyword(method, keyword, tmp_path):
    with pytest.raises((TypeError, ValueError), match=keyword):
        _call(method, _model(), tmp_path, **REFUSED[(method, keyword)])


@pytest.mark.parametrize(("method", "keyword"), sorted(WARN_ONCE))
def test_tolerated_values_warn_once(method, keyword, tmp_path, monkeypatch):
    monkeypatch.setattr(model_module, "_WARNED", set())
    model = _model()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _call(method, model, tmp_path, **WARN_ONCE[(method, keyword)])
        _call(method, model, tmp_path, **WARN_ONCE[(method, keyword)])
    named = [w for w in caught if keyword in str(w.message)]
    assert len(named) == 1


@pytest.mark.parametrize(("method", "keyword"), sorted(HONOURED_AS_IS))
def test_keywords_honoured_as_is_take_every_keras_value_silently(method, keyword, tmp_path):
    for value in (True, False):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            _call(method, _model(), tmp_path, **{keyword: value})


@pytest.mark.parametrize(
    ("method", "kwargs"),
    [
        ("compile", {"jit_compile": "always"}),
        ("compile", {"steps_per_execution": 0}),
        ("compile", {"run_eagerly": "yes"}),
        ("load_model", {"safe_mode": "no"}),
        ("save", {"save_format": "tf"}),
        ("save", {"include_optimizer": False}),
        ("load_weights", {"by_name": True}),
    ],
)
def test_bad_or_legacy_values_are_refused(method, kwargs, tmp_path):
    (keyword,) = kwargs
    with pytest.raises((TypeError, ValueError), match=keyword):
        _call(method, _model(), tmp_path, **kwargs)


@pytest.mark.parametrize("method", sorted(OURS))
def test_unknown_keywords_are_refused(method, tmp_path):
    with pytest.raises((TypeError, ValueError), match="not_a_keras_keyword"):
        _call(method, _model(), tmp_path, not_a_keras_keyword=1)


def test_save_format_naming_the_suffix_is_accepted(tmp_path):
    model = _model()
    model.save(tmp_path / "m.keras", save_format="keras")
    model.save(tmp_path / "m.h5", save_format="h5")
    assert (tmp_path / "m.keras").exists() and (tmp_path / "m.h5").exists()


# ---------------------------------------------------------------- callbacks


def _our_callbacks() -> list[str]:
    return sorted(
        name
        for name in callbacks_module.__all__
        if name in KEYWORDS["callbacks"] and inspect.isclass(getattr(callbacks_module, name))
    )


CALLBACK_KEYWORDS = [
    (name, p["name"]) for name in _our_callbacks() for p in _keras_params("callbacks", name)
]


@pytest.mark.parametrize(("name", "keyword"), CALLBACK_KEYWORDS)
def test_every_keras_keyword_of_our_callbacks_is_in_their_signature(name, keyword):
    cls = getattr(callbacks_module, name)
    assert keyword in inspect.signature(cls.__init__).parameters


CALLBACK_REQUIRED = {
    "BackupAndRestore": {"backup_dir": "unused"},
    "CSVLogger": {"filename": "unused.csv"},
    "LearningRateScheduler": {"schedule": lambda epoch, lr: lr},
    "ModelCheckpoint": {"filepath": "unused.keras"},
    "RemoteMonitor": {},
}

# Keras itself takes any keyword here: LambdaCallback sets each as a hook,
# ReduceLROnPlateau drops unknown ones silently (epochal warns).
CALLBACKS_TAKING_ANY_KEYWORD = {"LambdaCallback", "ReduceLROnPlateau", "CallbackList"}


@pytest.mark.parametrize("name", _our_callbacks())
def test_our_callbacks_refuse_unknown_keywords(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cls = getattr(callbacks_module, name)
    kwargs = dict(CALLBACK_REQUIRED.get(name, {}))
    if name == "ReduceLROnPlateau":
        with pytest.warns(UserWarning, match="not_a_keras_keyword"):
            cls(**kwargs, not_a_keras_keyword=1)
    elif name in CALLBACKS_TAKING_ANY_KEYWORD:
        cls(**kwargs, not_a_keras_keyword=1)  # as in Keras
    else:
        with pytest.raises((TypeError, ValueError), match="not_a_keras_keyword"):
            cls(**kwargs, not_a_keras_keyword=1)


# ---------------------------------------------------------------- layers

# Placeholder values for required arguments, by parameter name (extend for new layers).
REQUIRED_BY_NAME = {
    "units": 2,
    "filters": 2,
    "kernel_size": 3,
    "rate": 0.5,
    "input_dim": 5,
    "output_dim": 2,
    "target_shape": (2, 2),
    "activation": "relu",
    "pool_size": 2,
    "stddev": 0.1,
    "dims": (1,),
    "n": 2,
    "scale": 1.0,
    "height": 3,
    "width": 3,
    "factor": 0.1,
    "height_factor": 0.1,
    "width_factor": 0.1,
    "layer": lambda: layers_module.Dense(2),
    "axes": 1,
    "num_heads": 2,
    "key_dim": 2,
    "function": lambda: abs,
}
# Layers whose every argument has a default but that still need one to be made.
REQUIRED_BY_LAYER = {
    "InputLayer": {"shape": (3,)},
    "Bidirectional": {"layer": lambda: layers_module.LSTM(2)},
}


class _Placeholder:
    """A value no layer option takes: a layer that accepts it has not checked it."""

    def __repr__(self) -> str:
        return "<placeholder>"


def _our_layers() -> list[str]:
    names = [*layers_module.LAYER_CLASSES, "Layer", "InputLayer"]
    return sorted({n for n in names if n in KEYWORDS["layers"]})


def _layer_required(name: str) -> dict:
    required = {k: v() if callable(v) else v for k, v in REQUIRED_BY_LAYER.get(name, {}).items()}
    for p in KEYWORDS["layers"][name]:
        if p["kind"] in VARIADIC or p["default"] is not None:
            continue
        if p["name"] in required:
            continue
        assert p["name"] in REQUIRED_BY_NAME, f"add a placeholder for {name}({p['name']}=...)"
        value = REQUIRED_BY_NAME[p["name"]]
        required[p["name"]] = value() if callable(value) else value
    return required


LAYER_KEYWORDS = [
    (name, p["name"])
    for name in _our_layers()
    for p in _keras_params("layers", name)
    if p["default"] is not None
]


BASE_LAYER_KEYWORDS = set(inspect.signature(layers_module.Layer.__init__).parameters)


@pytest.mark.parametrize(("name", "keyword"), LAYER_KEYWORDS)
def test_every_keras_layer_keyword_is_implemented_or_refused(name, keyword):
    cls = getattr(layers_module, name)
    own = inspect.signature(cls.__init__).parameters
    if keyword in own or ("kwargs" in own and keyword in BASE_LAYER_KEYWORDS):
        return  # implemented, by the layer or by Layer (the layer tests check what it does)
    with pytest.raises((TypeError, ValueError, NotImplementedError), match=keyword):
        cls(**_layer_required(name), **{keyword: _Placeholder()})


@pytest.mark.parametrize("name", _our_layers())
def test_our_layers_refuse_unknown_keywords(name):
    cls = getattr(layers_module, name)
    with pytest.raises((TypeError, ValueError), match="not_a_keras_keyword"):
        cls(**_layer_required(name), not_a_keras_keyword=1)
