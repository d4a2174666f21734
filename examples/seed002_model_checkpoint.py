"""Seed 002 (002_a4f628c634a428eb.txt), section "例子:模型检查点" (example: model checkpoint).

Saves the whole model to ``/tmp/weights.hdf5`` (legacy HDF5 extension) whenever
``val_loss`` decreases (``save_best_only=True``; ``monitor`` defaults to ``val_loss``).

What you should see: no progress bar (``verbose=0`` in fit), but the checkpoint's own
``verbose=1`` lines: ``Epoch 1: val_loss improved from None to 0.xxxxx, saving model to
/tmp/weights.hdf5``, ``Epoch N: val_loss did not improve from ...``; the file exists at the end.

Adaptations: ``keras`` -> ``epochal``; other changes are marked ``# epochal:``.
"""

import os  # epochal: only to show the file at the end

from epochal.callbacks import ModelCheckpoint
from epochal.layers import Activation, Dense  # epochal: the seed uses the bare names
from epochal.models import Sequential  # epochal: (same)

from _data import epochs as _epochs, mnist_flat_onehot  # epochal: offline data helpers

X_train, Y_train, X_test, Y_test = mnist_flat_onehot()  # epochal: undefined in the seed

model = Sequential()
model.add(Dense(10, input_dim=784, kernel_initializer='uniform'))
model.add(Activation('softmax'))
model.compile(loss='categorical_crossentropy', optimizer='rmsprop')
# saves the model weights after each epoch if the validation loss decreased  (epochal: `#` was missing)
checkpointer = ModelCheckpoint(filepath="/tmp/weights.hdf5", verbose=1, save_best_only=True)
model.fit(X_train, Y_train, batch_size=128, epochs=_epochs(20), verbose=0, validation_data=(X_test, Y_test), callbacks=[checkpointer])  # epochal: epochs cap
print(os.path.exists("/tmp/weights.hdf5"))  # epochal: show the result
