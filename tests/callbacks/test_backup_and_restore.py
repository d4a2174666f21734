"""BackupAndRestore: arguments, save schedule, exact in-process resume, errors, fallback,
signals, and inputs that can or cannot be rewound."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from _helpers import RecordingCallback

import epochal
from epochal.callbacks import BackupAndRestore, Callback, EarlyStopping, RunGuard, SwapEMAWeights
from epochal.callbacks._save_schedule import SaveSchedule
from epochal.layers import Dense, Dropout
from epochal.saving import state_file as _state_io

N, BATCH = 40, 8  # 5 batches per epoch
STEPS = N // BATCH


class Interrupt(Callback):
    """Raises after global batch ``at`` (an exception skips on_train_end: the backup stays)."""

    def __init__(self, at: int | None) -> None:
        super().__init__()
        self.at = at

    def on_train_batch_end(self, batch, logs=None):
        if self.model.train_state.epoch * STEPS + batch == self.at:
            raise RuntimeError("interrupted")


def make_model(
    hidden: int = 8, optimizer: Any = "adam", dropout_seed: int | None = None
) -> epochal.Sequential:
    torch.manual_seed(0)
    model = epochal.Sequential(
        [
            Dense(hidden, activation="relu", input_shape=(4,)),
            Dropout(0.5, seed=dropout_seed),
            Dense(2, activation="softmax"),
        ],
        device="cpu",
    )
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def run(
    tiny_data,
    backup_dir=None,
    interrupt_at=None,
    hidden=8,
    epochs=3,
    x=None,
    ema=False,
    dropout_seed=None,
    **kwargs,
):
    """One 'process': fresh seeds and model, fit with BackupAndRestore; None if interrupted.
    ``ema``: an EMA Adam with SwapEMAWeights(swap_on_epoch=True), so epoch-end backups are
    taken with the averages in the model."""
    torch.manual_seed(1)
    np.random.seed(1)
    optimizer: Any = "adam"
    if ema:
        optimizer = epochal.optimizers.Adam(
            use_ema=True, ema_momentum=0.8, ema_overwrite_frequency=4
        )
    model = make_model(hidden, optimizer, dropout_seed)
    callbacks: list[Callback] = [Interrupt(interrupt_at)]
    if ema:
        callbacks.append(SwapEMAWeights(swap_on_epoch=True))
    if backup_dir is not None:
        callbacks.append(BackupAndRestore(backup_dir, **kwargs))
    data = (tiny_data[0], tiny_data[1]) if x is None else (x, None)
    try:
        model.fit(
            *data,
            batch_size=BATCH,
            epochs=epochs,
            verbose=0,
            callbacks=callbacks,
            validation_data=tiny_data,
        )
    except RuntimeError:
        return None
    return model


def same_weights(a, b) -> bool:
    pairs = zip(a.get_weights(), b.get_weights(), strict=True)
    return all(np.array_equal(p, q) for p, q in pairs)


# ---------------------------------------------------------------------- arguments
def test_args_validation(tmp_path):
    with pytest.raises(ValueError, match="Empty `backup_dir` argument passed"):
        BackupAndRestore("")
    with pytest.raises(ValueError, match=r"Invalid value for argument `save_freq`.*'batch'"):
        BackupAndRestore(tmp_path, save_freq="batch")
    with pytest.warns(UserWarning, match="every batch"):
        BackupAndRestore(tmp_path, save_freq=0)
    callback = BackupAndRestore(tmp_path, save_freq=3, double_checkpoint=True)
    assert callback.backup_path == tmp_path / "training_state.safetensors"
    assert isinstance(callback, RunGuard)  # dispatched after the other callbacks


def test_save_schedule_counts_across_epochs():
    schedule = SaveSchedule(2)  # 3 batches per epoch: Keras saves at (1, 2), (2, 1), (2, 3)
    due = [(e + 1, b + 1) for e in range(2) for b in range(3) if schedule.batch_done()]
    assert due == [(1, 2), (2, 1), (2, 3)]
    assert not SaveSchedule("epoch").batch_done()


def test_backups_are_taken_at_the_keras_save_points(tiny_data, tmp_path):
    saved = []

    def writer(path, state, fingerprint):
        saved.append((state["train"]["epoch"], state["train"]["step"]))
        _state_io.write_state(path, state, fingerprint)

    run(tiny_data, tmp_path / "a", save_freq=2, writer=writer, epochs=2)
    assert saved == [(0, 2), (0, 4), (1, 1), (1, 3), (1, 5)]  # step = batches done
    saved.clear()
    run(tiny_data, tmp_path / "b", writer=writer, epochs=2)
    assert saved == [(1, 0), (2, 0)]  # epoch mode: the next epoch, from its start


# ---------------------------------------------------------------------- exact resume
@pytest.mark.parametrize("save_freq", [1, 3, "epoch"])
def test_interrupted_runs_end_bit_identical(tiny_data, tmp_path, save_freq):
    reference = run(tiny_data)
    for at in (2, 6, 9, 12):
        assert run(tiny_data, tmp_path, interrupt_at=at, save_freq=save_freq) is None
    resumed = run(tiny_data, tmp_path, save_freq=save_freq)
    assert same_weights(resumed, reference)
    assert resumed.history.history == reference.history.history  # History so far, restored
    assert resumed.history.epoch == [0, 1, 2]
    assert not tmp_path.exists()  # delete_checkpoint


@pytest.mark.parametrize("save_freq", [2, "epoch"])
def test_interrupted_ema_runs_end_bit_identical(tiny_data, tmp_path, save_freq):
    """The EMA averages and SwapEMAWeights' state are in the backup: resumed anywhere (also
    from an epoch end, where the averages are in the model), the run ends identical."""
    reference = run(tiny_data, ema=True)
    for at in (3, 5, 9, 13):
        assert run(tiny_data, tmp_path, interrupt_at=at, save_freq=save_freq, ema=True) is None
    state = _state_io.read_state(tmp_path / "training_state.safetensors")
    assert set(state["optimizer"]["average"]) == {"0", "1", "2", "3"}
    assert "SwapEMAWeights" in state["train"]["callbacks"]
    resumed = run(tiny_data, tmp_path, save_freq=save_freq, ema=True)
    assert same_weights(resumed, reference)
    assert resumed.history.history == reference.history.history
    averages = zip(resumed.optimizer.ema_variables, reference.optimizer.ema_variables, strict=True)
    assert all(torch.equal(a, b) for a, b in averages)


@pytest.mark.parametrize("save_freq", [2, "epoch"])
def test_seeded_layers_continue_their_draws_after_a_resume(tiny_data, tmp_path, save_freq):
    """Dropout(seed=...) draws from its own generator, not torch's global one: its state is
    in the backup, so the resumed run draws the same masks as the uninterrupted one."""
    reference = run(tiny_data, dropout_seed=7)
    for at in (3, 8):
        assert (
            run(tiny_data, tmp_path, interrupt_at=at, save_freq=save_freq, dropout_seed=7) is None
        )
    state = _state_io.read_state(tmp_path / "training_state.safetensors")
    assert set(state["layer_generators"]) == {"0"}
    resumed = run(tiny_data, tmp_path, save_freq=save_freq, dropout_seed=7)
    assert same_weights(resumed, reference)
    assert resumed.history.history == reference.history.history


def test_backup_holds_optimizer_rng_data_metrics_and_callbacks(tiny_data, tmp_path):
    run(tiny_data, tmp_path, interrupt_at=7, save_freq=1)
    state = _state_io.read_state(tmp_path / "training_state.safetensors")
    assert state["optimizer"]["iterations"] == 7
    assert set(state["optimizer"]["torch"]["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
    train = state["train"]
    assert (train["epoch"], train["step"]) == (1, 2)
    assert set(train["rng"]) >= {"torch", "numpy", "python"}
    assert train["data"]["cursor"] == 2
    assert train["metrics"]["loss"]["count"] > 0  # the epoch's running sums
    assert "History" in train["callbacks"]


def test_delete_checkpoint_false_keeps_the_backup(tiny_data, tmp_path):
    run(tiny_data, tmp_path, delete_checkpoint=False)
    state = _state_io.read_state(tmp_path / "training_state.safetensors")
    assert state["train"]["epoch"] == 3


# ---------------------------------------------------------------------- errors and fallback
def test_backup_of_another_architecture_is_a_clear_error(tiny_data, tmp_path):
    run(tiny_data, tmp_path, interrupt_at=6, save_freq=1)
    with pytest.raises(
        _state_io.IncompatibleStateError,
        match=r"does not match the model's architecture.*\[4, 8\].*\[4, 16\]",
    ):
        run(tiny_data, tmp_path, hidden=16)


def test_backup_of_another_format_version_is_a_clear_error(tiny_data, tmp_path, monkeypatch):
    monkeypatch.setattr(_state_io, "FORMAT_VERSION", 99)
    run(tiny_data, tmp_path, interrupt_at=6, save_freq=1)
    monkeypatch.undo()
    with pytest.raises(ValueError, match="format version 99; this version of epochal reads"):
        run(tiny_data, tmp_path)


def _corrupt(path) -> None:
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # a flipped bit in the tensor data: only the checksum sees it
    path.write_bytes(bytes(data))


def test_corrupted_latest_falls_back_to_the_previous_backup(tiny_data, tmp_path):
    reference = run(tiny_data)
    run(tiny_data, tmp_path, interrupt_at=8, save_freq=3, double_checkpoint=True)
    assert (tmp_path / "training_state.safetensors.bkp").is_file()
    _corrupt(tmp_path / "training_state.safetensors")
    with pytest.warns(UserWarning, match="checksum mismatch"):
        resumed = run(tiny_data, tmp_path, save_freq=3, double_checkpoint=True)
    assert same_weights(resumed, reference)


def test_corrupted_backup_without_a_previous_one_raises(tiny_data, tmp_path):
    run(tiny_data, tmp_path, interrupt_at=8, save_freq=3)
    _corrupt(tmp_path / "training_state.safetensors")
    with (
        pytest.raises(_state_io.CorruptStateError, match="corrupted: checksum mismatch"),
        pytest.warns(UserWarning, match="Cannot restore from"),
    ):
        run(tiny_data, tmp_path, save_freq=3)


# ---------------------------------------------------------------------- inputs
class CountingDataset(torch.utils.data.Dataset):
    def __init__(self, x, y) -> None:
        self.x, self.y, self.reads = torch.as_tensor(x), torch.as_tensor(y), 0

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index):
        self.reads += 1
        return self.x[index], self.y[index]


@pytest.mark.parametrize("at", [1, 3])
def test_resume_jumps_to_the_saved_batch_without_replay(tiny_data, tmp_path, at):
    dataset = CountingDataset(*tiny_data)
    run(tiny_data, tmp_path, interrupt_at=at, save_freq=1, x=dataset, epochs=1)
    dataset.reads = 0
    run(tiny_data, tmp_path, save_freq=1, x=dataset, epochs=1)
    # one batch to build the model, then only the batches after the saved one (the interrupt
    # came before the backup of batch `at`: `at` batches were saved as done)
    assert dataset.reads == BATCH + N - at * BATCH


def test_plain_iterable_resumes_at_the_next_epoch_boundary(tiny_data, tmp_path):
    x, y = tiny_data

    class Batches:  # re-iterable, but its order is not ours: it cannot be rewound
        def __iter__(self):
            return iter([(x[i : i + BATCH], y[i : i + BATCH]) for i in range(0, N, BATCH)])

    batches = Batches()
    run(tiny_data, tmp_path, interrupt_at=STEPS + 2, save_freq=1, x=batches)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = run(tiny_data, tmp_path, save_freq=1, x=batches)
    messages = [str(w.message) for w in caught if "next epoch boundary" in str(w.message)]
    assert len(messages) == 1
    assert model.history.epoch == [0, 1, 2]
    assert model.optimizer.iterations == STEPS + 2 + STEPS  # epoch 1 ended after 2 batches


# ---------------------------------------------------------------------- signals
def test_sigterm_finishes_the_step_backs_up_and_exits(tiny_data, tmp_path, capsys):
    reference = run(tiny_data)
    previous = signal.getsignal(signal.SIGTERM)

    class Term(Callback):
        def on_train_batch_end(self, batch, logs=None):
            if self.model.train_state.epoch == 1 and batch == 1:
                os.kill(os.getpid(), signal.SIGTERM)

    torch.manual_seed(1)
    np.random.seed(1)
    model, recorder = make_model(), RecordingCallback()
    with pytest.raises(SystemExit) as exit_info:
        model.fit(
            *tiny_data,
            batch_size=BATCH,
            epochs=3,
            verbose=0,
            validation_data=tiny_data,
            callbacks=[Term(), recorder, BackupAndRestore(tmp_path)],
        )
    assert exit_info.value.code == 128 + signal.SIGTERM
    assert "Run the same command again to resume" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is previous
    hooks = [(hook, index) for hook, index, _ in recorder.calls[-3:]]
    assert hooks == [
        ("on_train_batch_begin", 1),
        ("on_train_batch_end", 1),
        ("on_train_end", None),
    ]  # no on_epoch_end for the partial epoch
    assert (tmp_path / "training_state.safetensors").is_file()
    assert same_weights(run(tiny_data, tmp_path), reference)


def test_signal_handlers_are_removed_when_fit_raises(tiny_data, tmp_path):
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    seen = {}

    class Spy(Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen["handler"] = signal.getsignal(signal.SIGTERM)

    # Interrupt raises mid-training: on_train_end is not called, end_run is.
    assert run(tiny_data, tmp_path, interrupt_at=3, save_freq=1) is None
    assert {s: signal.getsignal(s) for s in previous} == previous
    model = make_model()
    backup = BackupAndRestore(tmp_path / "other")
    with pytest.raises(ValueError, match="boom"):
        model.fit(
            *tiny_data,
            batch_size=BATCH,
            epochs=1,
            verbose=0,
            callbacks=[
                Spy(),
                backup,
                epochal.callbacks.LambdaCallback(
                    on_epoch_end=lambda epoch, logs: (_ for _ in ()).throw(ValueError("boom"))
                ),
            ],
        )
    assert seen["handler"] == backup._on_signal  # installed while fit ran
    assert {s: signal.getsignal(s) for s in previous} == previous


def test_second_ctrl_c_aborts_at_once(tmp_path, capsys):
    callback = BackupAndRestore(tmp_path)
    callback._on_signal(signal.SIGINT, None)
    assert "press Ctrl-C again" in capsys.readouterr().err
    with pytest.raises(KeyboardInterrupt):
        callback._on_signal(signal.SIGINT, None)


# ---------------------------------------------------------------------- state file
def test_state_file_round_trip_and_rejections(tmp_path):
    state = {"t": torch.arange(3.0), 1: (np.uint32(7), None, [1.5, "s"]), "a": np.eye(2)}
    path = _state_io.write_state(tmp_path / "s.safetensors", state, [["w", [3], "float32"]])
    loaded = _state_io.read_state(path)
    assert torch.equal(loaded["t"], state["t"])
    assert np.array_equal(loaded["a"], state["a"])
    assert loaded[1] == (np.uint32(7), None, [1.5, "s"])
    with pytest.raises(TypeError, match=r"Cannot store object at 'state/x'"):
        _state_io.encode_state({"x": object()})
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(_state_io.CorruptStateError):
        _state_io.read_state(path)


FIXTURES = Path(__file__).parent.parent / "fixtures" / "backups"


def test_a_version_1_backup_resumes_exactly_with_callbacks_in_another_order(tmp_path):
    # Written by scripts/make_v1_backup_fixture.py with the format-version-1 code (position
    # keys, the old codec and checksum); the expected weights come from resuming it there.
    backup_dir = tmp_path / "backup"
    shutil.copytree(FIXTURES / "v1", backup_dir)
    epochal.utils.set_random_seed(99)  # the backup's random state must win
    model = epochal.Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    x = np.linspace(0, 1, 48, dtype="float32").reshape(16, 3)
    y = x.sum(axis=1, keepdims=True)
    stopper = EarlyStopping(monitor="loss", patience=5)
    backup = BackupAndRestore(backup_dir, save_freq=1, handle_signals=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every saved callback state is claimed
        history = model.fit(
            x, y, batch_size=4, epochs=3, shuffle=True, verbose=0, callbacks=[backup, stopper]
        )
    # The old code's Adam was torch's update; since Adam follows Keras' epsilon placement
    # the resumed run differs from it by that rule only (a few 1e-5), and equals exactly
    # what today's code reached from this backup (v1_resumed_weights_keras_adam.npz).
    old_rule = np.load(FIXTURES / "v1_resumed_weights.npz")
    expected = np.load(FIXTURES / "v1_resumed_weights_keras_adam.npz")
    for index, weight in enumerate(model.get_weights()):
        np.testing.assert_allclose(weight, old_rule[f"arr_{index}"], rtol=0, atol=1e-4)
        np.testing.assert_array_equal(weight, expected[f"arr_{index}"])
    assert len(history.history["loss"]) == 3  # epoch 1 comes from the backup's History
    assert history.history["loss"][0] == pytest.approx(3.0923142433166504)


# ---------------------------------------------------------------------- async saves
def _fit_tiny(tiny_data, callbacks, epochs=2):
    torch.manual_seed(1)
    model = make_model()
    model.fit(*tiny_data, batch_size=BATCH, epochs=epochs, verbose=0, callbacks=callbacks)
    return model


class _StepRecorder(Callback):
    def __init__(self):
        super().__init__()
        self.steps = []

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append(self.model.train_state.epoch * STEPS + batch)


def test_async_write_error_is_raised_at_the_next_step_naming_the_file(tiny_data, tmp_path):
    from epochal.saving.async_writer import BackgroundWriteError

    def failing(path, state, fingerprint):
        raise OSError(28, "No space left on device", str(path))

    recorder = _StepRecorder()
    backup = BackupAndRestore(tmp_path / "b", save_freq=2, writer=failing)
    assert backup.async_save  # the default
    with pytest.raises(BackgroundWriteError, match=r"training_state\.safetensors") as info:
        _fit_tiny(tiny_data, [recorder, backup])
    assert isinstance(info.value.__cause__, OSError)
    # Saved after batch 2; raised at batch 3's end, or at the latest by the next save.
    assert recorder.steps[-1] in (2, 3)


def test_async_one_write_in_flight_and_fit_returns_after_the_last_is_whole(tiny_data, tmp_path):
    release, lock = threading.Event(), threading.Lock()
    active, events = [0], []

    def slow(path, state, fingerprint):
        with lock:
            active[0] += 1
            events.append(("start", active[0]))
        assert release.wait(30)
        release.clear()
        _state_io.write_state(path, state, fingerprint)
        with lock:
            active[0] -= 1
            events.append(("done", state["train"]["epoch"] * STEPS + state["train"]["step"]))

    class Releaser(Callback):  # runs before the guard: lets the write in flight finish
        seen_in_flight = 0

        def on_train_batch_end(self, batch, logs=None):
            due = (self.model.train_state.epoch * STEPS + batch + 1) % 3 == 0
            if due and backup._async.in_flight is not None:
                Releaser.seen_in_flight += 1
                release.set()

        def on_train_end(self, logs=None):
            release.set()

    backup = BackupAndRestore(tmp_path / "b", save_freq=3, delete_checkpoint=False, writer=slow)
    _fit_tiny(tiny_data, [Releaser(), backup])
    # 10 batches: saves after 3, 6, 9; each waited for the one before (never two at once).
    assert [e for e in events if e[0] == "start"] == [("start", 1)] * 3
    assert [e[1] for e in events if e[0] == "done"] == [3, 6, 9]
    assert Releaser.seen_in_flight == 2  # the next save found the previous one in flight
    state = _state_io.read_state(backup.backup_path)  # whole when fit returned
    assert (state["train"]["epoch"], state["train"]["step"]) == (1, 4)


def test_the_durable_backup_is_never_older_than_two_save_intervals(tiny_data, tmp_path):
    # The worst case: each write lands only when the step before the next save is done.
    # At every batch end (before this step's save), the file on disk must then hold a
    # position at most 2 * save_freq batches back.
    freq, done, ages = 2, [0], []

    def late(path, state, fingerprint):
        position = state["train"]["epoch"] * STEPS + state["train"]["step"]
        deadline = time.monotonic() + 30
        while done[0] < position + freq - 1 and time.monotonic() < deadline:
            time.sleep(0.001)  # polls the training thread's progress, with a deadline
        _state_io.write_state(path, state, fingerprint)

    class Checker(Callback):  # runs before the guard's save of the same step
        def on_train_batch_end(self, batch, logs=None):
            done[0] = self.model.train_state.epoch * STEPS + batch + 1
            durable = 0
            if backup.backup_path.is_file():
                train = _state_io.read_state(backup.backup_path)["train"]
                durable = train["epoch"] * STEPS + train["step"]
            ages.append(done[0] - durable)

        def on_train_end(self, logs=None):  # before the guard's: the last write may land
            done[0] = 1 << 30

    backup = BackupAndRestore(tmp_path / "b", save_freq=freq, delete_checkpoint=False, writer=late)
    _fit_tiny(tiny_data, [Checker(), backup])
    assert len(ages) == 2 * STEPS and max(ages) <= 2 * freq
    assert 2 * freq in ages  # the bound is reached: the writes really were late


@pytest.mark.parametrize("async_save", [True, False])
def test_async_and_sync_backups_resume_identically(tiny_data, tmp_path, async_save):
    reference = run(tiny_data)
    assert run(tiny_data, tmp_path, interrupt_at=7, save_freq=2, async_save=async_save) is None
    resumed = run(tiny_data, tmp_path, save_freq=2, async_save=async_save)
    assert same_weights(resumed, reference)
