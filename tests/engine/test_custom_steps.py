"""A model's own ``train_step`` / ``test_step`` / ``predict_step`` / ``compute_loss`` /
``metrics`` (keras.io "Customizing what happens in fit() with PyTorch"): the guide's models
on tiny data, their logs against a hand computation, and everything the loop still does
around them (callbacks, metric resets, no per-step sync, resume, data parallelism).
"""

from __future__ import annotations

import copy
import csv
import io
import json
import multiprocessing
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import epochal
from epochal import layers, metrics
from epochal.callbacks import (
    BackupAndRestore,
    Callback,
    CSVLogger,
    EarlyStopping,
    ModelCheckpoint,
)
from epochal.engine.custom_steps import StepError

TESTS = Path(__file__).resolve().parents[1]
SRC = TESTS.parent / "src"


def _data(n: int = 24, features: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    y = (x @ rng.normal(size=(features, 1)) + 0.1).astype("float32")
    return x, y


# ---------------------------------------------------------------------- the guide's models
class TrackerModel(epochal.Model):
    """The guide's lower-level example: own loss, Mean tracker and MAE metric, own metrics."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(1)
        self.loss_tracker = metrics.Mean(name="loss")
        self.mae_metric = metrics.MeanAbsoluteError(name="mae")
        self.loss_fn = epochal.losses.MeanSquaredError()

    def call(self, inputs, training=None):
        return self.dense(inputs)

    def train_step(self, data):
        x, y = data
        self.zero_grad()
        y_pred = self(x, training=True)
        loss = self.loss_fn(y, y_pred)
        loss.backward()
        trainable_weights = list(self.trainable_weights)
        gradients = [v.value.grad for v in trainable_weights]
        with torch.no_grad():
            self.optimizer.apply(gradients, trainable_weights)
        self.loss_tracker.update_state(loss)
        self.mae_metric.update_state(y, y_pred)
        return {"loss": self.loss_tracker.result(), "mae": self.mae_metric.result()}

    def test_step(self, data):
        x, y = data
        y_pred = self(x, training=False)
        self.loss_tracker.update_state(self.loss_fn(y, y_pred))
        self.mae_metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}

    @property
    def metrics(self):
        return [self.loss_tracker, self.mae_metric]


class Plain(epochal.Model):
    """A subclassed model with Keras' default steps."""

    def __init__(self):
        super().__init__(device="cpu")
        self.dense = layers.Dense(1)

    def call(self, inputs):
        return self.dense(inputs)


class CompiledModel(Plain):
    """The guide's first example: compute_loss and the compiled metrics through self.metrics."""

    def train_step(self, data):
        x, y = data
        self.zero_grad()
        y_pred = self(x, training=True)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        loss.backward()
        trainable_weights = list(self.trainable_weights)
        gradients = [v.value.grad for v in trainable_weights]
        with torch.no_grad():
            self.optimizer.apply(gradients, trainable_weights)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


def _hand_run(model_state, x, y, lr, epochs, batch_size):
    """The same training written by hand: SGD, per-batch MSE, the running means Keras keeps
    (tracker: mean of the batch losses; MAE: mean over the samples), reset every epoch."""
    kernel = model_state["dense.kernel"].clone().requires_grad_(True)
    bias = model_state["dense.bias"].clone().requires_grad_(True)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    history = {"loss": [], "mae": []}
    for _ in range(epochs):
        losses, abs_sum, count = [], 0.0, 0
        for start in range(0, len(x), batch_size):
            xb, yb = xt[start : start + batch_size], yt[start : start + batch_size]
            pred = xb @ kernel + bias
            loss = torch.mean((pred - yb) ** 2)
            kernel.grad = bias.grad = None
            loss.backward()
            with torch.no_grad():
                kernel -= lr * kernel.grad
                bias -= lr * bias.grad
            losses.append(float(loss.detach()))
            abs_sum += float(torch.sum(torch.abs(pred - yb)).detach())
            count += len(xb)
        history["loss"].append(sum(losses) / len(losses))
        history["mae"].append(abs_sum / count)
    return history, kernel.detach(), bias.detach()


def test_custom_train_step_with_trackers_logs_the_hand_computed_values():
    torch.manual_seed(0)
    x, y = _data()
    model = TrackerModel(device="cpu")
    model.compile(optimizer=epochal.optimizers.SGD(learning_rate=0.05))
    model(torch.zeros(1, 4))
    start = copy.deepcopy(model.state_dict())
    history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    expected, kernel, bias = _hand_run(start, x, y, 0.05, 3, 8)
    assert sorted(history.history) == ["loss", "mae"]
    for key in ("loss", "mae"):
        np.testing.assert_allclose(history.history[key], expected[key], rtol=1e-5)
    torch.testing.assert_close(model.dense.kernel.detach(), kernel)
    torch.testing.assert_close(model.dense.bias.detach(), bias)


def test_compiled_loss_and_metrics_through_self_metrics():
    torch.manual_seed(0)
    x, y = _data()
    model = CompiledModel()
    model.compile(optimizer=epochal.optimizers.SGD(learning_rate=0.05), loss="mse", metrics=["mae"])
    model(torch.zeros(1, 4))
    start = copy.deepcopy(model.state_dict())
    assert [m.name for m in model.metrics] == ["loss", "mae"]
    history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    expected, _, _ = _hand_run(start, x, y, 0.05, 2, 8)
    for key in ("loss", "mae"):
        np.testing.assert_allclose(history.history[key], expected[key], rtol=1e-5)


def test_custom_test_step_in_evaluate_and_validation():
    torch.manual_seed(0)
    x, y = _data()
    model = TrackerModel(device="cpu")
    model.compile(optimizer=epochal.optimizers.SGD(learning_rate=0.05))
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, validation_data=(x, y))
    assert sorted(history.history) == ["loss", "mae", "val_loss", "val_mae"]
    logs = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    with torch.no_grad():
        pred = model(torch.from_numpy(x))
        target = torch.from_numpy(y)
        batch_losses = [
            float(torch.mean((pred[i : i + 8] - target[i : i + 8]) ** 2)) for i in (0, 8, 16)
        ]
        mae = float(torch.mean(torch.abs(pred - target)))
    assert logs["loss"] == pytest.approx(np.mean(batch_losses), rel=1e-5)
    assert logs["mae"] == pytest.approx(mae, rel=1e-5)
    assert history.history["val_loss"][-1] == pytest.approx(logs["loss"], rel=1e-5)
    assert model.evaluate(x, y, batch_size=8, verbose=0) == pytest.approx(
        [logs["loss"], logs["mae"]]
    )


