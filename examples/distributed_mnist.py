"""The seed MNIST MLP (seed 001 §3.2) trained data-parallel: run it under ``torchrun``.

    torchrun --standalone --nproc_per_node=2 examples/distributed_mnist.py      # CPU: gloo
    torchrun --standalone --nproc_per_node=8 examples/distributed_mnist.py      # 8 GPUs: NCCL

The same file runs unchanged as ``python examples/distributed_mnist.py`` (one process).
``batch_size`` is per process: with N processes a step sees ``N * 128`` samples. Every rank
prints the same epoch logs (they are reduced over the ranks); rank 0 alone shows the
progress bar. What you should see: ``val_accuracy`` above 0.9 after a few epochs, the same
``Test accuracy`` line from every rank.
"""

import os
import time

import numpy as np
import torch
from _data import epochs as _epochs
from _data import mnist as _mnist_split

import epochal
from epochal.layers import Dense, Dropout, Flatten

(x_train, y_train), (x_test, y_test) = _mnist_split()
x_train, x_test = x_train.astype("float32") / 255.0, x_test.astype("float32") / 255.0
y_train, y_test = y_train.astype("int64"), y_test.astype("int64")

torch.manual_seed(0)  # every rank builds the same model; DDP also broadcasts rank 0's weights
model = epochal.Sequential([
    Flatten(input_shape=(28, 28)),
    Dense(128, activation="relu"),
    Dropout(0.5),
    Dense(10, activation="softmax"),
], device=os.environ.get("EPOCHAL_DEVICE"))
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])

start = time.perf_counter()
history = model.fit(x_train, y_train, batch_size=128, epochs=_epochs(5), validation_split=0.25,
                    verbose=1 if model.is_main_process else 0)
seconds = time.perf_counter() - start
loss, accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
predictions = model.predict(x_test, batch_size=256, verbose=0)
print(f"rank {model.rank}/{model.world_size} on {model.device}: fit {seconds:.1f}s, "
      f"last epoch {history.history['val_accuracy'][-1]:.4f} val_accuracy, "
      f"Test accuracy: {accuracy:.4f}, predict {predictions.shape}, "
      f"argmax agrees with evaluate: {np.mean(predictions.argmax(1) == y_test):.4f}", flush=True)
