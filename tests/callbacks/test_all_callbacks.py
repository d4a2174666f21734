"""One contract over every callback that ``epochal.callbacks`` exports.

A new callback is picked up automatically from ``__all__``; if it needs constructor
arguments, add a factory to ``FACTORIES`` (the test fails until then).
"""

from __future__ import annotations

import inspect
import warnings
from pathlib import Path

import numpy as np
import pytest

import epochal
from epochal import callbacks as cb
from epochal.callbacks.callback import HOOKS, Callback
from epochal.saving import state_file
from tests.conftest import make_model


class _MemoryTracking:
    """The part of MLflow's client MLflowLogger uses, in memory (the real store is tested in
    test_mlflow_logger.py)."""

    def __init__(self):
        self.runs: dict[str, dict] = {}

    def get_experiment_by_name(self, name):
        return None

    def create_experiment(self, name, **kwargs):
        return "0"

    def create_run(self, experiment_id, run_name=None):
        run_id = f"run{len(self.runs)}"
        self.runs[run_id] = {"status": "RUNNING", "metrics": []}

        class Run:
            class info:
                pass

        Run.info.run_id = run_id
        return Run

    def log_batch(self, run_id, metrics=(), params=()):
        self.runs[run_id]["metrics"].extend(metrics)

    def log_artifact(self, run_id, path, artifact_path=None):
        pass

    def set_terminated(self, run_id, status="FINISHED"):
        self.runs[run_id]["status"] = status

    def update_run(self, run_id, status=None):
        self.runs[run_id]["status"] = status

    def delete_run(self, run_id):
        self.runs.pop(run_id, None)


# Callbacks that need arguments (or must not touch the network / the current folder).
FACTORIES = {
    "BackupAndRestore": lambda tmp: cb.BackupAndRestore(tmp / "backup", delete_checkpoint=False),
    "CSVLogger": lambda tmp: cb.CSVLogger(str(tmp / "log.csv")),
    "LearningRateScheduler": lambda tmp: cb.LearningRateScheduler(lambda epoch, lr: lr),
    "LivePlot": lambda tmp: cb.LivePlot(tmp / "curves.png"),
    "MLflowLogger": lambda tmp: cb.MLflowLogger(client=_MemoryTracking()),
    "ModelCheckpoint": lambda tmp: cb.ModelCheckpoint(
        str(tmp / "w.weights.h5"), save_weights_only=True
    ),
    "RemoteMonitor": lambda tmp: cb.RemoteMonitor(sender=lambda *args, **kwargs: None),
    "TensorBoard": lambda tmp: cb.TensorBoard(log_dir=str(tmp / "tb")),
    "WandbLogger": lambda tmp: cb.WandbLogger(mode="offline", dir=tmp / "wandb"),  # no network
}
# Callbacks that need more of the model than make_model() gives (compile arguments).
MODEL_KWARGS = {
    "SwapEMAWeights": lambda: {"optimizer": epochal.optimizers.SGD(use_ema=True)},
}
# Exported names that are not callbacks one puts in a list (bases, the dispatcher).
NOT_STANDALONE = {"Callback", "CallbackList", "MonitorCallback"}

EXPORTED = sorted(
    name
    for name in cb.__all__
    if inspect.isclass(getattr(cb, name)) and issubclass(getattr(cb, name), Callback)
)
STANDALONE = [name for name in EXPORTED if name not in NOT_STANDALONE]


def build(name: str, tmp_path: Path) -> Callback:
    factory = FACTORIES.get(name)
    if factory is not None:
        return factory(tmp_path)
    cls = getattr(cb, name)
    required = [
        p
        for p in inspect.signature(cls).parameters.values()
        if p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    assert not required, f"{name} needs {[p.name for p in required]}: add it to FACTORIES"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # BaseLogger is legacy
        return cls()


@pytest.mark.parametrize("name", EXPORTED)
def test_hook_overrides_keep_the_keras_signature(name):
    cls = getattr(cb, name)
    for hook in (*HOOKS, "on_batch_begin", "on_batch_end"):
        mine = getattr(cls, hook)
        if mine is getattr(Callback, hook):
            continue
        base = list(inspect.signature(getattr(Callback, hook)).parameters)
        own = list(inspect.signature(mine).parameters)
        assert own[: len(base)] == base, f"{name}.{hook}{tuple(own)} != Callback{tuple(base)}"


@pytest.mark.parametrize("name", EXPORTED)
def test_documented_with_the_keras_argument_list(name):
    cls = getattr(cb, name)
    doc = inspect.getdoc(cls) or ""
    assert doc.strip(), f"{name} has no docstring"
    own_init = "__init__" in vars(cls)
    params = [p for p in inspect.signature(cls).parameters if p not in ("args", "kwargs")]
    if own_init and params:
        assert "Args:" in doc, f"{name} documents no arguments"
        for param in params:
            assert param in doc, f"{name}'s docstring does not mention {param!r}"


@pytest.mark.parametrize("name", STANDALONE)
def test_state_round_trips_through_a_backup_file(name, tmp_path):
    callback = build(name, tmp_path)
    state = callback.state_dict()
    assert isinstance(state, dict)
    path = state_file.write_state(tmp_path / "s.safetensors", {"cb": state})
    callback.load_state_dict(state_file.read_state(path)["cb"])


@pytest.mark.parametrize("name", STANDALONE)
def test_state_key_is_stable_and_names_the_class(name, tmp_path):
    # A resumed fit hands saved states over by state_key: the same construction in a new
    # process must give the same key.
    first, second = build(name, tmp_path), build(name, tmp_path)
    assert isinstance(first.state_key, str)
    assert first.state_key.startswith(type(first).__qualname__)
    assert first.state_key == second.state_key


@pytest.mark.parametrize("name", STANDALONE)
def test_runs_through_fit_evaluate_and_predict(name, tmp_path, tiny_data):
    x, y = tiny_data
    model = make_model(**MODEL_KWARGS.get(name, dict)())
    callback = build(name, tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. a monitor missing without validation data
        history = model.fit(
            x,
            y,
            batch_size=10,
            epochs=2,
            validation_split=0.25,
            callbacks=[callback],
            verbose=0,
        )
        model.evaluate(x, y, batch_size=10, callbacks=[callback], verbose=0)
        model.predict(x, batch_size=10, callbacks=[callback], verbose=0)
    assert history.epoch == [0, 1]
    assert callback.model is model


@pytest.mark.parametrize("name", STANDALONE)
def test_sees_the_model_only_as_a_callback_host(name, tmp_path):
    callback = build(name, tmp_path)
    model = make_model()
    callback.set_model(model)
    assert isinstance(callback.model, cb.CallbackHost)


def test_every_exported_callback_is_covered():
    assert set(EXPORTED) >= {"EarlyStopping", "ModelCheckpoint", "BackupAndRestore"}
    assert all(name in FACTORIES or name in NOT_STANDALONE or name in EXPORTED for name in EXPORTED)
    assert np.all([isinstance(getattr(epochal.callbacks, n), type) for n in EXPORTED])
