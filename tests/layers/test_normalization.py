"""normalization layers against recorded Keras 3 outputs, with save/load round trips.

BatchNormalization's training-mode numbers (outputs, moving statistics after the call,
inference outputs after it, a masked call, one ``fit`` of a small model) come from
``scripts/record_keras_preprocessing.py`` (``layers_normalization.json``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from _keras_layers import check_case, load_cases, save_round_trip

import epochal
from epochal import layers

BN = json.loads(
    (
        Path(__file__).resolve().parents[1] / "fixtures" / "keras" / "layers_normalization.json"
    ).read_text()
)
ATOL = 1e-5

CASES = {
    name: case
    for name, case in load_cases("misc").items()
    if name.split("_")[0] in {"BatchNormalization", "LayerNormalization"}
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_keras(name):
    check_case(CASES[name])


def _arrays(values):
    return [np.asarray(v, dtype=np.float32) for v in values]


@pytest.mark.parametrize("name", sorted(BN["cases"]))
def test_batch_normalization_training_step_matches_keras(name):
    case = BN["cases"][name]
    x = torch.tensor(np.asarray(case["input"], dtype=np.float32))
    layer = layers.BatchNormalization(**case["config"])
    layer.build(tuple(x.shape))
    assert [w._keras_name for w in layer.weights] == case["weight_names"]
    layer.set_weights(_arrays(case["weights"]))
    kwargs = {} if case["mask"] is None else {"mask": torch.tensor(case["mask"])}
    out = layer(x, training=True, **kwargs)
    np.testing.assert_allclose(
        out.detach().numpy(), np.asarray(case["train_output"]), atol=ATOL, rtol=0
    )
    for got, expected in zip(layer.get_weights(), _arrays(case["after"]), strict=True):
        np.testing.assert_allclose(got, expected, atol=ATOL, rtol=0)
    with torch.no_grad():
        inference = layer(x, training=False, **kwargs)
    np.testing.assert_allclose(
        inference.numpy(), np.asarray(case["inference_output"]), atol=ATOL, rtol=0
    )


def test_batch_normalization_in_a_fit_matches_keras():
    record = BN["fit"]
    model = epochal.Sequential(
        [
            layers.Input(shape=(4,)),
            layers.Dense(3),
            layers.BatchNormalization(momentum=0.9),
            layers.Dense(1),
        ],
        device="cpu",
    )
    x, y = _arrays([record["x"], record["y"]])
    model.build_from_batch(torch.from_numpy(x))
    model.set_weights(_arrays(record["weights"]))
    model.compile(optimizer=epochal.optimizers.SGD(learning_rate=0.1), loss="mse")
    history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"], record["loss"], atol=ATOL, rtol=0)
    for got, expected in zip(model.get_weights(), _arrays(record["after"]), strict=True):
        np.testing.assert_allclose(got, expected, atol=ATOL, rtol=0)
    np.testing.assert_allclose(
        model.predict(x, verbose=0), np.asarray(record["predict"]), atol=ATOL, rtol=0
    )


def test_batch_normalization_weights_follow_center_and_scale():
    names = {
        (True, True): ["gamma", "beta", "moving_mean", "moving_variance"],
        (False, True): ["gamma", "moving_mean", "moving_variance"],
        (True, False): ["beta", "moving_mean", "moving_variance"],
        (False, False): ["moving_mean", "moving_variance"],
    }
    for (center, scale), expected in names.items():
        layer = layers.BatchNormalization(center=center, scale=scale, input_shape=(2, 3))
        assert [w._keras_name for w in layer.weights] == expected
        assert len(layer.trainable_weights) == int(center) + int(scale)


def test_batch_normalization_initializers_regularizers_and_constraints():
    layer = layers.BatchNormalization(
        axis=1,
        gamma_initializer="zeros",
        beta_initializer=epochal.initializers.Constant(0.5),
        moving_mean_initializer="ones",
        moving_variance_initializer=epochal.initializers.Constant(4.0),
        gamma_regularizer="l2",
        beta_constraint="non_neg",
        input_shape=(3, 2),
    )
    gamma, beta, mean, variance = layer.get_weights()
    assert gamma.shape == (3,) and not gamma.any()
    np.testing.assert_array_equal(beta, np.full(3, 0.5, np.float32))
    np.testing.assert_array_equal(mean, np.ones(3, np.float32))
    np.testing.assert_array_equal(variance, np.full(3, 4.0, np.float32))
    layer.gamma.data.fill_(2.0)
    x = torch.ones(2, 3, 2)
    layer(x, training=True)
    loss = epochal.layers.collect_losses(layer)
    assert loss is not None and float(loss.detach()) == pytest.approx(0.01 * 4.0 * 3)
    config = layer.get_config()
    assert config["axis"] == 1 and config["gamma_regularizer"] == "l2"
    assert config["synchronized"] is False and config["renorm"] is False


@pytest.mark.parametrize(
    ("kwargs", "error", "word"),
    [
        ({"axis": "last"}, TypeError, "axis"),
        ({"axis": 1.5}, TypeError, "axis"),
        ({"momentum": -0.1}, ValueError, "momentum"),
        ({"center": 1}, TypeError, "center"),
        ({"renorm": True}, NotImplementedError, "renorm=True"),
        ({"renorm_clipping": 3}, TypeError, "renorm_clipping"),
        ({"synchronized": "yes"}, TypeError, "synchronized"),
        ({"beta_initializer": "nope"}, ValueError, "beta_initializer"),
        ({"gamma_regularizer": "l3"}, ValueError, "gamma_regularizer"),
    ],
)
def test_batch_normalization_refuses_bad_arguments(kwargs, error, word):
    with pytest.raises(error, match=word):
        layers.BatchNormalization(**kwargs)


def test_batch_normalization_axis_out_of_range_and_bad_mask():
    with pytest.raises(ValueError, match="axis=3"):
        layers.BatchNormalization(axis=3)(torch.zeros(2, 3))
    layer = layers.BatchNormalization()
    with pytest.raises(ValueError, match="mask"):
        layer(torch.zeros(2, 3, 4), mask=torch.ones(2, dtype=torch.bool), training=True)


def test_batch_normalization_synchronized_in_one_process_is_the_plain_layer():
    x = torch.randn(6, 3)
    a = layers.BatchNormalization(synchronized=True, input_shape=(3,))
    b = layers.BatchNormalization(input_shape=(3,))
    torch.testing.assert_close(a(x, training=True), b(x, training=True))
    for p, q in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(p, q)


def test_batch_normalization_loads_the_old_torch_batchnorm_names():
    layer = layers.BatchNormalization(input_shape=(2,))
    old = {
        "norm.weight": torch.tensor([2.0, 3.0]),
        "norm.bias": torch.tensor([0.1, 0.2]),
        "norm.running_mean": torch.tensor([0.5, -0.5]),
        "norm.running_var": torch.tensor([4.0, 9.0]),
        "norm.num_batches_tracked": torch.tensor(3),
    }
    layer.load_state_dict(old)
    np.testing.assert_array_equal(layer.get_weights()[3], np.array([4.0, 9.0], np.float32))


_SAVED = {
    "BatchNormalization": (
        lambda: [
            layers.BatchNormalization(
                axis=1, momentum=0.8, epsilon=0.01, center=False, gamma_initializer="zeros"
            ),
            layers.Flatten(),
            layers.Dense(2),
        ],
        (2, 3, 4),
    ),
    "LayerNormalization": (
        lambda: [layers.LayerNormalization(axis=[1, 2], epsilon=0.01, center=False)],
        (2, 3, 4),
    ),
}


def test_layer_normalization_weights_are_gamma_then_beta():
    layer = layers.LayerNormalization(input_shape=(3, 4))
    assert [w._keras_name for w in layer.weights] == ["gamma", "beta"]
    assert [w.shape for w in layer.get_weights()] == [(4,), (4,)]
    with pytest.raises(ValueError, match="axis"):
        layers.LayerNormalization(axis="last")


@pytest.mark.parametrize("name", sorted(_SAVED))
def test_save_load_round_trip(tmp_path, name):
    make, shape = _SAVED[name]
    x = np.random.default_rng(0).uniform(-1, 1, shape).astype("float32")
    save_round_trip(tmp_path, make(), x)


_SYNC_WORKER = r"""
import sys
import numpy as np
import torch
import torch.distributed as dist
from epochal import layers

