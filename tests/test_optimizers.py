"""Keras-named optimizers over torch optimizers: defaults, learning rate, decay, state."""

from __future__ import annotations

import io
import math
import warnings

import numpy as np
import pytest
import torch

from epochal import optimizers
from epochal.optimizers import SGD, Adagrad, Adam, AdamW, Nadam, Optimizer, RMSprop
from epochal.optimizers._rules import KerasSGD


def f32(value: float) -> float:
    return float(np.float32(value))


def built(opt: Optimizer, *shapes: int) -> tuple[Optimizer, list[torch.nn.Parameter]]:
    params = [torch.nn.Parameter(torch.ones(n)) for n in (shapes or (2,))]
    opt.build(params)
    return opt, params


def step_with_unit_grad(opt: Optimizer, params: list[torch.nn.Parameter]) -> None:
    opt.zero_grad()
    for p in params:
        p.grad = torch.ones_like(p)
    opt.step()


# ---------------------------------------------------------------- names and defaults


@pytest.mark.parametrize(
    ("name", "torch_class", "lr", "expected"),
    [
        # SGD runs Keras' momentum rule (exact when the rate changes: tests/optimizers)
        ("sgd", KerasSGD, 0.01, {"momentum": 0.0, "nesterov": False}),
        ("adam", torch.optim.Adam, 0.001, {"betas": (0.9, 0.999), "eps": 1e-7, "amsgrad": False}),
        (
            "adamw",
            torch.optim.AdamW,
            0.001,
            # weight decay is the facade's (decoupled, Keras 3), never torch's coupled one
            {"betas": (0.9, 0.999), "eps": 1e-7, "weight_decay": 0.0, "amsgrad": False},
        ),
        (
            "rmsprop",
            torch.optim.RMSprop,
            0.001,
            {"alpha": 0.9, "eps": 1e-7, "momentum": 0.0, "centered": False},
        ),
        ("adagrad", torch.optim.Adagrad, 0.001, {"initial_accumulator_value": 0.1, "eps": 1e-7}),
        ("nadam", torch.optim.NAdam, 0.001, {"betas": (0.9, 0.999), "eps": 1e-7}),
    ],
)
def test_every_keras_name_builds_the_torch_optimizer_with_keras_defaults(
    name, torch_class, lr, expected
):
    for spelling in (name, name.upper()):
        opt, _ = built(optimizers.get(spelling))
        assert type(opt.torch_optimizer) is torch_class
        group = opt.torch_optimizer.param_groups[0]
        assert group["lr"] == pytest.approx(lr, rel=1e-6)
        assert opt.learning_rate == f32(lr)
        for key, value in expected.items():
            assert group[key] == value, key


@pytest.mark.parametrize(
    ("opt", "key", "value"),
    [
        (SGD(momentum=0.9, nesterov=True), "nesterov", True),
        (SGD(momentum=0.9), "momentum", 0.9),
        (Adam(beta_1=0.8, beta_2=0.99), "betas", (0.8, 0.99)),
        (Adam(epsilon=1e-4), "eps", 1e-4),
        (RMSprop(rho=0.5), "alpha", 0.5),
        (Adagrad(initial_accumulator_value=0.5), "initial_accumulator_value", 0.5),
        (Nadam(beta_1=0.5), "betas", (0.5, 0.999)),
    ],
)
def test_keras_argument_names_map_to_torch(opt, key, value):
    built(opt)
    assert opt.torch_optimizer.param_groups[0][key] == value


def test_the_facade_builds_lazily():
    opt = Adam(learning_rate=0.01)
    assert not opt.built
    with pytest.raises(RuntimeError, match="not built"):
        opt.step()
    built(opt)
    assert opt.built


def test_get_returns_optimizer_objects_unchanged():
    opt = SGD()
    assert optimizers.get(opt) is opt


def test_unknown_name_lists_known_names():
    with pytest.raises(ValueError, match="adamm") as info:
        optimizers.get("adamm")
    for known in ("adam", "sgd", "rmsprop", "adagrad", "adamw", "nadam"):
        assert known in str(info.value)