def test_custom_predict_step():
    class Doubling(epochal.Model):
        def __init__(self):
            super().__init__(device="cpu")
            self.dense = layers.Dense(2)

        def call(self, inputs):
            return self.dense(inputs)

        def predict_step(self, data):
            return {"twice": 2 * self(data, training=False), "raw": super().predict_step(data)}

    model = Doubling()
    x, _ = _data(10)
    out = model.predict(x, batch_size=4, verbose=0)
    assert sorted(out) == ["raw", "twice"]
    np.testing.assert_allclose(out["twice"], 2 * out["raw"], rtol=1e-6)
    assert out["raw"].shape == (10, 2)
    np.testing.assert_allclose(model.predict_on_batch(x)["twice"], out["twice"], rtol=1e-6)


def test_overridden_compute_loss_is_what_the_default_step_minimises():
    class MAELoss(epochal.Model):
        def __init__(self):
            super().__init__(device="cpu")
            self.dense = layers.Dense(1)
            self.calls = 0

        def call(self, inputs):
            return self.dense(inputs)

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            self.calls += 1
            return torch.mean(torch.abs(y_pred - y))

    x, y = _data(8)
    model = MAELoss()
    model.compile(optimizer=epochal.optimizers.SGD(learning_rate=0.0), metrics=["mse"])  # no loss
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    with torch.no_grad():
        pred = model(torch.from_numpy(x))
        mae = float(torch.mean(torch.abs(pred - torch.from_numpy(y))))
        mse = float(torch.mean((pred - torch.from_numpy(y)) ** 2))
    assert model.calls == 1
    assert history.history["loss"][0] == pytest.approx(mae, rel=1e-6)
    assert history.history["mse"][0] == pytest.approx(mse, rel=1e-6)


