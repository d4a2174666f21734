"""Optimizer EMA (``use_ema``, ``ema_momentum``, ``ema_overwrite_frequency``): Keras 3's
averages step by step, the overwrite, the finalization at the end of ``fit``, the state and
the configuration. Expected numbers: scripts/record_keras_ema.py (tests/fixtures/keras/ema.json).
"""

from __future__ import annotations

import io
import json
import subprocess
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

import epochal
from epochal import optimizers
from epochal.callbacks import Callback
from epochal.layers import Dense

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "keras" / "ema.json"
KERAS = json.loads(FIXTURE.read_text(encoding="utf-8"))
# SGD is Keras' arithmetic exactly; Adam differs by Keras' epsilon placement (~1e-6).
ATOL = {"SGD": 1e-6, "Adam": 5e-6}


def _params() -> tuple[torch.nn.Parameter, torch.nn.Parameter]:
    return (
        torch.nn.Parameter(torch.tensor(KERAS["kernel"])),
        torch.nn.Parameter(torch.tensor(KERAS["bias"])),
    )


def _close(got, want, atol, what) -> None:
    for index, (g, w) in enumerate(zip(got, want, strict=True)):
        np.testing.assert_allclose(
            torch.as_tensor(g).detach().numpy(), w, atol=atol, err_msg=f"{what} {index}"
        )


@pytest.mark.parametrize("case", sorted(KERAS["apply"]))
def test_weights_and_averages_match_keras_step_by_step(case):
    spec = KERAS["apply"][case]
    atol = ATOL[spec["class_name"]]
    kernel, bias = _params()
    opt = getattr(optimizers, spec["class_name"])(**spec["kwargs"])
    opt.build([kernel, bias])
    for index, ((grad_kernel, grad_bias), want) in enumerate(
        zip(KERAS["grads"], spec["steps"], strict=True)
    ):
        opt.zero_grad()
        kernel.grad, bias.grad = torch.tensor(grad_kernel), torch.tensor(grad_bias)
        opt.step()
        _close([kernel, bias], want["weights"], atol, f"step {index} weight")
        _close(opt.ema_variables, want["average"], atol, f"step {index} average")
        assert opt.iterations == want["iterations"]
    opt.finalize_variable_values([kernel, bias])
    _close([kernel, bias], spec["finalized"], atol, "finalized")
    assert {k: opt.get_config()[k] for k in spec["config"]} == spec["config"]


def test_accumulating_calls_update_the_average_as_keras_does():
    """Keras averages after every call, an accumulating one included (weights unchanged)."""
    spec = KERAS["apply"]["sgd_accumulate_2"]
    first, second = spec["steps"][:2]
    assert first["iterations"] == 0 and first["average"] == [KERAS["kernel"], KERAS["bias"]]
    assert second["average"] == second["weights"]  # iterations still 0: momentum 0


def test_the_first_update_copies_and_later_ones_blend():
    weight = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    opt = optimizers.SGD(1.0, use_ema=True, ema_momentum=0.5)
    opt.build([weight])
    assert torch.equal(opt.ema_variables[0], torch.zeros(2))  # Keras' zeros before any step
    for _ in range(2):
        weight.grad = torch.ones(2)
        opt.step()
    # step 1: w = [0, 1], average = w; step 2: w = [-1, 0], average = 0.5 [0, 1] + 0.5 w
    assert torch.equal(opt.ema_variables[0], torch.tensor([-0.5, 0.5]))