@pytest.mark.parametrize("bad", [42, None, torch.nn.Linear(1, 1)])
def test_bad_type_is_a_type_error(bad):
    with pytest.raises(TypeError, match="optimizer"):
        optimizers.get(bad)


# ---------------------------------------------------------------- learning rate


def test_learning_rate_assignment_moves_every_param_group_float32_rounded():
    params_a = [torch.nn.Parameter(torch.ones(2))]
    params_b = [torch.nn.Parameter(torch.ones(3))]
    torch_opt = torch.optim.SGD([{"params": params_a}, {"params": params_b}], lr=0.5)
    opt = optimizers.get(torch_opt)
    opt.learning_rate = 0.1
    assert opt.learning_rate == f32(0.1)
    # float32-rounded like Keras' variables, and compared in float32 as Keras does
    assert opt.learning_rate.item() != 0.1
    assert opt.learning_rate == 0.1
    assert [g["lr"] for g in torch_opt.param_groups] == [f32(0.1), f32(0.1)]


def test_learning_rate_accepts_numpy_and_tensor_values():
    opt, _ = built(SGD())
    opt.learning_rate = np.float32(0.25)
    assert opt.learning_rate == 0.25
    opt.learning_rate = torch.tensor(0.5)
    assert opt.learning_rate == 0.5
    assert opt.torch_optimizer.param_groups[0]["lr"] == 0.5


def test_lr_is_an_alias_of_learning_rate():
    opt, _ = built(SGD(learning_rate=0.2))
    with pytest.warns(DeprecationWarning, match="`lr` is deprecated"):
        assert opt.lr == opt.learning_rate == f32(0.2)
    with pytest.warns(DeprecationWarning, match="`lr` is deprecated"):
        opt.lr = 0.05
    assert opt.learning_rate == f32(0.05)
    assert opt.torch_optimizer.param_groups[0]["lr"] == f32(0.05)


