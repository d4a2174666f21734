"""A real (tiny, built from a config: nothing is downloaded) Hugging Face model fine-tuned
with epochal: its own loss from a dict batch with ``labels``, accuracy on its logits,
EarlyStopping, ModelCheckpoint and BackupAndRestore (an interrupted run resumes to the same
weights as an uninterrupted one)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import epochal
from epochal.callbacks import BackupAndRestore, Callback, EarlyStopping, ModelCheckpoint

transformers = pytest.importorskip("transformers")

N, BATCH = 48, 8
STEPS = N // BATCH


def _bert() -> epochal.Model:
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=32,
        num_labels=2,
    )
    model = epochal.Model(transformers.BertForSequenceClassification(config), device="cpu")
    model.compile(optimizer=epochal.optimizers.Adam(learning_rate=1e-3), metrics=["accuracy"])
    return model


def _data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 100, size=(N, 12))
    labels = (ids[:, 0] > 50).astype("int64")
    return {"input_ids": ids, "attention_mask": np.ones_like(ids), "labels": labels}


class Interrupt(Callback):
    def __init__(self, at: int | None) -> None:
        super().__init__()
        self.at = at

    def on_train_batch_end(self, batch, logs=None):
        if self.model.train_state.epoch * STEPS + batch == self.at:
            raise RuntimeError("interrupted")


def _fit(tmp_path, backup: bool, interrupt_at: int | None = None) -> epochal.Model | None:
    torch.manual_seed(1)  # dropout draws: the same stream in every "process"
    model = _bert()
    x = _data()
    callbacks: list[Callback] = [
        Interrupt(interrupt_at),
        EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True),
        ModelCheckpoint(tmp_path / "best.weights.pt", save_best_only=True, save_weights_only=True),
    ]
    if backup:
        callbacks.append(BackupAndRestore(tmp_path / "backup", save_freq=2))
    try:
        model.fit(x, batch_size=BATCH, epochs=3, validation_data=x, callbacks=callbacks, verbose=0)
    except RuntimeError as error:
        if "interrupted" not in str(error):
            raise
        return None
    return model


@pytest.mark.slow
def test_bert_fine_tunes_with_callbacks_and_resumes_exactly(tmp_path):
    reference = _fit(tmp_path / "ref", backup=False)
    assert reference is not None
    logs = reference.history.history
    assert set(logs) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert logs["loss"][-1] < logs["loss"][0]  # it learns
    assert (tmp_path / "ref" / "best.weights.pt").exists()

    assert _fit(tmp_path / "run", backup=True, interrupt_at=8) is None
    resumed = _fit(tmp_path / "run", backup=True)
    assert resumed is not None
    assert resumed.history.history == logs
    for a, b in zip(resumed.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)

    logits = resumed.predict(_data(), batch_size=BATCH, verbose=0)
    assert logits.shape == (N, 2)


@pytest.mark.slow
def test_gpt2_language_model_trains_on_its_own_loss():
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=100, n_positions=16, n_embd=32, n_layer=2, n_head=2)
    model = epochal.Model(transformers.GPT2LMHeadModel(config), device="cpu")
    model.compile(optimizer=epochal.optimizers.Adam(learning_rate=3e-3))
    rng = np.random.default_rng(0)
    ids = np.tile(rng.integers(0, 100, size=(1, 16)), (32, 1))  # one sequence to memorise
    history = model.fit(
        {"input_ids": ids, "labels": ids}, batch_size=8, epochs=3, verbose=0, shuffle=False
    )
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.predict({"input_ids": ids[:4]}, verbose=0).shape == (4, 16, 100)