def test_legacy_compiled_loss_and_compiled_metrics():
    class Legacy(CompiledModel):
        def train_step(self, data):
            x, y = data
            self.zero_grad()
            y_pred = self(x, training=True)
            loss = self.compiled_loss(y, y_pred, regularization_losses=self.losses)
            loss.backward()
            self.optimizer.apply_gradients(
                zip([w.grad for w in self.trainable_weights], self.trainable_weights, strict=True)
            )
            self.compiled_metrics.update_state(y, y_pred)
            self.metrics[0].update_state(loss)
            return {m.name: m.result() for m in self.metrics}

    torch.manual_seed(0)
    x, y = _data()
    model = Legacy()
    model.compile(optimizer=epochal.optimizers.SGD(learning_rate=0.05), loss="mse", metrics=["mae"])
    model(torch.zeros(1, 4))
    start = copy.deepcopy(model.state_dict())
    with pytest.warns(DeprecationWarning, match="compute_loss"):
        history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    expected, _, _ = _hand_run(start, x, y, 0.05, 2, 8)
    np.testing.assert_allclose(history.history["loss"], expected["loss"], rtol=1e-5)
    np.testing.assert_allclose(history.history["mae"], expected["mae"], rtol=1e-5)


def test_super_train_step_and_sample_weights_reach_the_step():
    seen = []

    class Wrapped(Plain):
        def train_step(self, data):
            seen.append(len(data))
            return super().train_step(data)

    x, y = _data(8)
    model = Wrapped()
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, batch_size=8, verbose=0)
    model.fit(x, y, sample_weight=np.ones(8), batch_size=8, verbose=0)
    model.fit(x, y, class_weight={0: 1.0}, batch_size=8, verbose=0)
    assert seen == [2, 3, 3]  # (x, y); (x, y, sample_weight); class weights as sample weights
    assert model.train_on_batch(x, y) == pytest.approx(model.test_on_batch(x, y), rel=0.5)
    assert seen[-1] == 2  # train_on_batch runs the model's own step


# ---------------------------------------------------------------------- metrics resets
class Counting(Plain):
    """Logs how many steps its tracker saw: reset at each epoch start (Keras' rule)."""

    def __init__(self):
        super().__init__()
        self.steps = metrics.Mean(name="steps")

    def train_step(self, data):
        self.steps.update_state(1.0)
        logs = super().train_step(data)
        return {**logs, "seen": self.steps.count}

    def test_step(self, data):
        return {"seen": self.steps.count}


def test_metrics_property_resets_at_each_epoch_and_before_evaluate():
    x, y = _data()
    model = Counting()
    model.compile(optimizer="sgd", loss="mse")
    assert [m.name for m in model.metrics] == ["loss", "steps"]
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0)
    assert history.history["seen"] == [3.0, 3.0, 3.0]
    assert history.history["steps"] == [1.0, 1.0, 1.0]
    assert model.evaluate(x, y, verbose=0, return_dict=True) == {"seen": 0.0}


def test_a_step_must_return_a_dict():
    class NoLogs(CompiledModel):
        def train_step(self, data):
            return None

    model = NoLogs()
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(StepError, match="train_step"):
        model.fit(*_data(8), verbose=0)


def test_optimizer_apply_refuses_what_it_cannot_honour():
    dense = layers.Dense(1)
    dense(torch.zeros(1, 2))
    other = torch.nn.Parameter(torch.zeros(3))
    optimizer = epochal.optimizers.SGD(learning_rate=0.1)
    with pytest.raises(ValueError, match="2 gradients for 1"):
        optimizer.apply([torch.ones(2, 1), torch.ones(1)], [dense.kernel])
    before = dense.kernel.detach().clone()
    optimizer.apply([torch.ones(2, 1)], [dense.kernel])  # builds over the kernel only
    torch.testing.assert_close(dense.kernel.detach(), before - 0.1)
    with pytest.raises(ValueError, match="not one this optimizer was built with"):
        optimizer.apply([torch.ones(3)], [other])