def test_reading_and_assigning_lr_warn_as_the_readme_says():
    opt = Adam(learning_rate=0.2)
    with pytest.warns(DeprecationWarning, match=r"`lr` is deprecated.*use `learning_rate`") as read:
        value = opt.lr
    assert value == f32(0.2)
    assert read[0].filename == __file__  # attributed to the caller's line
    with pytest.warns(DeprecationWarning, match=r"`lr` is deprecated.*use `learning_rate`"):
        opt.lr = 0.1
    assert opt.learning_rate == f32(0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.learning_rate = 0.3  # the current spelling stays silent
        assert opt.learning_rate == f32(0.3)


def test_assigning_before_build_applies_at_build():
    opt = Adam()
    opt.learning_rate = 0.3
    built(opt)
    assert opt.torch_optimizer.param_groups[0]["lr"] == f32(0.3)


def test_legacy_lr_keyword_warns_and_sets_the_rate():
    with pytest.warns(DeprecationWarning, match="lr"):
        opt = SGD(lr=0.2)
    assert opt.learning_rate == f32(0.2)
    with pytest.warns(DeprecationWarning, match="lr"), pytest.raises(ValueError, match="lr"):
        SGD(learning_rate=0.1, lr=0.2)


def test_the_updates_use_the_assigned_rate():
    opt, params = built(SGD(learning_rate=0.5))
    step_with_unit_grad(opt, params)
    assert torch.allclose(params[0].detach(), torch.full((2,), 0.5))
    opt.learning_rate = 0.25
    step_with_unit_grad(opt, params)
    assert torch.allclose(params[0].detach(), torch.full((2,), 0.25))
    assert opt.iterations == 2


def test_wrapping_a_torch_optimizer_keeps_the_groups_ratio():
    params_a = [torch.nn.Parameter(torch.ones(2))]
    params_b = [torch.nn.Parameter(torch.ones(2))]
    torch_opt = torch.optim.SGD([{"params": params_a}, {"params": params_b, "lr": 0.01}], lr=0.1)
    opt = optimizers.get(torch_opt)
    assert opt.torch_optimizer is torch_opt
    assert opt.learning_rate == f32(0.1)
    opt.learning_rate = 0.2
    lrs = [g["lr"] for g in torch_opt.param_groups]
    assert lrs[0] == pytest.approx(0.2, rel=1e-6)
    assert lrs[1] == pytest.approx(0.02, rel=1e-6)
    assert lrs[0] / lrs[1] == pytest.approx(10.0, rel=1e-6)


# ---------------------------------------------------------------- time-based decay


def _record_lrs(opt: Optimizer) -> list[float]:
    seen: list[float] = []
    opt.torch_optimizer.register_step_pre_hook(
        lambda o, args, kwargs: seen.append(o.param_groups[0]["lr"])
    )
    return seen


def test_decay_warns_that_it_is_the_keras_2_behaviour():
    with pytest.warns(DeprecationWarning, match="decay"):
        SGD(learning_rate=0.1, decay=0.001)


def test_time_based_decay_uses_lr0_over_one_plus_decay_times_updates_applied():
    with pytest.warns(DeprecationWarning, match="decay"):
        opt = SGD(learning_rate=0.1, decay=0.001)
    opt, params = built(opt)
    seen = _record_lrs(opt)
    for _ in range(4):
        step_with_unit_grad(opt, params)
    # SPEC §14.1: per update, not per epoch, never compounded.
    expected = [0.1, 0.0999000999, 0.0998003992, 0.0997008973]
    assert seen == pytest.approx(expected, rel=1e-6)
    assert opt.iterations == 4
    # learning_rate keeps reading lr0.
    assert opt.learning_rate == f32(0.1)
    assert opt.current_learning_rate() == pytest.approx(0.1 / 1.004, rel=1e-6)


def test_decay_moves_the_parameters_by_the_decayed_rate():
    with pytest.warns(DeprecationWarning, match="decay"):
        opt = SGD(learning_rate=0.5, decay=1.0)
    opt, params = built(opt)
    step_with_unit_grad(opt, params)  # lr 0.5
    step_with_unit_grad(opt, params)  # lr 0.25
    assert torch.allclose(params[0].detach(), torch.full((2,), 1.0 - 0.75))


def test_assigning_learning_rate_changes_lr0_and_decay_still_applies():
    with pytest.warns(DeprecationWarning, match="decay"):
        opt = SGD(learning_rate=0.1, decay=0.5)
    opt, params = built(opt)
    seen = _record_lrs(opt)
    step_with_unit_grad(opt, params)
    step_with_unit_grad(opt, params)
    opt.learning_rate = 0.04
    assert opt.learning_rate == f32(0.04)
    step_with_unit_grad(opt, params)
    assert seen == pytest.approx([0.1, 0.1 / 1.5, 0.04 / 2.0], rel=1e-6)


def test_decay_keeps_the_groups_ratio():
    params_a = [torch.nn.Parameter(torch.ones(1))]
    params_b = [torch.nn.Parameter(torch.ones(1))]
    torch_opt = torch.optim.SGD([{"params": params_a}, {"params": params_b, "lr": 0.05}], lr=0.1)
    opt = optimizers.get(torch_opt)
    opt.decay = 1.0
    for p in (*params_a, *params_b):
        p.grad = torch.ones_like(p)
    opt.step()
    opt.step()
    lrs = [g["lr"] for g in torch_opt.param_groups]
    assert lrs == pytest.approx([0.05, 0.025], rel=1e-6)


# ---------------------------------------------------------------- clipping


def test_clipvalue_and_clipnorm_limit_the_gradient():
    opt, params = built(SGD(learning_rate=1.0, clipvalue=0.5), 2)
    params[0].grad = torch.tensor([10.0, -0.25])
    opt.step()
    assert torch.allclose(params[0].detach(), torch.tensor([0.5, 1.25]))

    opt, params = built(SGD(learning_rate=1.0, clipnorm=1.0), 2)
    params[0].grad = torch.tensor([3.0, 4.0])
    opt.step()
    assert torch.allclose(params[0].detach(), torch.tensor([1.0 - 0.6, 1.0 - 0.8]), atol=1e-5)


def test_global_clipnorm_clips_all_parameters_together():
    opt, params = built(SGD(learning_rate=1.0, global_clipnorm=1.0), 1, 1)
    params[0].grad = torch.tensor([3.0])
    params[1].grad = torch.tensor([4.0])
    opt.step()
    assert params[0].item() == pytest.approx(1.0 - 0.6, abs=1e-5)
    assert params[1].item() == pytest.approx(1.0 - 0.8, abs=1e-5)


# ---------------------------------------------------------------- state


def _save_and_load(state):
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=False)