rank, store_path, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
dist.init_process_group("gloo", store=dist.FileStore(store_path, 2), rank=rank, world_size=2)
x = torch.tensor(np.load(out + "/x.npy"))[rank * 3 : rank * 3 + 3].requires_grad_(True)
mask = torch.tensor(np.load(out + "/mask.npy"))[rank * 3 : rank * 3 + 3]
for name, kwargs in (("plain", {}), ("masked", {"mask": mask})):
    layer = layers.BatchNormalization(synchronized=True, momentum=0.5, input_shape=(4, 2))
    y = layer(x, training=True, **kwargs)
    (y * torch.arange(8.0).reshape(4, 2)).sum().backward()
    np.savez(f"{out}/{name}{rank}.npz", y=y.detach().numpy(), grad=x.grad.numpy(),
             mean=layer.moving_mean.numpy(), var=layer.moving_variance.numpy())
    x.grad = None
dist.destroy_process_group()
"""


@pytest.mark.slow  # two fresh Python processes (about 20 s)
def test_synchronized_batch_normalization_uses_the_global_batch(tmp_path):
    """Two gloo processes, three samples each: outputs, input gradients and moving statistics
    equal one process normalizing all six samples."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 4, 2)).astype("float32") * 2 + 1
    mask = rng.uniform(size=(6, 4)) > 0.3
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "mask.npy", mask)
    script = tmp_path / "worker.py"
    script.write_text(_SYNC_WORKER)
    src = str(Path(epochal.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src, "OMP_NUM_THREADS": "1"}
    store = str(tmp_path / "store")
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(r), store, str(tmp_path)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for r in range(2)
    ]
    for p in procs:
        output, _ = p.communicate(timeout=120)
        assert p.returncode == 0, output.decode()
    full = torch.tensor(x).requires_grad_(True)
    for name, kwargs in (("plain", {}), ("masked", {"mask": torch.tensor(mask)})):
        layer = layers.BatchNormalization(momentum=0.5, input_shape=(4, 2))
        y = layer(full, training=True, **kwargs)
        (y * torch.arange(8.0).reshape(4, 2)).sum().backward()
        ranks = [np.load(tmp_path / f"{name}{r}.npz") for r in range(2)]
        got_y = np.concatenate([r["y"] for r in ranks])
        got_grad = np.concatenate([r["grad"] for r in ranks])
        np.testing.assert_allclose(got_y, y.detach().numpy(), atol=1e-4, rtol=0)
        np.testing.assert_allclose(got_grad, full.grad.numpy(), atol=1e-4, rtol=0)
        for r in ranks:
            np.testing.assert_allclose(r["mean"], layer.moving_mean.numpy(), atol=1e-5)
            np.testing.assert_allclose(r["var"], layer.moving_variance.numpy(), atol=1e-5)
        full.grad = None
