"""Adam and AdamW (amsgrad included) update by update against Keras 3 over 30 updates
(tests/fixtures/keras/adam_epsilon.json, from scripts/record_keras_metrics_curve_iou.py):
torch's kernels divide by ``sqrt(v / (1 - b2^t)) + eps`` where Keras divides by
``sqrt(v) + eps`` after folding ``sqrt(1 - b2^t)`` into the rate; the optimizers give torch
the epsilon that makes the two equal, for the fused, foreach and loop kernels alike."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from epochal import optimizers
from epochal.optimizers import schedules

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "keras"
DATA = json.loads((FIXTURES / "adam_epsilon.json").read_text(encoding="utf-8"))
SCHEDULES = json.loads((FIXTURES / "schedules.json").read_text(encoding="utf-8"))["cases"]


def _optimizer(spec: dict, **extra) -> optimizers.Optimizer:
    kwargs = dict(spec["kwargs"], **extra)
    if spec["schedule"]:
        entry = SCHEDULES[spec["schedule"]]
        kwargs["learning_rate"] = getattr(schedules, entry["class_name"])(**entry["kwargs"])
    return getattr(optimizers, spec["class_name"])(**kwargs)


def _run(spec: dict, **extra) -> tuple[float, optimizers.Optimizer]:
    kernel = torch.nn.Parameter(torch.tensor(DATA["kernel"]))
    bias = torch.nn.Parameter(torch.tensor(DATA["bias"]))
    opt = _optimizer(spec, **extra)
    opt.build([kernel, bias])
    worst = 0.0
    for (grad_kernel, grad_bias), want in zip(DATA["grads"], spec["steps"], strict=True):
        opt.zero_grad()
        kernel.grad, bias.grad = torch.tensor(grad_kernel), torch.tensor(grad_bias)
        opt.step()
        for got, expected in ((kernel, want["kernel"]), (bias, want["bias"])):
            worst = max(worst, float(np.abs(got.detach().numpy() - expected).max()))
    return worst, opt


@pytest.mark.parametrize("kernel", ["default", "foreach", "loop"])
@pytest.mark.parametrize("case", sorted(DATA["cases"]))
def test_adam_and_adamw_match_keras_update_by_update(case, kernel):
    extra = {"default": {}, "foreach": {"foreach": True}, "loop": {"foreach": False}}[kernel]
    worst, opt = _run(DATA["cases"][case], **extra)
    assert worst <= 1e-6, f"max |epochal - Keras| = {worst:.3g}"
    if kernel == "default":
        assert opt.torch_optimizer.defaults.get("fused") is True  # the fast kernel is kept


def test_the_configured_epsilon_and_rate_are_unchanged_between_updates():
    opt = optimizers.Adam(learning_rate=0.01, epsilon=1e-3)
    param = torch.nn.Parameter(torch.ones(2))
    opt.build([param])
    for _ in range(3):
        param.grad = torch.ones(2)
        opt.step()
    assert opt.get_config()["eps"] == 1e-3
    assert opt.torch_optimizer.param_groups[0]["lr"] == float(np.float32(0.01))


def test_a_resumed_optimizer_continues_bit_exactly():
    spec = DATA["cases"]["adamw_schedule"]
    grads = [[torch.tensor(g) for g in pair] for pair in DATA["grads"]]

    def run(opt, params, steps):
        for grad_kernel, grad_bias in steps:
            params[0].grad, params[1].grad = grad_kernel, grad_bias
            opt.step()

    def fresh():
        params = [torch.nn.Parameter(torch.tensor(DATA["kernel"])),
                  torch.nn.Parameter(torch.tensor(DATA["bias"]))]  # fmt: skip
        opt = _optimizer(spec)
        opt.build(params)
        return opt, params

    whole, whole_params = fresh()
    run(whole, whole_params, grads)
    first, first_params = fresh()
    run(first, first_params, grads[:11])
    state = first.state_dict()
    second, second_params = fresh()
    with torch.no_grad():
        for mine, theirs in zip(second_params, first_params, strict=True):
            mine.copy_(theirs)
    second.load_state_dict(state)
    run(second, second_params, grads[11:])
    for a, b in zip(whole_params, second_params, strict=True):
        assert torch.equal(a, b)
