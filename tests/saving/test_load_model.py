"""load_model: custom objects, registered classes, and the errors that say what to do."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import epochal
from epochal.layers import Dense
from epochal.saving import CheckpointError, load_model, register_serializable


def my_metric(y_true, y_pred):
    return torch.mean(torch.abs(torch.reshape(y_true, (-1,)).float() - y_pred[:, 1]))


def my_loss(y_true, y_pred):
    return torch.mean((y_pred[:, 1] - y_true.float()) ** 2)


def _model(**compile_kwargs):
    torch.manual_seed(0)
    model = epochal.Sequential(
        [Dense(8, activation="relu", input_shape=(4,)), Dense(2, activation="softmax")],
        device="cpu",
    )
    model.compile(
        **{"optimizer": "adam", "loss": "sparse_categorical_crossentropy", **compile_kwargs}
    )
    return model


def test_custom_metric_and_loss_restored_by_name(tmp_path, tiny_data):
    model = _model(loss=my_loss, metrics=["accuracy", my_metric])
    model.fit(*tiny_data, epochs=1, verbose=0)
    model.save(tmp_path / "your.model.h5")
    loaded = load_model(
        tmp_path / "your.model.h5", custom_objects={"my_metric": my_metric, "my_loss": my_loss}
    )
    assert loaded.metrics_names == ["loss", "accuracy", "my_metric"]
    assert loaded.evaluate(*tiny_data, verbose=0) == model.evaluate(*tiny_data, verbose=0)


@pytest.mark.parametrize(("missing", "kind"), [("my_metric", "metric"), ("my_loss", "loss")])
def test_missing_custom_object_is_named(tmp_path, tiny_data, missing, kind):
    model = _model(loss=my_loss, metrics=[my_metric])
    model.fit(*tiny_data, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    others = {"my_metric": my_metric, "my_loss": my_loss}
    others.pop(missing)
    with pytest.raises(ValueError, match=f"Unknown {kind} function '{missing}'.*custom_objects"):
        load_model(tmp_path / "m.keras", custom_objects=others)
    # compile=False needs none of them
    assert load_model(tmp_path / "m.keras", compile=False).compiled is False


class Plain(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 2)

    def forward(self, x):
        return self.lin(x)


class Configurable(torch.nn.Module):
    def __init__(self, hidden=3):
        super().__init__()
        self.hidden = hidden
        self.a = torch.nn.Linear(4, hidden)
        self.b = torch.nn.Linear(hidden, 2)

    def forward(self, x):
        return self.b(torch.relu(self.a(x)))

    def get_config(self):
        return {"hidden": self.hidden}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def test_module_without_get_config_says_to_save_weights(tmp_path):
    model = epochal.Model(Plain(), device="cpu")
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"Plain has no get_config.*save_weights.*register"):
        model.save(tmp_path / "m.keras")
    assert not (tmp_path / "m.keras").exists()
    model.save_weights(tmp_path / "m.weights.h5")  # the advised alternative works


def test_module_class_from_custom_objects_or_registry(tmp_path, tiny_data):
    x, y = tiny_data
    model = epochal.Model(Configurable(hidden=5), device="cpu")
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, np.eye(2, dtype="float32")[y], epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    with pytest.raises(ValueError, match=r"Unknown layer/module class 'Configurable'"):
        load_model(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras", custom_objects={"Configurable": Configurable})
    assert loaded.module.hidden == 5
    assert all(
        np.array_equal(a, b) for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True)
    )
    register_serializable(Configurable)
    assert load_model(tmp_path / "m.keras").module.hidden == 5


def test_weights_only_file_is_not_a_model(tmp_path):
    model = _model()
    model.save_weights(tmp_path / "w.weights.h5")
    with pytest.raises(CheckpointError, match=r"weights only.*load_weights"):
        load_model(tmp_path / "w.weights.h5")


def test_top_level_load_model_exports():
    assert epochal.load_model is load_model
    assert "load_model" in epochal.__all__
    from epochal.models import load_model as forwarded

    assert callable(forwarded)
