"""TensorBoard: event files read back with tensorboard's own reader, tag by tag."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import FakeClock, make_model

import epochal
from epochal.callbacks import Callback, TensorBoard
from epochal.layers import Activation, Dense, Embedding, Flatten

ea_module = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
REPO = Path(__file__).resolve().parents[2]


def _read(run_dir):
    acc = ea_module.EventAccumulator(
        str(run_dir), size_guidance={"scalars": 0, "histograms": 0, "images": 0, "tensors": 0}
    )
    acc.Reload()
    return acc


def _scalars(acc):
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


class Recorder(Callback):
    """Keeps batch logs, and weights and gradients at each epoch end (placed after TB)."""

    def __init__(self):
        super().__init__()
        self.batch_logs, self.weights, self.grads = [], [], []

    def on_train_batch_end(self, batch, logs=None):
        self.batch_logs.append(dict(logs))

    def on_epoch_end(self, epoch, logs=None):
        named = list(self.model.module.named_parameters())
        self.weights.append({n: p.detach().numpy().copy() for n, p in named})
        self.grads.append({n: p.grad.numpy().copy() for n, p in named})


def _fit(tmp_path, tiny_data, epochs=3, recorder=None, **kwargs):
    x, y = tiny_data
    model = make_model()
    tb = TensorBoard(log_dir=tmp_path / "logs", **kwargs)
    callbacks = [tb] + ([recorder] if recorder else [])
    history = model.fit(
        x, y, epochs=epochs, batch_size=10, verbose=0, validation_split=0.25, callbacks=callbacks
    )
    return model, history.history, tmp_path / "logs"


def test_args_validation():
    for bad in (-1, (3, 1), (0, 2), "a,b", 1.5, (1, 2, 3), True):
        with pytest.raises(
            ValueError,
            match="profile_batch must be a non-negative integer or 2-tuple of positive integers",
        ):
            TensorBoard(profile_batch=bad)
    with pytest.raises(ValueError, match="update_freq"):
        TensorBoard(update_freq="sometimes")
    with pytest.raises(ValueError, match="histogram_freq"):
        TensorBoard(histogram_freq=-1)
    with pytest.raises(TypeError):
        TensorBoard(bogus=1)
    assert TensorBoard(profile_batch="2,4")._stop_batch == 4


def test_legacy_arguments_warn():
    with pytest.warns(DeprecationWarning, match="batch_size"):
        TensorBoard(batch_size=32)
    with pytest.warns(DeprecationWarning, match="write_grads"):
        TensorBoard(write_grads=False)


def test_epoch_scalars_every_tag_step_value(tmp_path, tiny_data):
    _, history, logs = _fit(tmp_path, tiny_data, write_graph=False)
    train = _scalars(_read(logs / "train"))
    val = _scalars(_read(logs / "validation"))
    assert set(train) == {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"}
    for key in ("loss", "accuracy"):
        assert train[f"epoch_{key}"] == [(e, pytest.approx(v)) for e, v in enumerate(history[key])]
        assert val[f"epoch_{key}"] == [
            (e, pytest.approx(v)) for e, v in enumerate(history[f"val_{key}"])
        ]
    assert train["epoch_learning_rate"] == [(e, pytest.approx(0.01)) for e in range(3)]
    # One evaluation per epoch, stepped by optimizer updates (3 batches of 10 per epoch).
    assert set(val) == {
        "epoch_loss",
        "epoch_accuracy",
        "evaluation_loss_vs_iterations",
        "evaluation_accuracy_vs_iterations",
    }
    assert val["evaluation_loss_vs_iterations"] == [
        (3 * (e + 1), pytest.approx(v)) for e, v in enumerate(history["val_loss"])
    ]


def test_batch_scalars_with_int_update_freq(tmp_path, tiny_data):
    recorder = Recorder()
    _, _, logs = _fit(
        tmp_path, tiny_data, epochs=2, recorder=recorder, update_freq=2, write_graph=False
    )
    train = _scalars(_read(logs / "train"))
    # 6 batches in the run; the counter is global and 1-based: steps 2, 4, 6.
    for key in ("loss", "accuracy"):
        assert train[f"batch_{key}"] == [
            (s, pytest.approx(recorder.batch_logs[s - 1][key])) for s in (2, 4, 6)
        ]


def test_update_freq_epoch_skips_batch_hooks():
    assert not TensorBoard().implements("on_train_batch_end")
    assert TensorBoard(update_freq="batch").implements("on_train_batch_end")
    assert TensorBoard(profile_batch=2).implements("on_train_batch_begin")


def test_steps_per_second_with_fake_clock(tmp_path, tiny_data):
    clock = FakeClock(0.5)
    _, _, logs = _fit(
        tmp_path,
        tiny_data,
        epochs=2,
        write_steps_per_second=True,
        update_freq="batch",
        clock=clock,
        write_graph=False,
    )
    train = _scalars(_read(logs / "train"))
    # Each batch: begin and end read the clock once each (0.5 s); an epoch spans
    # begin + 3 x (begin, end) + end = 7 reads = 3.5 s for 3 steps.
    assert train["batch_steps_per_second"] == [(s, pytest.approx(2.0)) for s in range(1, 7)]
    assert train["epoch_steps_per_second"] == [(e, pytest.approx(3 / 3.5)) for e in range(2)]


def test_histograms_gradients_and_images(tmp_path, tiny_data):
    recorder = Recorder()
    model, _, logs = _fit(
        tmp_path,
        tiny_data,
        recorder=recorder,
        histogram_freq=2,
        write_grads=True,
        write_images=True,
        write_graph=False,
    )
    acc = _read(logs / "train")
    names = [n for n, _ in model.module.named_parameters()]
    tags = {n.replace(".", "/") for n in names}
    assert set(acc.Tags()["histograms"]) == (
        {f"{t}/histogram" for t in tags} | {f"{t}_grad/histogram" for t in tags}
    )
    assert set(acc.Tags()["images"]) == {f"{t}/image" for t in tags}
    for name in names:
        tag = name.replace(".", "/")
        for suffix, source in (
            ("/histogram", recorder.weights),
            ("_grad/histogram", recorder.grads),
        ):
            events = acc.Histograms(tag + suffix)
            assert [e.step for e in events] == [0, 2]  # epoch % 2 == 0
            for event in events:
                expected = source[event.step][name]
                value = event.histogram_value
                assert value.num == expected.size
                assert value.min == pytest.approx(expected.min())
                assert value.max == pytest.approx(expected.max())
                assert value.sum == pytest.approx(expected.sum(), abs=1e-5)
        images = acc.Images(f"{tag}/image")
        assert [e.step for e in images] == [0, 2]
        assert images[0].width * images[0].height == recorder.weights[0][name].size


def test_huge_and_non_finite_weights_are_logged_with_one_warning_each(tmp_path, tiny_data):
    """A diverged weight (1e30, inf, NaN) never kills fit ("The histogram is empty"): what can
    be binned is logged, and each tensor is warned about once, by name."""
    x, y = tiny_data

    class Diverge(Callback):  # placed before TensorBoard: it sees the broken weights
        def on_epoch_end(self, epoch, logs=None):
            params = dict(self.model.module.named_parameters())
            names = sorted(params)
            with torch.no_grad():
                params[names[0]].fill_(1e30)  # finite, far past the default bins
                params[names[1]].view(-1)[0] = float("inf")
                params[names[2]].fill_(float("nan"))
            self.names = [n.replace(".", "/") for n in names]

    diverge = Diverge()
    tb = TensorBoard(tmp_path / "logs", histogram_freq=1, write_images=True, write_graph=False)
    with pytest.warns(RuntimeWarning) as caught:
        make_model().fit(x, y, epochs=2, batch_size=20, verbose=0, callbacks=[diverge, tb])
    messages = [str(w.message) for w in caught if "histogram" in str(w.message)]
    first, second, third = (f"{n}/histogram" for n in diverge.names[:3])
    assert len([m for m in messages if f"`{second}`" in m]) == 1
    assert len([m for m in messages if f"`{third}`" in m]) == 1
    assert "inf or NaN" in " ".join(messages) and "skipped" in " ".join(messages)
    acc = _read(tmp_path / "logs" / "train")
    huge = acc.Histograms(first)
    assert [e.step for e in huge] == [0, 1]
    assert huge[0].histogram_value.num > 0 and huge[0].histogram_value.max == pytest.approx(1e30)
    assert acc.Histograms(second)[0].histogram_value.num > 0  # the finite values of it
    assert third not in acc.Tags()["histograms"] or not acc.Histograms(third)


def test_histogram_input_rules():
    from epochal.callbacks._tensorboard_utils import histogram_input, weight_image

    values, bins, problem = histogram_input(np.array([1.0, 2.0]))
    assert bins == "tensorflow" and problem is None
    values, bins, problem = histogram_input(np.array([1e30, -1e30, np.nan], dtype=np.float32))
    assert len(bins) == 31 and values.size == 2 and "1 of 3" in problem
    assert len(histogram_input(np.full(3, 1e30))[1]) == 2
    assert histogram_input(np.array([np.inf, np.nan]))[0] is None
    image = weight_image(np.array([[1e38, -1e38], [np.inf, 0.0]], dtype=np.float32))
    assert np.isfinite(image).all() and image.min() == 0.0 and image.max() == 1.0


def test_graph_and_config(tmp_path, tiny_data):
    model, _, logs = _fit(tmp_path, tiny_data, epochs=1)
    acc = _read(logs / "train")
    assert acc.Tags()["graph"]
    graph_ops = {node.op for node in acc.Graph().node}
    assert any("linear" in op or "addmm" in op or "matmul" in op for op in graph_ops), graph_ops
    (event,) = acc.Tensors("keras/text_summary")
    assert event.step == 0
    text = event.tensor_proto.string_val[0].decode()
    assert json.loads(text) == json.loads(json.dumps(model.get_config()))


def test_graph_in_every_fit_retraced_when_the_model_changes(tmp_path, tiny_data):
    """Each fit writes the graph (traced once, reused while the module is unchanged); a
    changed module is traced again, so the graph view never shows a stale model."""
    x, y = tiny_data

    def ops(run_dir):
        return sorted(node.op for node in _read(run_dir / "train").Graph().node)

    model = make_model()
    for run in ("a", "b"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[TensorBoard(tmp_path / run)])
    assert ops(tmp_path / "a") == ops(tmp_path / "b")
    model.add(Activation("softmax"))  # same weights, one more op
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0, callbacks=[TensorBoard(tmp_path / "c")])
    assert len(ops(tmp_path / "c")) > len(ops(tmp_path / "a"))
    assert any("softmax" in op for op in ops(tmp_path / "c"))


def test_evaluate_alone_writes_evaluation_scalars(tmp_path, tiny_data):
    x, y = tiny_data
    model = make_model()
    tb = TensorBoard(log_dir=tmp_path)
    result = model.evaluate(x, y, verbose=0, callbacks=[tb], return_dict=True)
    tb._queue.drain()
    val = _scalars(_read(tmp_path / "validation"))
    assert val["evaluation_loss_vs_iterations"] == [(0, pytest.approx(result["loss"]))]


def test_profiler_trace(tmp_path, tiny_data):
    _, _, logs = _fit(tmp_path, tiny_data, epochs=1, profile_batch="2,3", write_graph=False)
    traces = list((logs / "plugins" / "profile").glob("*.pt.trace.json"))
    assert len(traces) == 1
    trace = json.loads(traces[0].read_text())
    assert trace["traceEvents"]


def test_embeddings_projector(tmp_path, monkeypatch):
    """Keras' layout: <log_dir>/projector_config.pbtxt records the metadata file name as
    given, and the file is never opened (not even relative to the current folder)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "labels.tsv").write_text("planted: must not be read\n")
    model = epochal.Sequential([Embedding(12, 3, name="words"), Flatten(), Dense(2)], device="cpu")
    model.compile(optimizer="sgd", loss="mse")
    x = np.arange(24).reshape(12, 2) % 12
    tb = TensorBoard(
        log_dir=tmp_path / "logs",
        embeddings_freq=1,
        embeddings_metadata={"words": "labels.tsv"},
        write_graph=False,
    )
    opened = []
    real_open = open
    monkeypatch.setattr(
        "builtins.open", lambda f, *a, **k: opened.append(str(f)) or real_open(f, *a, **k)
    )
    model.fit(x, np.zeros((12, 2), "float32"), epochs=2, verbose=0, callbacks=[tb])
    monkeypatch.undo()
    assert not [f for f in opened if f.endswith("labels.tsv")]
    from google.protobuf import text_format
    from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

    config = text_format.Parse(
        (tmp_path / "logs" / "projector_config.pbtxt").read_text(), ProjectorConfig()
    )
    assert [e.tensor_name for e in config.embeddings] == ["words:00000", "words:00001"]
    assert {e.metadata_path for e in config.embeddings} == {"labels.tsv"}
    saved = tmp_path / "logs" / config.embeddings[1].tensor_path
    rows = [[float(v) for v in line.split("\t")] for line in saved.read_text().splitlines()]
    np.testing.assert_allclose(rows, model.module[0].embeddings.detach().numpy(), rtol=1e-6)
    assert not list((tmp_path / "logs").rglob("metadata.tsv"))
    bad = TensorBoard(
        log_dir=tmp_path / "bad", embeddings_freq=1, embeddings_metadata={"dense": "x.tsv"}
    )
    with pytest.raises(ValueError, match="Unrecognized `Embedding` layer names"):
        model.fit(x, np.zeros((12, 2), "float32"), epochs=1, verbose=0, callbacks=[bad])


