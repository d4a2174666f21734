"""Seed 003 (003_8a034ec833c9c7c0.txt), section "2 Use CallBacks": the ModelCheckpoint sample.

``ModelCheckpoint(filepath=filePath, save_weights_only=True, monitor='val_accuracy',
mode='max')`` and ``model.fit(x, y, callbacks=model_checkpoint_callback)`` — note the single
callback passed **without a list** (Keras accepts it). ``filePath``, ``x``, ``y`` and the model
are undefined in the seed: ``checkpoint.weights.h5`` (valid in Keras 3 too), the 8x8 digits
and a small MLP are used. ``fit`` runs with its defaults (1 epoch, ``verbose="auto"``, no
validation, so ``val_accuracy`` never exists; with ``save_best_only=False`` the weights are
saved at every epoch end anyway).

What you should see: one progress bar, then ``checkpoint.weights.h5 exists: True``.

Adaptations: ``tf.keras`` -> ``epochal``; other changes are marked ``# epochal:``.
"""

import os  # epochal: only to show the file at the end

import epochal
from epochal.layers import Dense  # epochal: supplied model
from epochal.models import Sequential  # epochal: (same)

from _data import digits  # epochal: offline data helpers

x, y = digits()  # epochal: x, y undefined in the seed
filePath = "checkpoint.weights.h5"  # epochal: undefined in the seed
model = Sequential([Dense(32, activation='relu', input_shape=(64,)),  # epochal: supplied model
                    Dense(10, activation='softmax')])
model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])

model_checkpoint_callback = epochal.callbacks.ModelCheckpoint(
filepath=filePath,
save_weights_only=True,
monitor='val_accuracy',
mode='max')


model.fit(x, y, callbacks=model_checkpoint_callback)
print(filePath, "exists:", os.path.exists(filePath))  # epochal: show the result