def test_optimizer_apply_updates_only_the_variables_given():
    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    optimizer = epochal.optimizers.SGD(learning_rate=1.0)
    optimizer.build([a, b])
    a.grad, b.grad = torch.ones(2), torch.ones(2)
    optimizer.apply([a.grad], [a])
    assert a.tolist() == [-1.0, -1.0] and b.tolist() == [0.0, 0.0]
    assert b.grad is not None  # put back


# ---------------------------------------------------------------------- GAN: two optimizers
LATENT = 3


class GAN(epochal.Model):
    def __init__(self):
        super().__init__(device="cpu")
        self.discriminator = epochal.Sequential(
            [layers.Dense(8, activation="relu", input_shape=(4,)), layers.Dense(1)], device="cpu"
        )
        self.generator = epochal.Sequential(
            [layers.Dense(8, activation="relu", input_shape=(LATENT,)), layers.Dense(4)],
            device="cpu",
        )
        self.d_loss_tracker = metrics.Mean(name="d_loss")
        self.g_loss_tracker = metrics.Mean(name="g_loss")
        self.built = True

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def compile(self, d_optimizer, g_optimizer, loss_fn):
        super().compile()
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.loss_fn = loss_fn

    def train_step(self, real):
        if isinstance(real, tuple):
            real = real[0]
        batch = real.shape[0]
        fake = self.generator(torch.randn(batch, LATENT))
        combined = torch.concat([fake, real], axis=0)
        labels = torch.concat([torch.ones((batch, 1)), torch.zeros((batch, 1))], axis=0)
        self.zero_grad()
        d_loss = self.loss_fn(labels, self.discriminator(combined))
        d_loss.backward()
        grads = [v.value.grad for v in self.discriminator.trainable_weights]
        with torch.no_grad():
            self.d_optimizer.apply(grads, self.discriminator.trainable_weights)
        self.zero_grad()
        fooled = self.discriminator(self.generator(torch.randn(batch, LATENT)))
        g_loss = self.loss_fn(torch.zeros((batch, 1)), fooled)
        g_loss.backward()
        grads = [v.value.grad for v in self.generator.trainable_weights]
        with torch.no_grad():
            self.g_optimizer.apply(grads, self.generator.trainable_weights)
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}


def _gan() -> GAN:
    torch.manual_seed(0)
    gan = GAN()
    gan.compile(
        d_optimizer=epochal.optimizers.Adam(learning_rate=0.01),
        g_optimizer=epochal.optimizers.Adam(learning_rate=0.01),
        loss_fn=epochal.losses.BinaryCrossentropy(from_logits=True),
    )
    return gan


def test_gan_with_two_optimizers():
    gan = _gan()
    x, _ = _data(32)
    gan.discriminator(torch.zeros(1, 4))
    gan.generator(torch.zeros(1, LATENT))
    d_before = [w.detach().clone() for w in gan.discriminator.trainable_weights]
    g_before = [w.detach().clone() for w in gan.generator.trainable_weights]
    history = gan.fit(x, batch_size=8, epochs=3, verbose=0)
    assert sorted(history.history) == ["d_loss", "g_loss"]
    assert all(np.isfinite(v) for vs in history.history.values() for v in vs)
    assert gan.d_optimizer.iterations == gan.g_optimizer.iterations == 12
    assert gan.optimizer.iterations == 0  # compile()'s default optimizer is not used
    assert all(
        not torch.equal(a, b)
        for a, b in zip(d_before, gan.discriminator.trainable_weights, strict=True)
    )
    assert all(
        not torch.equal(a, b)
        for a, b in zip(g_before, gan.generator.trainable_weights, strict=True)
    )
    assert len(gan.trainable_weights) == 8
    assert {"optimizer:d_optimizer", "optimizer:g_optimizer"} <= set(gan.snapshot())