def test_overwrite_every_n_iterations():
    weight = torch.nn.Parameter(torch.tensor([4.0]))
    opt = optimizers.SGD(1.0, use_ema=True, ema_momentum=0.5, ema_overwrite_frequency=2)
    opt.build([weight])
    seen = []
    for _ in range(4):
        weight.grad = torch.ones(1)
        opt.step()
        seen.append((weight.item(), opt.ema_variables[0].item()))
    # 1: w 3, avg 3; 2: w 2, avg 2.5 -> w 2.5; 3: w 1.5, avg 2; 4: w 0.5, avg 1.25 -> w 1.25
    assert seen == [(3.0, 3.0), (2.5, 2.5), (1.5, 2.0), (1.25, 1.25)]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"use_ema": 1}, TypeError, "use_ema"),
        ({"use_ema": True, "ema_momentum": 1.5}, ValueError, r"`ema_momentum` must be in"),
        ({"use_ema": True, "ema_momentum": -0.1}, ValueError, "ema_momentum"),
        ({"use_ema": True, "ema_momentum": "0.9"}, TypeError, "ema_momentum"),
        ({"use_ema": True, "ema_overwrite_frequency": 1.5}, TypeError, "ema_overwrite_frequency"),
        ({"use_ema": True, "ema_overwrite_frequency": True}, TypeError, "ema_overwrite"),
        ({"use_ema": True, "ema_overwrite_frequency": -1}, ValueError, "ema_overwrite"),
    ],
)
def test_bad_arguments_are_refused_naming_them(kwargs, error, match):
    with pytest.raises(error, match=match):
        optimizers.Adam(**kwargs)


def test_zero_frequency_means_never_as_in_keras():
    opt = optimizers.SGD(use_ema=True, ema_overwrite_frequency=0)
    assert opt.ema_overwrite_frequency == 0 and opt._ema.overwrite_frequency is None


def test_config_round_trips_with_the_ema_options():
    opt = optimizers.Adam(0.01, use_ema=True, ema_momentum=0.9, ema_overwrite_frequency=3)
    config = opt.get_config()
    assert (config["use_ema"], config["ema_momentum"], config["ema_overwrite_frequency"]) == (
        True,
        0.9,
        3,
    )
    clone = optimizers.from_config("Adam", config)
    assert clone.get_config() == config and clone.use_ema
    plain = optimizers.SGD().get_config()
    assert (plain["use_ema"], plain["ema_momentum"], plain["ema_overwrite_frequency"]) == (
        False,
        0.99,
        None,
    )


def test_state_dict_carries_the_averages():
    weight = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    opt = optimizers.Adam(0.1, use_ema=True)
    opt.build([weight])
    for _ in range(3):
        weight.grad = torch.tensor([0.5, -1.0])
        opt.step()
    state = opt.state_dict()
    assert torch.equal(state["average"]["0"], opt.ema_variables[0])
    other_weight = torch.nn.Parameter(weight.detach().clone())
    other = optimizers.Adam(0.1, use_ema=True)
    other.build([other_weight])
    other.load_state_dict(state)
    assert torch.equal(other.ema_variables[0], opt.ema_variables[0])
    assert other.ema_variables[0] is not state["average"]["0"]


def test_no_ema_means_no_average_and_swap_is_refused():
    weight = torch.nn.Parameter(torch.zeros(1))
    opt = optimizers.SGD()
    opt.build([weight])
    assert opt.ema_variables is None and "average" not in opt.state_dict()
    opt.finalize_variable_values()  # nothing to do
    with pytest.raises(ValueError, match="use_ema=True"):
        opt.swap_ema_weights()


def test_finalize_checks_the_length_and_skips_before_any_update():
    weight = torch.nn.Parameter(torch.tensor([3.0]))
    opt = optimizers.SGD(use_ema=True)
    opt.build([weight])
    opt.finalize_variable_values()  # no average yet: the weight is kept, not zeroed
    assert weight.item() == 3.0
    weight.grad = torch.ones(1)
    opt.step()
    with pytest.raises(ValueError, match="length of model variables"):
        opt.finalize_variable_values([weight, weight])


