"""Adamax, Adadelta and Lion (and schedules driving any optimizer) update by update against
Keras 3 (tests/fixtures/keras/optimizers_extra.json, from
scripts/record_keras_schedules_metrics.py): weight decay, clipnorm, clipvalue and
global_clipnorm included."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from epochal import optimizers
from epochal.optimizers import schedules

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "keras"
DATA = json.loads((FIXTURES / "optimizers_extra.json").read_text(encoding="utf-8"))
SCHEDULES = json.loads((FIXTURES / "schedules.json").read_text(encoding="utf-8"))["cases"]


def _optimizer(spec: dict) -> optimizers.Optimizer:
    kwargs = dict(spec["kwargs"])
    if spec["schedule"]:
        entry = SCHEDULES[spec["schedule"]]
        kwargs["learning_rate"] = getattr(schedules, entry["class_name"])(**entry["kwargs"])
    return getattr(optimizers, spec["class_name"])(**kwargs)


# Every case to 1e-6 (Adam's epsilon placement included: tests/optimizers/test_adam_epsilon.py).
ATOL: dict[str, float] = {}


@pytest.mark.parametrize("case", sorted(DATA["cases"]))
def test_updates_match_keras_step_by_step(case):
    spec = DATA["cases"][case]
    atol = ATOL.get(case, 1e-6)
    kernel = torch.nn.Parameter(torch.tensor(DATA["kernel"]))
    bias = torch.nn.Parameter(torch.tensor(DATA["bias"]))
    opt = _optimizer(spec)
    opt.build([kernel, bias])
    for step, ((grad_kernel, grad_bias), want) in enumerate(
        zip(DATA["grads"], spec["steps"], strict=True)
    ):
        opt.zero_grad()
        kernel.grad, bias.grad = torch.tensor(grad_kernel), torch.tensor(grad_bias)
        opt.step()
        np.testing.assert_allclose(
            kernel.detach().numpy(), want["kernel"], rtol=1e-5, atol=atol, err_msg=f"step {step}"
        )
        np.testing.assert_allclose(
            bias.detach().numpy(), want["bias"], rtol=1e-5, atol=atol, err_msg=f"step {step}"
        )
        assert float(opt.learning_rate) == pytest.approx(want["learning_rate"], rel=1e-6)


@pytest.mark.parametrize("name", ["adamax", "adadelta", "lion"])
def test_new_optimizers_by_name_and_config_round_trip(name):
    opt = optimizers.get(name)
    assert type(opt).__name__.lower() == name
    clone = optimizers.from_config(type(opt).__name__, opt.get_config())
    assert clone.get_config() == opt.get_config()


def test_keras_defaults_and_config_names():
    assert optimizers.Adamax().get_config()["betas"] == (0.9, 0.999)
    adadelta = optimizers.Adadelta().get_config()
    assert (adadelta["learning_rate"], adadelta["rho"], adadelta["eps"]) == (
        pytest.approx(0.001),
        0.95,
        1e-7,
    )
    lion = optimizers.Lion().get_config()
    assert (lion["beta_1"], lion["beta_2"]) == (0.9, 0.99)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: optimizers.Lion(beta_1=0.0), r"`beta_1` must be in the \[0, 1\] range"),
        (lambda: optimizers.Lion(beta_2=1.5), r"`beta_2` must be in \[0, 1\]"),
        (lambda: optimizers.Adamax(beta_1=1.0), r"`beta_1` must be in \[0, 1\)"),
        (lambda: optimizers.Adadelta(rho=2.0), r"`rho` must be in \[0, 1\]"),
        (lambda: optimizers.Adadelta(momentum=0.9), r"not recognized by Adadelta.*momentum"),
    ],
)
def test_bad_hyperparameters_raise(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_state_round_trip_continues_identically():
    def run(opt, steps, w):
        for i in range(steps):
            w.grad = torch.tensor([0.3, -0.1 * i, 0.2])
            opt.step()

    for cls in (optimizers.Adamax, optimizers.Adadelta, optimizers.Lion):
        w1 = torch.nn.Parameter(torch.ones(3))
        a = cls(learning_rate=0.05)
        a.build([w1])
        run(a, 6, w1)
        w2 = torch.nn.Parameter(torch.ones(3))
        b = cls(learning_rate=0.05)
        b.build([w2])
        run(b, 3, w2)
        w3 = torch.nn.Parameter(w2.detach().clone())
        c = cls(learning_rate=0.05)
        c.build([w3])
        c.load_state_dict(b.state_dict())
        for i in range(3, 6):
            w3.grad = torch.tensor([0.3, -0.1 * i, 0.2])
            c.step()
        torch.testing.assert_close(w3, w1, rtol=0, atol=0)