# ---------------------------------------------------------------------- callbacks
class Worsening(Plain):
    """A loss that grows every epoch (after the first), to be early-stopped."""

    def train_step(self, data):
        logs = super().train_step(data)
        epoch = self.train_state.epoch
        return {**logs, "score": torch.tensor(float(min(epoch, 5) if epoch else 10.0))}


def test_callbacks_are_fed_by_the_step_logs(tmp_path):
    x, y = _data()
    model = Worsening()
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    stop = EarlyStopping(monitor="score", mode="min", patience=1)
    checkpoint = ModelCheckpoint(
        tmp_path / "best.weights.h5",
        monitor="score",
        mode="min",
        save_best_only=True,
        save_weights_only=True,
        verbose=0,
    )
    history = model.fit(
        x,
        y,
        batch_size=8,
        epochs=10,
        verbose=0,
        callbacks=[stop, checkpoint, CSVLogger(tmp_path / "log.csv")],
    )
    # scores 10, 1, 2: the best is epoch 1, patience 1 stops after epoch 2
    assert history.history["score"] == [10.0, 1.0, 2.0]
    assert stop.stopped_epoch == 2
    assert (tmp_path / "best.weights.h5").is_file()
    rows = list(csv.DictReader((tmp_path / "log.csv").open()))
    assert [row["epoch"] for row in rows] == ["0", "1", "2"]
    assert {"epoch", "loss", "mae", "score"} <= set(rows[0])
    assert float(rows[1]["score"]) == 1.0


def test_progress_bar_shows_the_step_logs(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr("sys.stdout", stream)
    model = TrackerModel(device="cpu")
    model.compile(optimizer="sgd")
    model.fit(*_data(), batch_size=8, epochs=1, verbose=1)
    text = stream.getvalue()
    assert "3/3" in text and "loss:" in text and "mae:" in text


# ---------------------------------------------------------------------- no per-step sync
_READERS = ("item", "tolist", "numpy", "cpu", "__float__", "__int__", "__bool__", "__index__")


@pytest.fixture
def host_reads(monkeypatch):
    counts = dict.fromkeys(_READERS, 0)
    for name in _READERS:
        original = getattr(torch.Tensor, name)

        def counting(self, *args, _name=name, _original=original, **kwargs):
            counts[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counting)
    return counts


class _Keys(Callback):
    def on_train_batch_end(self, batch, logs=None):
        assert "loss" in logs  # keys cost nothing


@pytest.mark.parametrize("model_class", [TrackerModel, CompiledModel])
def test_custom_steps_add_no_host_sync_per_step(host_reads, model_class):
    def reads(samples: int) -> int:
        torch.manual_seed(0)
        model = model_class(device="cpu") if model_class is TrackerModel else model_class()
        model.compile(optimizer="adam", loss="mse", metrics=["mae"])
        x, y = _data(samples)
        for key in host_reads:
            host_reads[key] = 0
        model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[_Keys()])
        return sum(host_reads.values())

    few, many = reads(16), reads(160)
    assert many == few
    assert few < 30


# ---------------------------------------------------------------------- exact resume
STEPS, EPOCHS = 4, 3


def _resume_train(out: Path, kill_at: int | None, backup: bool, kind: str) -> None:
    """A custom-step model trained with BackupAndRestore (every 3 batches); SIGKILLed after
    global batch ``kill_at``. Writes the final weights and the epoch logs."""
    torch.set_num_threads(1)
    x, y = _data(32)
    if kind == "gan":
        model = _gan()
        fit_args = (x,)
    else:
        torch.manual_seed(0)
        model = TrackerModel(device="cpu")
        model.compile(optimizer=epochal.optimizers.Adam(learning_rate=0.01))
        fit_args = (x, y)

    class Killer(Callback):
        def on_train_batch_end(self, batch, logs=None):
            if kill_at is not None and self.model.train_state.epoch * STEPS + batch == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

    class Rows(Callback):
        def on_epoch_end(self, epoch, logs=None):
            with open(out / "rows.jsonl", "a") as handle:
                handle.write(json.dumps({"epoch": epoch, **dict(logs)}) + "\n")

    callbacks = [Rows(), Killer()]
    if backup:
        callbacks.append(BackupAndRestore(out / "backup", save_freq=3))
    model.fit(*fit_args, batch_size=8, epochs=EPOCHS, verbose=0, callbacks=callbacks)
    torch.save({k: v.clone() for k, v in model.state_dict().items()}, out / "final.pt")


