"""Models that compute their own loss (Hugging Face style), with toy torch modules: dict
batches as keyword arguments, dict / dataclass outputs with ``loss``, ``logits`` for the
metrics and predict, targets from ``labels``, weights refused, compile's loss preferred."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

import epochal
from epochal.engine.model_outputs import split_output
from epochal.layers import Dense


@dataclasses.dataclass
class Output:
    loss: torch.Tensor | None
    logits: torch.Tensor
    hidden: torch.Tensor | None = None


class Classifier(nn.Module):
    """``forward(features, mask=None, labels=None)``: logits, and the loss with labels."""

    def __init__(self, kind: str = "dict", loss_scale: float = 1.0) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(4, 3)
        self.kind, self.loss_scale = kind, loss_scale
        self.calls: list[set[str]] = []

    def forward(self, features, mask=None, labels=None):
        self.calls.append({"features", *(["mask"] if mask is not None else [])})
        logits = self.linear(features if mask is None else features * mask)
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits, labels) * self.loss_scale
        if self.kind == "dataclass":
            return Output(loss=loss, logits=logits, hidden=logits.detach())
        out = {"logits": logits} if self.kind == "dict" else {"scores": logits}
        return {"loss": loss, **out} if loss is not None else out


def _data(n: int = 32):
    rng = np.random.default_rng(0)
    features = rng.normal(size=(n, 4)).astype("float32")
    labels = (features[:, 0] > 0).astype("int64") + (features[:, 1] > 0).astype("int64")
    return {"features": features, "mask": np.ones_like(features), "labels": labels}


def _reference_losses(kind: str, x: dict, epochs: int) -> list[float]:
    """The same training written by hand: SGD on the module's own loss, batch 8, no shuffle."""
    module = Classifier(kind)
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    means = []
    for _ in range(epochs):
        total = 0.0
        for start in range(0, 32, 8):
            batch = {k: torch.as_tensor(v[start : start + 8]) for k, v in x.items()}
            loss = split_output(module(**batch))[0]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * 8
        means.append(total / 32)
    return means


@pytest.mark.parametrize("kind", ["dict", "dataclass"])
def test_own_loss_trains_and_metrics_see_logits_with_labels_as_targets(kind):
    x = _data()
    model = epochal.Model(Classifier(kind), device="cpu")
    model.compile(optimizer=epochal.optimizers.SGD(learning_rate=0.1), metrics=["accuracy"])
    history = model.fit(x, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert history.history["loss"] == pytest.approx(_reference_losses(kind, x, 2), rel=1e-5)
    logits = model.predict(x, verbose=0)
    assert logits.shape == (32, 3)  # predict returns the logits
    accuracy = float(np.mean(logits.argmax(-1) == x["labels"]))
    result = model.evaluate(x, verbose=0, return_dict=True)
    assert result["accuracy"] == pytest.approx(accuracy)
    assert set(model.module.calls[-1]) == {"features", "mask"}


def test_first_tensor_field_when_there_are_no_logits():
    x = _data()
    model = epochal.Model(Classifier("scores"), device="cpu")
    model.compile(optimizer="sgd", metrics=["accuracy"])
    model.fit(x, batch_size=8, epochs=1, verbose=0)
    assert model.predict(x, verbose=0).shape == (32, 3)


def test_dataloader_of_dicts_and_single_batches():
    x = _data()
    rows = [{k: torch.as_tensor(v[i]) for k, v in x.items()} for i in range(32)]
    loader = torch.utils.data.DataLoader(rows, batch_size=8)
    model = epochal.Model(Classifier(), device="cpu")
    model.compile(optimizer=epochal.optimizers.SGD(learning_rate=0.1), metrics=["accuracy"])
    history = model.fit(loader, epochs=2, verbose=0)
    assert history.history["loss"] == pytest.approx(_reference_losses("dict", x, 2), rel=1e-5)
    assert set(model.evaluate(loader, verbose=0, return_dict=True)) == {"loss", "accuracy"}
    batch = {k: v[:8] for k, v in x.items()}
    logs = model.train_on_batch(batch, return_dict=True)
    assert set(logs) == {"loss", "accuracy"}
    assert model.test_on_batch(batch) == pytest.approx(model.evaluate(batch, verbose=0), rel=1e-6)
    assert model.predict_on_batch(batch).shape == (8, 3)


def test_compile_loss_is_used_when_given():
    """Keras: the compiled loss of the predictions, not the model's own (scaled by 100)."""
    x = _data()
    model = epochal.Model(Classifier(loss_scale=100.0), device="cpu")
    model.compile(
        optimizer="sgd", loss=epochal.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    loss = model.evaluate(x, verbose=0)
    logits = torch.as_tensor(model.predict(x, verbose=0))
    expected = nn.functional.cross_entropy(logits, torch.as_tensor(x["labels"]))
    assert loss == pytest.approx(float(expected), rel=1e-5)
    # weights are fine with a compiled loss; explicit y wins over labels
    model.fit(x, x["labels"], sample_weight=np.ones(32), batch_size=8, verbose=0)


def test_weights_refused_for_the_models_own_loss():
    x = _data()
    model = epochal.Model(Classifier(), device="cpu")
    model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match=r"sample_weight.*cannot weight"):
        model.fit(x, sample_weight=np.ones(32), verbose=0)
    with pytest.raises(ValueError, match="class_weight"):
        model.fit(x, class_weight={0: 1.0, 1: 2.0, 2: 1.0}, verbose=0)
    batches = [({k: torch.as_tensor(v[:8]) for k, v in x.items()}, None, torch.ones(8))]
    with pytest.raises(ValueError, match="sample_weight"):
        model.evaluate(batches, verbose=0)


def test_output_without_a_loss_and_no_compiled_loss_names_the_field():
    x = _data()
    del x["labels"]  # the module then returns no loss
    model = epochal.Model(Classifier(), device="cpu")
    model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match=r"without a loss.*no `loss` field"):
        model.fit(x, verbose=0)


def test_keys_the_forward_does_not_take_are_refused():
    x = {**_data(), "idx": np.arange(32)}
    model = epochal.Model(Classifier(), device="cpu")
    model.compile(optimizer="sgd")
    with pytest.raises(TypeError, match=r"\['idx'\].*forward does not take"):
        model.fit(x, verbose=0)


def test_keras_models_still_refuse_a_missing_loss_and_keep_tensor_steps():
    model = epochal.Sequential([Dense(2, input_shape=(4,))], device="cpu")
    model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="compiled without a loss"):
        model.fit(np.zeros((4, 4)), np.zeros((4, 2)), verbose=0)
    plain = epochal.Model(nn.Linear(4, 2), device="cpu")
    plain.compile(optimizer="sgd", loss="mse")
    plain.fit(np.zeros((4, 4)), np.zeros((4, 2)), verbose=0)
    assert plain._last_run.train_fn is None  # tensors in, tensors out: the engine's steps


def test_split_output_rules():
    logits = torch.zeros(2, 3)
    assert split_output(logits) == (None, logits)
    plain = {"a": logits}
    assert split_output(plain) == (None, plain)
    loss = torch.tensor(1.0)
    assert split_output({"loss": loss, "x": logits, "logits": logits})[1] is logits
    with pytest.raises(ValueError, match="no other tensor field"):
        split_output({"loss": loss})
