"""ModelCheckpoint: SPEC §6 and §14 plus the issue's extensions."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

from epochal.callbacks import ModelCheckpoint
from epochal.saving import load_model


class Saver:
    """A stand-in model that records saves (and writes the file)."""

    def __init__(self, directions=None):
        self.saved = []
        self.is_main_process = True
        self.directions = directions or {"loss": "down", "accuracy": "up", "acc": "up"}
        self.metrics_names = ["loss"]

    def metric_direction(self, name):
        return self.directions.get(name[4:] if name.startswith("val_") else name)

    def _save(self, path, overwrite=True):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "w") as handle:
            handle.write("x")
        self.saved.append(path)

    save = save_weights = _save


def _cb(filepath, model=None, **kwargs):
    lines = []
    cb = ModelCheckpoint(str(filepath), print_fn=lines.append, **kwargs)
    cb.set_model(model or Saver())
    cb.on_train_begin()
    return cb, lines


def _epochs(cb, values, key="val_loss"):
    for epoch, value in enumerate(values):
        cb.on_epoch_begin(epoch)
        cb.on_epoch_end(epoch, {"loss": 1.0, key: value} if value is not None else {"loss": 1.0})


# ---------------------------------------------------------------- argument validation
def test_args_validation(tmp_path):
    with pytest.raises(ValueError, match=r"Unrecognized save_freq: 'batch'"):
        ModelCheckpoint(str(tmp_path / "m.keras"), save_freq="batch")
    with pytest.raises(ValueError, match="Unrecognized save_freq"):
        ModelCheckpoint(str(tmp_path / "m.keras"), save_freq=2.5)
    with pytest.raises(ValueError, match=r"must end in `\.weights\.h5`"):
        ModelCheckpoint(str(tmp_path / "m.keras"), save_weights_only=True)
    with pytest.raises(ValueError, match=r"must end in `\.keras`"):
        ModelCheckpoint(str(tmp_path / "m.weights.txt"))
    with pytest.raises(ValueError, match=r"save_weights_only=True.*`\.keras`"):
        ModelCheckpoint(str(tmp_path / "m.weights.h5"))  # refused now, not at the first save
    with pytest.raises(TypeError, match="filepath"):
        ModelCheckpoint(3)
    with pytest.warns(UserWarning, match="ModelCheckpoint mode 'best' is unknown, fallback"):
        ModelCheckpoint(str(tmp_path / "m.keras"), mode="best")
    with pytest.raises(ValueError, match=r"max_to_keep.*templated"):
        ModelCheckpoint(str(tmp_path / "m.keras"), max_to_keep=2)
    with pytest.raises(ValueError, match="max_to_keep"):
        ModelCheckpoint(str(tmp_path / "m-{epoch}.keras"), max_to_keep=0)
    with pytest.raises(ValueError, match="period"):
        ModelCheckpoint(str(tmp_path / "m.keras"), period=0)
    with pytest.warns(UserWarning, match="every batch"):
        ModelCheckpoint(str(tmp_path / "m.keras"), save_freq=0)


def test_legacy_suffixes_and_period_warn(tmp_path):
    with pytest.warns(UserWarning, match="legacy HDF5 suffix"):
        ModelCheckpoint(str(tmp_path / "w.h5"), save_weights_only=True)
    with pytest.warns(UserWarning, match="legacy HDF5 suffix"):
        ModelCheckpoint(str(tmp_path / "m.hdf5"))
    with pytest.warns(DeprecationWarning, match="`period` is deprecated"):
        ModelCheckpoint(str(tmp_path / "m.keras"), period=2)


def test_unwritable_folder_fails_at_construction(tmp_path):
    (tmp_path / "afile").write_text("")
    with pytest.raises(NotADirectoryError, match="afile"):
        ModelCheckpoint(str(tmp_path / "afile" / "sub" / "m.keras"))
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(PermissionError, match="locked"):
            ModelCheckpoint(str(locked / "m.keras"))


def test_existing_directory_at_path(tmp_path):
    (tmp_path / "m.keras").mkdir()
    cb, _ = _cb(tmp_path / "m.keras")
    with pytest.raises(OSError, match="Please specify a non-directory filepath"):
        _epochs(cb, [0.5])


# ---------------------------------------------------------------- paths
def test_template_is_one_based_and_formats_logs(tmp_path):
    cb, _ = _cb(tmp_path / "w-{epoch:02d}-{val_loss:.2f}.keras")
    _epochs(cb, [0.6449, 0.62])
    assert [os.path.basename(p) for p in cb.model.saved] == ["w-01-0.64.keras", "w-02-0.62.keras"]


def test_missing_template_key_lists_available_keys(tmp_path):
    cb, _ = _cb(tmp_path / "w-{val_acc:.2f}.keras")
    with pytest.raises(
        KeyError,
        match=r"Failed to format this callback filepath.*"
        r"Reason: .*val_acc.*Available keys: epoch, loss, val_loss",
    ):
        _epochs(cb, [0.5])


def test_acc_alias_in_templates(tmp_path):
    cb, _ = _cb(tmp_path / "w-{val_acc:.2f}.keras", monitor="val_accuracy")
    _epochs(cb, [0.75], key="val_accuracy")
    assert os.path.basename(cb.model.saved[0]) == "w-0.75.keras"


def test_path_characters_in_values_do_not_create_folders(tmp_path):
    cb, _ = _cb(tmp_path / "w-{tag}.keras")
    cb.on_epoch_begin(0)
    cb.on_epoch_end(0, {"val_loss": 1.0, "tag": "a/b\\c"})
    assert cb.model.saved == [str(tmp_path / "w-a_b_c.keras")]
    assert sorted(os.listdir(tmp_path)) == ["w-a_b_c.keras"]


def test_batch_saves_count_across_epochs_and_fill_batch(tmp_path):
    cb, _ = _cb(tmp_path / "w-{epoch}-{batch}.keras", save_freq=2)
    for epoch in range(2):
        cb.on_epoch_begin(epoch)
        for batch in range(3):
            cb.on_train_batch_end(batch, {"loss": 1.0})
        cb.on_epoch_end(epoch, {"loss": 1.0})
    names = [os.path.basename(p) for p in cb.model.saved]
    assert names == ["w-1-2.keras", "w-2-1.keras", "w-2-3.keras"]
    assert cb.implements("on_train_batch_end")
    assert not ModelCheckpoint(str(tmp_path / "m.keras")).implements("on_train_batch_end")


def test_batch_placeholder_in_epoch_mode_is_a_key_error(tmp_path):
    cb, _ = _cb(tmp_path / "w-{batch}.keras")
    with pytest.raises(KeyError, match=r"Reason: .*batch"):
        _epochs(cb, [1.0])


# ---------------------------------------------------------------- best only
def test_verbose_messages_and_best_only(tmp_path):
    path = tmp_path / "best.keras"
    cb, lines = _cb(path, save_best_only=True, verbose=1)
    _epochs(cb, [0.5, 0.7, 0.25])
    assert lines == [
        f"\nEpoch 1: val_loss improved from None to 0.50000, saving model to {path}",
        f"\nEpoch 1: finished saving model to {path}",
        "\nEpoch 2: val_loss did not improve from 0.50000",
        f"\nEpoch 3: val_loss improved from 0.50000 to 0.25000, saving model to {path}",
        f"\nEpoch 3: finished saving model to {path}",
    ]
    assert len(cb.model.saved) == 2


def test_plain_verbose_message(tmp_path):
    cb, lines = _cb(tmp_path / "m.keras", verbose=1)
    _epochs(cb, [0.5])
    assert lines[0] == f"\nEpoch 1: saving model to {tmp_path / 'm.keras'}"


def test_missing_monitor_saves_every_epoch_and_warns_once_per_fit(tmp_path):
    """Keras 3: save_best_only with the monitor absent (val_loss, no validation) saves every
    time. epochal warns once per fit rather than every epoch."""
    cb, lines = _cb(tmp_path / "best.keras", save_best_only=True, monitor="val_loss", verbose=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _epochs(cb, [None, None, None])
        cb.on_train_begin()  # a second fit warns again, once
        _epochs(cb, [None])
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2
    assert "Can save best model only with val_loss available" in messages[0]
    assert cb.model.saved == [str(tmp_path / "best.keras")] * 4
    assert lines[0] == f"\nEpoch 1: saving model to {tmp_path / 'best.keras'}"
    assert cb.best is None


def test_batch_level_best_only_saves_without_validation(tmp_path):
    cb, _ = _cb(tmp_path / "best-{batch}.keras", save_best_only=True, save_freq=1)
    cb.on_epoch_begin(0)
    with pytest.warns(UserWarning, match="Can save best model only"):
        cb.on_train_batch_end(0, {"loss": 1.0})
    cb.on_train_batch_end(1, {"loss": 1.0})
    assert [os.path.basename(p) for p in cb.model.saved] == ["best-1.keras", "best-2.keras"]


def test_keras_docstring_example_without_validation_writes_a_checkpoint(
    tmp_path, tiny_data, compiled_model
):
    """Keras' own ModelCheckpoint example (save_best_only, default val_loss) with no
    validation data still leaves a checkpoint."""
    path = tmp_path / "ckpt" / "checkpoint.model.keras"
    cb = ModelCheckpoint(str(path), monitor="val_loss", mode="min", save_best_only=True)
    with pytest.warns(UserWarning, match="Can save best model only with val_loss"):
        compiled_model().fit(*tiny_data, epochs=2, batch_size=20, verbose=0, callbacks=[cb])
    assert load_model(path).metrics_names


def test_batch_level_best_only_on_train_monitor_resolves_direction(tmp_path):
    cb, _ = _cb(tmp_path / "w-{batch}.keras", save_best_only=True, save_freq=1, monitor="loss")
    cb.on_epoch_begin(0)
    for batch, loss in enumerate([1.0, 0.5, 0.8]):
        cb.on_train_batch_end(batch, {"loss": loss})
    assert [os.path.basename(p) for p in cb.model.saved] == ["w-1.keras", "w-2.keras"]


def test_threshold_mode_and_best_persisting_across_fits(tmp_path):
    cb, _ = _cb(
        tmp_path / "b.keras",
        save_best_only=True,
        initial_value_threshold=0.8,
        monitor="val_accuracy",
        mode="max",
    )
    _epochs(cb, [0.7, 0.85], key="val_accuracy")
    assert len(cb.model.saved) == 1
    cb.on_train_begin()  # a second fit keeps `best`
    _epochs(cb, [0.84], key="val_accuracy")
    assert len(cb.model.saved) == 1
    assert cb.best == pytest.approx(0.85)


def test_auto_mode_unknown_metric_raises_even_without_best_only(tmp_path):
    cb, _ = _cb(tmp_path / "m.keras", monitor="val_custom")
    with pytest.raises(ValueError, match="isn't able to automatically determine"):
        _epochs(cb, [0.1], key="val_custom")


def test_period_saves_every_n_epochs(tmp_path):
    with pytest.warns(DeprecationWarning, match="period"):
        cb, _ = _cb(tmp_path / "w-{epoch}.keras", period=2)
    _epochs(cb, [1.0, 1.0, 1.0, 1.0, 1.0])
    assert [os.path.basename(p) for p in cb.model.saved] == ["w-2.keras", "w-4.keras"]


def test_max_to_keep_keeps_the_best_files(tmp_path):
    cb, _ = _cb(tmp_path / "w-{epoch}.keras", max_to_keep=2)
    _epochs(cb, [0.5, 0.3, 0.9, 0.4, 0.1])
    assert sorted(os.listdir(tmp_path)) == ["w-2.keras", "w-5.keras"]
    assert [os.path.basename(p) for p, _, _ in cb.kept] == ["w-5.keras", "w-2.keras"]


def test_state_dict_round_trip(tmp_path):
    cb, _ = _cb(tmp_path / "w-{epoch}.keras", save_best_only=True, max_to_keep=3, save_freq=5)
    cb.best, cb._batches_since_save = 0.25, 3
    cb.kept = [(str(tmp_path / "w-1.keras"), 0.25, 1)]
    other = ModelCheckpoint(
        str(tmp_path / "w-{epoch}.keras"), save_best_only=True, max_to_keep=3, save_freq=5
    )
    other.load_state_dict(cb.state_dict())
    assert other.state_dict() == cb.state_dict()
    with pytest.raises(ValueError, match="missing"):
        other.load_state_dict({"best": 1.0})


# ---------------------------------------------------------------- deletion safety
def _planted_state(tmp_path, entries):
    return {
        "best": None,
        "direction": "min",
        "kept": entries,
        "batches_since_save": 0,
        "epochs_since_save": 0,
        "saves": 5,
    }


def test_planted_backup_cannot_make_max_to_keep_delete_other_files(tmp_path, monkeypatch):
    """A tampered backup naming files outside the checkpoint folder, or not matching the
    template, never gets them deleted: the entries are dropped with a warning."""
    folder = tmp_path / "ckpt"
    folder.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious")
    monkeypatch.chdir(folder)
    up = tmp_path / "x"
    up.write_text("precious")
    other = folder / "notes.txt"
    other.write_text("precious")
    template = str(folder / "w-{epoch}.keras")
    cb, _ = _cb(template, max_to_keep=1)
    entries = [
        [str(victim), -1.0, 1],  # outside, ranked best so a later save evicts the others
        ["../x", -2.0, 2],
        [str(folder / ".." / "victim"), -3.0, 3],
        [str(other), -4.0, 4],
        [str(folder / "w-1.keras"), "0.1", 1],  # not a number
        [str(folder / "w-1.keras"), 0.1],  # not a triple
        "w-1.keras",
    ]
    with pytest.warns(UserWarning, match="ignoring the restored kept-file entry") as caught:
        cb.load_state_dict(_planted_state(tmp_path, entries))
    assert len(caught) == len(entries)
    assert str(victim) in str(caught[0].message)
    assert cb.kept == []
    _epochs(cb, [0.5, 0.4, 0.3])
    assert victim.read_text() == up.read_text() == other.read_text() == "precious"
    assert sorted(os.listdir(folder)) == ["notes.txt", "w-3.keras"]


def test_delete_time_recheck_refuses_foreign_paths(tmp_path):
    """Even a kept list corrupted in memory cannot make it remove a foreign file."""
    victim = tmp_path / "victim"
    victim.write_text("precious")
    cb, _ = _cb(tmp_path / "ckpt" / "w-{epoch}.keras", max_to_keep=1)
    cb.kept = [(str(victim), 10.0, 0), ("../x", 11.0, 0)]
    with pytest.warns(UserWarning, match="not deleting"):
        _epochs(cb, [0.5])
    assert victim.read_text() == "precious"
    assert [os.path.basename(p) for p, _, _ in cb.kept] == ["w-1.keras"]


def test_restored_state_is_type_and_range_checked(tmp_path):
    cb, _ = _cb(tmp_path / "w-{epoch}.keras", max_to_keep=2)
    good = _planted_state(tmp_path, [[str(tmp_path / "w-2.keras"), float("nan"), 2]])
    cb.load_state_dict(good)
    assert cb.kept[0][0] == str(tmp_path / "w-2.keras")
    for key, bad in (
        ("best", "0.5"),
        ("direction", "sideways"),
        ("batches_since_save", -1),
        ("saves", 1.5),
        ("kept", {"a": 1}),
    ):
        with pytest.raises(ValueError, match=key):
            cb.load_state_dict({**good, key: bad})


def test_owned_by_template_rules():
    from epochal.callbacks._checkpoint_paths import owned_by_template

    template = "/ck/w-{epoch:02d}-{val_loss:.2f}.keras"
    assert owned_by_template("/ck/w-01-0.50.keras", template)
    for path in ("/tmp/victim", "/ck/../victim", "/ck/sub/w-1-2.keras", "../x", "", None, 3):
        assert not owned_by_template(path, template), path
    assert owned_by_template("runs/a/w.keras", "runs/{name}/w.keras")
    assert not owned_by_template("runs/../w.keras", "runs/{name}/w.keras")


def test_non_main_process_does_not_write(tmp_path):
    model = Saver()
    model.is_main_process = False
    cb, _ = _cb(tmp_path / "m.keras", model=model)
    _epochs(cb, [0.5])
    assert model.saved == []


# ---------------------------------------------------------------- through fit
def test_fit_with_validation_writes_loadable_best_model(tmp_path, tiny_data, compiled_model):
    model = compiled_model()
    path = tmp_path / "ckpt" / "best-{epoch:02d}.keras"
    cb = ModelCheckpoint(str(path), save_best_only=True, monitor="val_accuracy")
    model.fit(*tiny_data, epochs=3, batch_size=8, validation_split=0.25, verbose=0, callbacks=[cb])
    files = sorted(os.listdir(tmp_path / "ckpt"))
    assert files
    assert not [f for f in files if f.endswith(".tmp")]
    loaded = load_model(tmp_path / "ckpt" / files[-1])
    assert loaded.metrics_names == model.metrics_names


def test_fit_weights_only_by_batch(tmp_path, tiny_data, compiled_model):
    model = compiled_model()
    cb = ModelCheckpoint(
        str(tmp_path / "w-{epoch}-{batch}.weights.h5"), save_weights_only=True, save_freq=5
    )
    model.fit(*tiny_data, epochs=2, batch_size=8, verbose=0, callbacks=[cb])
    assert sorted(os.listdir(tmp_path)) == ["w-1-5.weights.h5", "w-2-5.weights.h5"]
    fresh = compiled_model()
    fresh.load_weights(tmp_path / "w-2-5.weights.h5")
    assert all(
        np.array_equal(a, b) for a, b in zip(fresh.get_weights(), model.get_weights(), strict=True)
    )


# ---------------------------------------------------------------------- async saves
def _tiny_model():
    import torch

    import epochal
    from epochal.layers import Dense

    torch.manual_seed(0)
    model = epochal.Sequential([Dense(8, activation="relu", input_shape=(4,)), Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    return model


def _fit(model, callbacks, epochs=3):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 4)).astype("float32"), rng.normal(size=(16, 2)).astype("float32")
    model.fit(x, y, batch_size=8, epochs=epochs, verbose=0, callbacks=callbacks)


@pytest.mark.parametrize("async_save", [False, True])
@pytest.mark.parametrize("suffix", [".keras", ".weights.h5"])
def test_max_to_keep_deletes_a_file_only_after_its_replacement_is_durable(
    tmp_path, monkeypatch, async_save, suffix
):
    from epochal.callbacks import model_checkpoint
    from epochal.saving import prepare_save

    events = []
    real_write, real_remove = model_checkpoint._write_file, os.remove

    def write(pending, tensors):
        result = real_write(pending, tensors)
        events.append(("durable", pending.path))
        return result

    def remove(path):
        # The save that prunes ``path`` has renamed its own file into place already.
        latest = [done for kind, done in events if kind == "durable"][-1]
        assert latest != path and os.path.exists(latest)
        events.append(("removed", path))
        real_remove(path)

    monkeypatch.setattr(model_checkpoint, "_write_file", write)
    monkeypatch.setattr(model_checkpoint.os, "remove", remove)
    weights_only = suffix != ".keras"
    cb = ModelCheckpoint(
        str(tmp_path / f"m-{{epoch}}{suffix}"),
        save_weights_only=weights_only,
        max_to_keep=1,
        monitor="loss",
        async_save=async_save,
    )
    model = _tiny_model()
    if not async_save:  # the synchronous path writes through the host

        def save(self, path, overwrite=True):
            pending = prepare_save(self, path, weights_only=weights_only)
            write(pending, pending.tensors)

        monkeypatch.setattr(type(model), "save" if not weights_only else "save_weights", save)
    _fit(model, [cb])
    names = [os.path.basename(p) for kind, p in events]
    expected = [f"m-1{suffix}", f"m-2{suffix}", f"m-1{suffix}", f"m-3{suffix}", f"m-2{suffix}"]
    kinds = [kind for kind, _ in events]
    # Pruned files keep their books order: each deletion follows its replacement's rename.
    assert sorted(names) == sorted(expected)
    assert kinds.count("removed") == 2
    for index, (kind, path) in enumerate(events):
        if kind == "removed":
            newer = [p for k, p in events[:index] if k == "durable" and p != path]
            assert newer, f"{path} removed before any replacement was durable"
    assert os.listdir(tmp_path) == [f"m-3{suffix}"]
    _tiny_model().load_weights(tmp_path / f"m-3{suffix}")


def test_async_checkpoint_error_is_raised_naming_the_file(tmp_path, monkeypatch):
    from epochal.callbacks import model_checkpoint
    from epochal.saving.async_writer import BackgroundWriteError

    def failing(pending, tensors):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(model_checkpoint, "_write_file", failing)
    cb = ModelCheckpoint(
        str(tmp_path / "w-{epoch}.weights.h5"), save_weights_only=True, async_save=True
    )
    with pytest.raises(BackgroundWriteError, match=r"w-1\.weights\.h5.*No space left"):
        _fit(_tiny_model(), [cb])


def test_async_checkpoint_fit_returns_after_the_last_file_is_whole(tmp_path, monkeypatch):
    import threading

    import epochal
    from epochal.callbacks import Callback, model_checkpoint

    release, real_write, finished = threading.Event(), model_checkpoint._write_file, []

    def slow(pending, tensors):
        assert release.wait(30)  # held until the run is over
        real_write(pending, tensors)
        finished.append(os.path.basename(pending.path))

    class Release(Callback):
        def on_train_end(self, logs=None):
            assert not finished  # still in flight when the run ends
            release.set()

    monkeypatch.setattr(model_checkpoint, "_write_file", slow)
    cb = ModelCheckpoint(str(tmp_path / "m.keras"), async_save=True)
    model = _tiny_model()
    _fit(model, [Release(), cb], epochs=1)
    assert finished == ["m.keras"]  # fit returned after the write
    loaded = epochal.load_model(tmp_path / "m.keras")
    for name, tensor in model.module.state_dict().items():
        assert np.array_equal(loaded.module.state_dict()[name].numpy(), tensor.numpy())


@pytest.mark.parametrize("suffix", [".keras", ".weights.h5"])
def test_async_checkpoint_writes_the_format_a_synchronous_save_writes(tmp_path, suffix):
    """Keras' format when Keras can hold the model (as model.save would), from the
    snapshot of the step that saved it, though training went on while it was written."""
    import json
    import zipfile

    import h5py

    import epochal
    from epochal.callbacks import Callback

    weights_only = suffix != ".keras"
    snapshots = []

    class Snapshot(Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots.append([w.copy() for w in self.model.get_weights()])

    for mode in (False, True):
        cb = ModelCheckpoint(
            str(tmp_path / f"{mode}-{{epoch}}{suffix}"),
            save_weights_only=weights_only,
            async_save=mode,
        )
        _fit(_tiny_model(), [cb, Snapshot()], epochs=2)
    sync_first, async_first = tmp_path / f"False-1{suffix}", tmp_path / f"True-1{suffix}"
    if weights_only:
        for path in (sync_first, async_first):
            with h5py.File(path) as f:
                assert f.attrs["epochal_format"] == "keras" and "layers" in f
    else:
        for path in (sync_first, async_first):
            with zipfile.ZipFile(path) as zf:
                assert json.loads(zf.read("metadata.json"))["epochal_format"] == "keras"
    for path, expected in ((sync_first, snapshots[0]), (async_first, snapshots[2])):
        model = _tiny_model()
        model.load_weights(path)
        for got, want in zip(model.get_weights(), expected, strict=True):
            np.testing.assert_array_equal(got, want)  # epoch 1's weights, not epoch 2's
    if not weights_only:
        resumed = epochal.load_model(async_first)
        assert resumed.optimizer.iterations == 2  # the optimizer slots of that step