def _forked(out: Path, kill_at: int | None, kind: str) -> int:
    context = multiprocessing.get_context("fork")
    process = context.Process(target=_resume_train, args=(out, kill_at, True, kind))
    process.start()
    process.join(timeout=60)
    assert process.exitcode is not None, "the training child hung"
    return process.exitcode


def _rows(out: Path) -> dict[int, dict]:
    rows = [json.loads(line) for line in (out / "rows.jsonl").read_text().splitlines()]
    return {row["epoch"]: row for row in rows}  # a resumed epoch's row replaces the dead one


@pytest.mark.parametrize("kind", ["trackers", "gan"])
def test_backup_and_restore_resumes_a_custom_step_bit_identically(tmp_path, kind):
    reference = tmp_path / "reference"
    reference.mkdir()
    _resume_train(reference, None, False, kind)
    out = tmp_path / "run"
    out.mkdir()
    for kill_at in (2, 5, 9):  # mid-epoch, right after a backup, in the last epoch
        assert _forked(out, kill_at, kind) == -signal.SIGKILL
    assert _forked(out, None, kind) == 0
    final, expected = torch.load(out / "final.pt"), torch.load(reference / "final.pt")
    # by position: automatic layer names count the layers a process made before
    assert len(final) == len(expected) > 0
    for index, (got, want) in enumerate(zip(final.values(), expected.values(), strict=True)):
        assert torch.equal(got, want), f"tensor {index} differs"
    assert _rows(out) == _rows(reference)


# ---------------------------------------------------------------------- data parallelism
@pytest.mark.slow
def test_ddp_custom_train_step_gives_identical_logs_on_every_rank(tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": f"{SRC}{os.pathsep}{TESTS}",
        "OMP_NUM_THREADS": "1",
        "GLOO_SOCKET_IFNAME": "lo",
    }
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "--monitor-interval=0.2",
        str(TESTS / "_dist_custom_steps.py"),
        str(tmp_path),
    ]
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert ranks[0]["history"] == ranks[1]["history"]
    assert ranks[0]["evaluate"] == ranks[1]["evaluate"]
    assert ranks[0]["weights"] == ranks[1]["weights"]
    assert sorted(ranks[0]["history"]) == ["loss", "mae", "val_loss", "val_mae"]
    # the same training in one process with the global batch
    sys.path.insert(0, str(TESTS))
    import _dist_custom_steps as worker

    single = worker.scenario(world_batch=2 * worker.BATCH_PER_RANK)
    for key in ("loss", "mae", "val_loss", "val_mae"):
        np.testing.assert_allclose(ranks[0]["history"][key], single["history"][key], rtol=1e-4)
    for got, want in zip(ranks[0]["weights"], single["weights"], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_monitors_in_auto_mode_know_the_directions_of_the_models_own_metrics():
    model = TrackerModel(device="cpu")
    model.compile(optimizer="sgd")
    assert model.metric_direction("val_mae") == "down"
    assert model.metric_direction("loss") == "down"
    assert model.metric_direction("unknown") is None


def test_a_custom_train_step_with_mixed_precision_is_refused_not_ignored():
    import numpy as np

    import epochal

    class Own(epochal.Model):
        def __init__(self):
            super().__init__()
            self.dense = epochal.layers.Dense(1)

        def call(self, x):
            return self.dense(x)

        def train_step(self, data):
            return {}

    model = Own()
    model.compile(optimizer="sgd", loss="mse", precision="mixed_bfloat16")
    with pytest.raises(NotImplementedError, match="mixed precision"):
        model.fit(np.ones((4, 2), "float32"), np.ones((4, 1), "float32"), verbose=0)