class FakeWriter:
    def __init__(self, log_dir):
        self.log_dir = log_dir
        self.calls = []

    def __getattr__(self, name):
        def record(*args, **kwargs):
            self.calls.append((name, threading.get_ident(), args))

        return record


def test_injected_writer_is_called_off_the_training_thread(tmp_path, tiny_data):
    writers = {}

    def factory(run_dir):
        writers[Path(run_dir).name] = FakeWriter(run_dir)
        return writers[Path(run_dir).name]

    x, y = tiny_data
    model = make_model()
    tb = TensorBoard(log_dir=tmp_path, writer_factory=factory, histogram_freq=1, write_graph=False)
    model.fit(x, y, epochs=2, batch_size=10, verbose=0, validation_split=0.25, callbacks=[tb])
    assert set(writers) == {"train", "validation"}
    calls = writers["train"].calls
    assert {name for name, _, _ in calls} == {"add_scalar", "add_histogram", "close"}
    assert threading.get_ident() not in {thread for _, thread, _ in calls}
    assert calls[-1][0] == "close"


def test_seed000_tensorboard_example_runs(tmp_path):
    env = {
        **os.environ,
        "EPOCHAL_EXAMPLE_EPOCHS": "2",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO / "examples")]),
    }
    done = subprocess.run(
        [sys.executable, str(REPO / "examples" / "seed000_tensorboard.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    acc = _read(tmp_path / "logs" / "train")
    assert "dense/kernel_grad/histogram" in acc.Tags()["histograms"]
    assert [e.step for e in acc.Scalars("epoch_loss")] == [0, 1]


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_real_tensorboard_server_serves_the_scalars(tmp_path, tiny_data):
    _, history, logs = _fit(tmp_path, tiny_data, write_graph=False)
    port = _free_port()
    exe = Path(sys.executable).with_name("tensorboard")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "tensorboard.main"]
    server = subprocess.Popen(
        [
            *command,
            "--logdir",
            str(logs),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--load_fast",
            "false",
            "--reload_interval",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/data/plugin/scalars/scalars?run=train&tag=epoch_loss"
    try:
        deadline = time.monotonic() + 50
        data = None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    data = json.loads(response.read())
                if data:
                    break
            except (OSError, ValueError):
                pass
            assert server.poll() is None, "tensorboard exited"
            time.sleep(0.2)  # polling interval while the server starts
        assert data, "tensorboard did not serve the scalars in time"
        assert [row[1] for row in data] == [0, 1, 2]
        assert [row[2] for row in data] == pytest.approx(history["loss"])
    finally:
        server.terminate()
        server.wait(10)


def test_batch_steps_continue_after_an_exact_resume(tmp_path, tiny_data):
    """BackupAndRestore + TensorBoard(update_freq=1): a run interrupted mid-training and
    resumed writes every batch step once more only past the backup, never from 1 again."""
    from epochal.callbacks import BackupAndRestore
    from tests.conftest import make_model

    x, y = tiny_data

    class Crash(Callback):
        def on_train_batch_end(self, batch, logs=None):
            if self.model.train_state.epoch == 1 and batch == 1:
                raise RuntimeError("crash")

    log_dir, backup = tmp_path / "tb", tmp_path / "backup"
    with pytest.raises(RuntimeError, match="crash"):
        make_model().fit(
            x,
            y,
            batch_size=10,
            epochs=3,
            verbose=0,
            callbacks=[
                TensorBoard(log_dir=log_dir, update_freq=1),
                BackupAndRestore(backup, save_freq=1),
                Crash(),
            ],
        )
    make_model().fit(
        x,
        y,
        batch_size=10,
        epochs=3,
        verbose=0,
        callbacks=[
            TensorBoard(log_dir=log_dir, update_freq=1),
            BackupAndRestore(backup, save_freq=1),
        ],
    )
    steps = [step for step, _ in _scalars(_read(log_dir / "train"))["batch_loss"]]
    assert steps == list(range(1, 13))  # 4 batches x 3 epochs, each step once


_KILL_SCRIPT = """
import os, signal, sys
import numpy as np, torch
import epochal
from epochal.callbacks import BackupAndRestore, Callback, TensorBoard
from epochal.layers import Dense

log_dir, backup_dir, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
torch.manual_seed(0)
torch.set_num_threads(1)
rng = np.random.default_rng(0)
x = rng.normal(size=(32, 4)).astype("float32")
y = (x[:, 0] > 0).astype("int64")
model = epochal.Sequential(
    [Dense(8, activation="relu", input_shape=(4,)), Dense(2, activation="softmax")], device="cpu"
)
model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
tb = TensorBoard(log_dir, update_freq=1)


class Kill(Callback):
    batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1
        if self.batches == kill_at:
            tb.flush()  # the worst case: everything logged so far reached the disk
            os.kill(os.getpid(), signal.SIGKILL)


callbacks = [tb, Kill()]
if backup_dir != "-":
    callbacks.append(BackupAndRestore(backup_dir, save_freq=5))
model.fit(x, y, batch_size=8, epochs=4, validation_data=(x[:8], y[:8]), verbose=0,
          callbacks=callbacks)
"""


def _all_points(run_dir):
    points = {}
    for purge in (True, False):  # whatever the reader, one point per step
        acc = ea_module.EventAccumulator(
            str(run_dir), size_guidance={"scalars": 0, "tensors": 0}, purge_orphaned_data=purge
        )
        acc.Reload()
        found = {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}
        if "keras/text_summary" in acc.Tags()["tensors"]:
            found["keras"] = [(e.step, None) for e in acc.Tensors("keras/text_summary")]
        found["graph"] = [(0, None)] * len(acc.Tags()["run_metadata"])
        points[purge] = found
    assert points[True] == points[False]
    return points[True]


@pytest.mark.slow
def test_sigkill_and_resume_leave_exactly_one_point_per_step(tmp_path):
    """SIGKILL after a backup (batch 10 of 16, mid-epoch 3) once the run has logged past it
    (batches 11-13, epoch 2's scalars and evaluation): the resumed run leaves each step once
    per tag, with the values of an uninterrupted run."""
    script = tmp_path / "train.py"
    script.write_text(_KILL_SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO / "src"))

    def run(log_dir, backup, kill_at):
        return subprocess.run(
            [sys.executable, str(script), str(log_dir), str(backup), str(kill_at)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    killed = run(tmp_path / "logs", tmp_path / "backup", 13)
    assert killed.returncode == -9, killed.stderr[-3000:]
    interrupted = _all_points(tmp_path / "logs" / "train")
    assert [s for s, _ in interrupted["batch_loss"]] == list(range(1, 14))  # past the backup
    resumed = run(tmp_path / "logs", tmp_path / "backup", 0)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    straight = run(tmp_path / "straight", "-", 0)
    assert straight.returncode == 0, straight.stderr[-3000:]
    for run_name in ("train", "validation"):
        got = _all_points(tmp_path / "logs" / run_name)
        want = _all_points(tmp_path / "straight" / run_name)
        assert set(got) == set(want)
        for tag, points in got.items():
            steps = [s for s, _ in points]
            assert len(steps) == len(set(steps)), (run_name, tag, steps)
            assert steps == [s for s, _ in want[tag]], (run_name, tag)
            if "steps_per_second" not in tag:
                assert [v for _, v in points] == pytest.approx([v for _, v in want[tag]])
    train = _all_points(tmp_path / "logs" / "train")
    assert [s for s, _ in train["batch_loss"]] == list(range(1, 17))
    assert [s for s, _ in train["epoch_loss"]] == [0, 1, 2, 3]
    assert len(train["keras"]) == 1