def test_a_wrapped_torch_optimizer_averages_too():
    """The fused torch Adam path: the facade averages after torch's step."""
    torch.manual_seed(0)
    results = []
    for make in (
        lambda p: optimizers.Adam(0.01, use_ema=True, ema_momentum=0.9),
        lambda p: optimizers.Optimizer.wrap(
            torch.optim.Adam(p, lr=0.01, eps=1e-7, fused=True), use_ema=True, ema_momentum=0.9
        ),
    ):
        weight = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5]))
        opt = make([weight])
        if not opt.built:
            opt.build([weight])
        for step in range(4):
            weight.grad = torch.tensor([0.3, -0.1, 0.2]) * (step + 1)
            opt.step()
        results.append((weight.detach().clone(), opt.ema_variables[0].clone()))
    # Adam follows Keras' epsilon placement, the wrapped torch Adam torch's own: the same
    # update up to that rule (tests/optimizers/test_adam_epsilon.py), averaged alike.
    torch.testing.assert_close(results[0][0], results[1][0], rtol=0, atol=1e-5)
    torch.testing.assert_close(results[0][1], results[1][1], rtol=0, atol=1e-5)


# ---------------------------------------------------------------------------- fit


def _fit_model(spec: dict) -> epochal.Sequential:
    data = KERAS["fit_data"]
    model = epochal.Sequential(
        [epochal.Input(shape=(3,)), Dense(4, activation="relu"), Dense(1)], device="cpu"
    )
    model.compile(optimizer=getattr(optimizers, spec["class_name"])(**spec["kwargs"]), loss="mse")
    model.set_weights([np.array(w, dtype="float32") for w in data["weights"]])
    return model


class _Weights(Callback):
    def __init__(self) -> None:
        super().__init__()
        self.epoch_end: list = []
        self.train_end: list = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_end.append(self.model.get_weights())

    def on_train_end(self, logs=None):
        self.train_end = self.model.get_weights()


def fit_case(name: str, callbacks: list) -> tuple[epochal.Sequential, _Weights, dict]:
    spec = KERAS["fit"][name]
    data = KERAS["fit_data"]
    model = _fit_model(spec)
    recorder = _Weights()
    history = model.fit(
        np.array(data["x"], "float32"),
        np.array(data["y"], "float32"),
        batch_size=4,
        epochs=2,
        shuffle=False,
        validation_data=(np.array(data["val_x"], "float32"), np.array(data["val_y"], "float32")),
        callbacks=[*callbacks, recorder],
        verbose=0,
    )
    return model, recorder, history.history


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_fit_finalizes_the_weights_to_their_averages_as_keras(optimizer):
    spec = KERAS["fit"][f"{optimizer}_none"]
    atol = ATOL[spec["class_name"]]
    model, recorder, history = fit_case(f"{optimizer}_none", [])
    for key, values in spec["history"].items():
        np.testing.assert_allclose(history[key], values, atol=atol)
    for epoch, want in enumerate(spec["epoch_end_weights"]):
        _close(recorder.epoch_end[epoch], want, atol, f"epoch {epoch}")
    # on_train_end already sees the finalized (averaged) weights, as in Keras
    _close(recorder.train_end, spec["train_end_weights"], atol, "train end")
    _close(model.get_weights(), spec["final_weights"], atol, "final")
    _close(model.optimizer.ema_variables, spec["final_average"], atol, "average")
    assert model.optimizer.iterations == spec["iterations"]
    data = KERAS["fit_data"]
    result = model.evaluate(
        np.array(data["val_x"], "float32"),
        np.array(data["val_y"], "float32"),
        verbose=0,
        return_dict=True,
    )
    assert result["loss"] == pytest.approx(spec["evaluate"]["loss"], abs=atol)


def test_fit_without_ema_keeps_the_last_weights():
    spec = dict(KERAS["fit"]["sgd_none"], kwargs={"learning_rate": 0.1})
    model = _fit_model(spec)
    data = KERAS["fit_data"]
    seen = _Weights()
    model.fit(
        np.array(data["x"], "float32"),
        np.array(data["y"], "float32"),
        batch_size=4,
        epochs=1,
        shuffle=False,
        callbacks=[seen],
        verbose=0,
    )
    for got, want in zip(model.get_weights(), seen.epoch_end[-1], strict=True):
        assert np.array_equal(got, want)


