"""torchmetrics metrics in ``compile(metrics=[...])``: argument order, names, reset per
epoch, snapshots, device, resume state, refusal in ``weighted_metrics``."""

from __future__ import annotations

import copy
import subprocess
import sys

import numpy as np
import pytest
import torch

import epochal
from epochal.layers import Dense
from epochal.metrics import TorchMetric

torchmetrics = pytest.importorskip("torchmetrics")


def _classifier() -> epochal.Sequential:
    torch.manual_seed(0)
    return epochal.Sequential(
        [Dense(8, activation="relu", input_shape=(4,)), Dense(3)], device="cpu"
    )


def _data(n: int = 40):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, (x[:, 0] > 0).astype("int64") + (x[:, 1] > 0).astype("int64")


def _accuracy(**kwargs):
    return torchmetrics.classification.MulticlassAccuracy(
        num_classes=3, average="micro", validate_args=False, **kwargs
    )


def test_called_as_preds_target_and_matches_keras_accuracy():
    model = _classifier()
    model.compile(
        "adam",
        epochal.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy", _accuracy()],
    )
    x, y = _data()
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0, validation_data=(x, y))
    logs = history.history
    assert logs["multiclass_accuracy"] == pytest.approx(logs["accuracy"], abs=1e-6)
    assert logs["val_multiclass_accuracy"] == pytest.approx(logs["val_accuracy"], abs=1e-6)
    result = model.evaluate(x, y, verbose=0, return_dict=True)
    assert result["multiclass_accuracy"] == pytest.approx(result["accuracy"], abs=1e-6)
    assert model.metric_direction("val_multiclass_accuracy") == "up"


def test_regression_metric_class_and_own_name():
    model = epochal.Sequential([Dense(1, input_shape=(4,))], device="cpu")
    named = torchmetrics.MeanAbsoluteError()
    model.compile(
        "sgd",
        "mse",
        metrics=[torchmetrics.MeanSquaredError, TorchMetric(named, name="tm_mae"), "mae"],
    )
    x, _ = _data()
    target = x[:, :1] * 2
    history = model.fit(x, target, batch_size=8, epochs=2, verbose=0)
    logs = history.history
    assert logs["mean_squared_error"] == pytest.approx(logs["loss"], rel=1e-5)
    assert logs["tm_mae"] == pytest.approx(logs["mae"], rel=1e-5)
    assert model.metric_direction("mean_squared_error") == "down"


def test_reset_every_epoch():
    """Epoch values are the epoch's own: equal to a fresh metric on the epoch's batches."""
    model = _classifier()
    metric = _accuracy()
    model.compile(
        "sgd",
        epochal.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[metric],
    )
    x, y = _data()
    model.fit(x, y, batch_size=8, epochs=3, verbose=0, shuffle=False)
    assert metric.update_count == 5  # 40 / 8 batches: the last epoch's only


def test_weighted_metrics_refuse_torchmetrics():
    model = _classifier()
    for given in (_accuracy(), torchmetrics.MeanSquaredError, TorchMetric(_accuracy())):
        with pytest.raises(TypeError, match=r"weighted_metrics.*torchmetrics"):
            model.compile("sgd", "mse", weighted_metrics=[given])
    with pytest.raises(TypeError, match="no sample_weight"):
        TorchMetric(_accuracy()).update(torch.zeros(2), torch.zeros(2, 3), torch.ones(2))


def test_snapshot_is_frozen_and_state_round_trips():
    metric = TorchMetric(_accuracy())
    preds = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]])
    metric.update(torch.tensor([0, 1]), preds)
    frozen = copy.copy(metric)
    metric.update(torch.tensor([1, 0]), preds)  # both wrong
    assert float(frozen.result()) == 1.0
    assert float(metric.result()) == 0.5
    state = metric.state_dict()
    other = TorchMetric(_accuracy())
    other.load_state_dict(state)
    assert float(other.result()) == 0.5
    other.reset()
    assert float(other.result()) == 0.0  # Keras: 0 before any update, no warning


def test_list_states_round_trip():
    auroc = TorchMetric(torchmetrics.classification.BinaryAUROC(validate_args=False))
    auroc.update(torch.tensor([0, 1, 1, 0]), torch.tensor([0.1, 0.9, 0.8, 0.3]))
    other = TorchMetric(torchmetrics.classification.BinaryAUROC(validate_args=False))
    other.load_state_dict(auroc.state_dict())
    assert float(other.result()) == pytest.approx(1.0)


def test_epochal_imports_without_torchmetrics():
    code = (
        "import sys; sys.modules['torchmetrics'] = None\n"
        "import epochal\n"
        "from epochal.metrics import get, is_torchmetric\n"
        "assert not is_torchmetric(object())\n"
        "assert get('accuracy').name == 'accuracy'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
def test_torchrun_reduces_states_by_their_declared_reduction(tmp_path):
    """Two gloo ranks: the epoch and evaluate values of torchmetrics metrics (sum, mean,
    max, min and cat states) equal a single process run with the global batch, on every
    rank, and torchmetrics' own synchronisation does not run on top of epochal's."""
    import json
    import os
    import signal
    from pathlib import Path

    tests = Path(__file__).resolve().parents[1]
    env = {
        **os.environ,
        "PYTHONPATH": f"{tests.parent / 'src'}{os.pathsep}{tests}",
        "OMP_NUM_THREADS": "1",
        "GLOO_SOCKET_IFNAME": "lo",
    }
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "--monitor-interval=0.2", str(tests / "_dist_torchmetrics.py"), str(tmp_path), "4",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        output, _ = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"torchrun hung:\n{output[-4000:]}")
    assert process.returncode == 0, output[-4000:]
    ranks = [json.loads((tmp_path / f"tm.rank{r}.json").read_text()) for r in range(2)]
    assert ranks[0]["world_size"] == 2
    assert ranks[0]["history"] == ranks[1]["history"]
    assert ranks[0]["evaluate"] == ranks[1]["evaluate"]

    sys.path.insert(0, str(tests))
    try:
        import _dist_torchmetrics
    finally:
        sys.path.remove(str(tests))
    reference = _dist_torchmetrics.run(8)  # one process, the global batch
    for key, values in reference["history"].items():
        assert ranks[0]["history"][key] == pytest.approx(values, abs=1e-5), key
    for key, value in reference["evaluate"].items():
        assert ranks[0]["evaluate"][key] == pytest.approx(value, abs=1e-5), key
    # 48 training samples counted once each (a second reduction would count 96), plus the
    # spread of the logits and the accuracy (a few units)
    assert 48 < ranks[0]["history"]["spread"][0] < 60
    assert 21 < ranks[0]["evaluate"]["spread"] < 33