def test_state_dict_round_trip_restores_iterations_lr_and_moments():
    with pytest.warns(DeprecationWarning, match="decay"):
        opt = Adam(learning_rate=0.01, decay=0.1)
    opt, params = built(opt)
    for _ in range(3):
        step_with_unit_grad(opt, params)
    opt.learning_rate = 0.02
    state = _save_and_load(opt.state_dict())

    with pytest.warns(DeprecationWarning, match="decay"):
        fresh = Adam(learning_rate=0.5, decay=0.1)
    fresh_params = [torch.nn.Parameter(params[0].detach().clone())]
    fresh.build(fresh_params)
    fresh.load_state_dict(state)

    assert fresh.iterations == 3
    assert fresh.learning_rate == f32(0.02)
    assert fresh.torch_optimizer.param_groups[0]["lr"] == pytest.approx(0.02 / 1.3, rel=1e-6)
    moments = fresh.torch_optimizer.state[fresh_params[0]]
    original = opt.torch_optimizer.state[params[0]]
    assert torch.equal(moments["exp_avg"], original["exp_avg"])
    assert torch.equal(moments["exp_avg_sq"], original["exp_avg_sq"])

    # The next update is the same as the original's.
    step_with_unit_grad(opt, params)
    step_with_unit_grad(fresh, fresh_params)
    assert torch.equal(fresh_params[0].detach(), params[0].detach())


def test_get_config_from_config_round_trip():
    for name, opt in [
        ("SGD", SGD(learning_rate=0.3, momentum=0.5, nesterov=True)),
        ("Adam", Adam(beta_1=0.7, epsilon=1e-5)),
        ("RMSprop", RMSprop(rho=0.8, clipnorm=2.0)),
        ("Adagrad", Adagrad(initial_accumulator_value=0.2)),
        ("AdamW", AdamW(weight_decay=0.01)),
        ("Nadam", Nadam(beta_2=0.9)),
    ]:
        config = opt.get_config()
        assert config["learning_rate"] == opt.learning_rate
        clone = optimizers.from_config(name, config)
        assert type(clone) is type(opt)
        assert clone.get_config() == config


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize("bad", ["0.1", None, True, [0.1]])
def test_non_numeric_learning_rate_is_a_type_error_naming_it(bad):
    opt = SGD()
    with pytest.raises(TypeError, match="learning_rate"):
        opt.learning_rate = bad
    if bad is not None:  # None means "the Keras default" in the constructor
        with pytest.raises(TypeError, match="learning_rate"):
            SGD(learning_rate=bad)


@pytest.mark.parametrize("bad", [-0.1, math.inf, math.nan])
def test_negative_or_non_finite_learning_rate_is_a_value_error(bad):
    with pytest.raises(ValueError, match="learning_rate"):
        Adam(learning_rate=bad)
    opt = Adam()
    with pytest.raises(ValueError, match="learning_rate"):
        opt.learning_rate = bad


@pytest.mark.parametrize(("bad", "error"), [(-1.0, ValueError), ("0.1", TypeError)])
def test_bad_decay_names_the_argument(bad, error):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(error, match="decay"):
            SGD(decay=bad)


def test_unknown_keyword_argument_is_rejected_at_construction():
    with pytest.raises(ValueError, match="foo"):
        SGD(foo=1)
