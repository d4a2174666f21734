"""Seed 001 (001_6b2059544c56a051.txt), section "3. 实践案例——MNIST手写数字识别" (MNIST case
study): 3.1 data, 3.2 model, 3.3 training with EarlyStopping / ModelCheckpoint / CSVLogger,
3.4 test accuracy.

Data: the real MNIST test split (8,000 "train" / 2,000 "test"); the seed then keeps
``x_train[:5000]`` for training and ``x_train[5000:]`` (3,000) for validation.

What you should see: a progress bar per epoch with ``accuracy``, ``loss``, ``val_accuracy``,
``val_loss``; ModelCheckpoint messages ``Epoch N: val_acc improved from ... saving model to
weights_<date>.hdf5``; EarlyStopping stops when ``val_acc`` has not improved for 5 epochs
(``Epoch N: early stopping``); ``training_<date>.log`` (CSV) and ``weights_<date>.hdf5``
appear in the current directory; finally ``Test accuracy: 0.9...``.

``monitor='val_acc'`` with ``metrics=["accuracy"]``: Keras <= 2.2 logged ``val_acc``; Keras 3
logs ``val_accuracy`` and raises in auto mode (EarlyStopping) — epochal resolves the old name
with a warning.

Adaptations: ``keras`` -> ``epochal``; other changes are marked ``# epochal:``.
"""

import numpy as np
import epochal  # epochal: the seed calls keras.utils.to_categorical without `import keras`
from epochal.datasets import mnist  # noqa: F401  (the seed's import; data comes from _data)

from _data import epochs as _epochs, mnist as _mnist_split  # epochal: offline data helpers

(x_train, y_train), (x_test, y_test) = _mnist_split()  # epochal: was mnist.load_data()

num_classes = len(np.unique(y_train))

x_train = x_train.reshape((-1, 28*28)).astype("float32") / 255.0
x_test = x_test.reshape((-1, 28*28)).astype("float32") / 255.0
y_train = epochal.utils.to_categorical(y_train, num_classes)
y_test = epochal.utils.to_categorical(y_test, num_classes)

x_train, x_valid = x_train[:5000], x_train[5000:]
y_train, y_valid = y_train[:5000], y_train[5000:]

from epochal.models import Sequential
from epochal.layers import Dense, Dropout, Activation, Flatten  # noqa: F401 (seed import)
from epochal.layers import Conv2D, MaxPooling2D  # noqa: F401 (seed imports, unused by the seed)

model = Sequential([
    Flatten(input_shape=(28, 28)),
    Dense(128, activation="relu"),
    Dropout(0.5),
    Dense(num_classes, activation="softmax"),
])

model.compile(optimizer="adam", loss="categorical_crossentropy",
              metrics=["accuracy"])

from epochal.callbacks import EarlyStopping, ModelCheckpoint, CSVLogger
from datetime import datetime

batch_size = 128
epochs = _epochs(100)  # epochal: epochs cap

date = "{:%Y%m%d_%H%M}".format(datetime.now())
filename = "weights_" + date + ".hdf5"

early_stopper = EarlyStopping(monitor='val_acc', patience=5, verbose=1)
checkpointer = ModelCheckpoint(filepath=filename,
                               monitor='val_acc', verbose=1, save_best_only=True, mode='max')
csv_logger = CSVLogger('training_' + date + '.log')

callbacks = [early_stopper, checkpointer, csv_logger]

history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs,
                    verbose=1, callbacks=callbacks, validation_data=(x_valid, y_valid))

score = model.evaluate(x_test, y_test, verbose=0)
print("Test accuracy:", score[1])