def test_an_interrupted_fit_is_not_finalized():
    """A fit ended by an interrupt resumes from its backup: its weights stay the raw ones."""

    class Interrupt(Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.train_state.interrupt_requested = True

    spec = KERAS["fit"]["sgd_none"]
    model = _fit_model(spec)
    data = KERAS["fit_data"]
    seen = []

    class Last(Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(self.model.get_weights())

    model.fit(
        np.array(data["x"], "float32"),
        np.array(data["y"], "float32"),
        batch_size=4,
        epochs=2,
        shuffle=False,
        callbacks=[Interrupt(), Last()],
        verbose=0,
    )
    for got, want in zip(model.get_weights(), seen[-1], strict=True):
        assert np.array_equal(got, want)


# ---------------------------------------------------------------------------- Keras files
KERAS_FILE = FIXTURE.parent / "ema_adam.keras"
KERAS_PYTHON = Path("/work/kerasenv/bin/python")


def _file_averages() -> list[np.ndarray]:
    record = KERAS["file"]
    return [
        np.array(value)
        for path, value in zip(record["variables"], record["values"], strict=True)
        if path.endswith("_average")
    ]


def test_a_keras_file_brings_its_ema_averages_and_options():
    record = KERAS["file"]
    model = epochal.load_model(KERAS_FILE)
    opt = model.optimizer
    assert (opt.use_ema, opt.ema_momentum, opt.ema_overwrite_frequency) == (True, 0.9, 3)
    assert opt.iterations == 2
    _close(model.get_weights(), record["weights"], 0, "weight")
    _close(opt.ema_variables, _file_averages(), 0, "average")


def test_epochal_writes_the_averages_where_keras_keeps_them(tmp_path):
    model = epochal.load_model(KERAS_FILE)
    model.save(tmp_path / "again.keras")
    with zipfile.ZipFile(tmp_path / "again.keras") as archive:
        config = json.loads(archive.read("config.json"))
        weights = archive.read("model.weights.h5")
    options = config["compile_config"]["optimizer"]["config"]
    assert (options["use_ema"], options["ema_momentum"], options["ema_overwrite_frequency"]) == (
        True,
        0.9,
        3,
    )
    with h5py.File(io.BytesIO(weights)) as f:
        saved = [f[f"optimizer/vars/{i}"][()] for i in range(len(f["optimizer/vars"]))]
    want = KERAS["file"]["values"]
    assert len(saved) == len(want) == 14
    for index, (got, value) in enumerate(zip(saved, want, strict=True)):
        np.testing.assert_array_equal(got, np.asarray(value, dtype=got.dtype), err_msg=f"{index}")
    again = epochal.load_model(tmp_path / "again.keras")
    _close(again.optimizer.ema_variables, _file_averages(), 0, "reloaded average")


_KERAS_READS = """
import json, sys
import keras
model = keras.saving.load_model(sys.argv[1])
opt = model.optimizer
print(json.dumps({
    "options": [opt.use_ema, opt.ema_momentum, opt.ema_overwrite_frequency],
    "averages": [keras.ops.convert_to_numpy(v).tolist()
                 for v in opt._model_variables_moving_average],
}))
"""


@pytest.mark.skipif(not KERAS_PYTHON.exists(), reason="needs the Keras oracle environment")
def test_real_keras_reads_the_averages_epochal_writes(tmp_path):
    model = _fit_model(KERAS["fit"]["adam_none"])
    data = KERAS["fit_data"]
    model.fit(
        np.array(data["x"], "float32"), np.array(data["y"], "float32"), batch_size=4, verbose=0
    )
    model.save(tmp_path / "ema.keras")
    script = tmp_path / "read.py"
    script.write_text(_KERAS_READS)
    done = subprocess.run(
        [str(KERAS_PYTHON), str(script), str(tmp_path / "ema.keras")],
        capture_output=True,
        text=True,
        timeout=300,
        env={"KERAS_BACKEND": "torch", "PATH": "/usr/bin:/bin"},
    )
    if done.returncode != 0 and "No module named 'keras'" in done.stderr:
        pytest.skip("keras is not importable")
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["options"] == [True, 0.9, 3]
    # fit finalized the weights: they equal the averages, which Keras reads back
    _close(model.optimizer.ema_variables, got["averages"], 0, "keras average")
