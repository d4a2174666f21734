"""Seed 001 (001_6b2059544c56a051.txt), section "2.3 常用回调函数简介" (common callbacks):
(1) EarlyStopping, (2) ModelCheckpoint, (3) ReduceLROnPlateau, (4) CSVLogger,
(5) TensorBoard, (6) LearningRateScheduler.

Only the EarlyStopping sample calls ``fit``; the other five only build their callback. This
example runs the EarlyStopping fit as written, then one more fit with the other five so each
one does its job. Model: the seed's own MLP (section 3.2); data: real MNIST, 8,000 / 2,000.

What you should see:
1. First fit: progress bars; EarlyStopping (``patience=5``, ``verbose=1``) prints
   ``Epoch N: early stopping`` when ``val_loss`` stops improving (100 epochs at most).
2. Second fit: checkpoint messages (``best_model.01-0.xx.h5``, ... written on every
   ``val_loss`` improvement), ``training.log`` (CSV, one row per epoch) in the current
   directory, TensorBoard events in ``/tmp/logs``, and ``learning_rate`` in the logs (the
   scheduler multiplies the base LR by exp(-0.1) at epochs 10, 20, ...).
   Note ``ReduceLROnPlateau(..., min_lr=0.001)`` with Adam's default LR 0.001 can never reduce.

Adaptations: ``keras`` -> ``epochal``; other changes are marked ``# epochal:``.
"""

import math  # epochal: tf.math.exp(-0.1) -> math.exp(-0.1)

from epochal.callbacks import EarlyStopping
from epochal.callbacks import (CSVLogger, LearningRateScheduler,  # epochal: the seed uses
                               ModelCheckpoint, ReduceLROnPlateau, TensorBoard)  # bare names
from epochal.layers import Dense, Dropout, Flatten  # epochal: model of the seed's section 3.2
from epochal.models import Sequential  # epochal: (same)
from epochal.utils import to_categorical  # epochal: (same)

from _data import epochs as _epochs, mnist  # epochal: offline data helpers

# epochal: X_train, y_train, X_test, y_test and model are undefined in this section; the
# seed's section 3 data and model (images kept as 28x28 for Flatten(input_shape=(28, 28))).
(X_train, y_train), (X_test, y_test) = mnist()
X_train = X_train.astype("float32") / 255.0
X_test = X_test.astype("float32") / 255.0
y_train = to_categorical(y_train, 10)
y_test = to_categorical(y_test, 10)
num_classes = 10
model = Sequential([
    Flatten(input_shape=(28, 28)),
    Dense(128, activation="relu"),
    Dropout(0.5),
    Dense(num_classes, activation="softmax"),
])
model.compile(optimizer="adam", loss="categorical_crossentropy",
              metrics=["accuracy"])

# (1) EarlyStopping
early_stopping = EarlyStopping(monitor='val_loss', patience=5, verbose=1)
history = model.fit(X_train, y_train, epochs=_epochs(100),  # epochal: epochs cap
                    validation_data=(X_test, y_test),
                    callbacks=[early_stopping])

# (2) ModelCheckpoint
checkpoint = ModelCheckpoint('best_model.{epoch:02d}-{val_loss:.2f}.h5',
                             monitor='val_loss', verbose=1, save_best_only=True, mode='min')

# (3) ReduceLROnPlateau
reduce_lr = ReduceLROnPlateau(monitor='val_loss', factor=0.1,
                              patience=5, min_lr=0.001)

# (4) CSVLogger
csv_logger = CSVLogger('training.log')

# (5) TensorBoard
tb_callback = TensorBoard(log_dir='/tmp/logs', histogram_freq=0,
                          write_graph=True, write_images=False)

# (6) LearningRateScheduler
lr = 0.001  # epochal: the seed's scheduler reads an undefined global `lr`; Adam's default


def scheduler(epoch):
    if epoch % 10 == 0 and epoch!= 0:
        return lr * math.exp(-0.1)  # epochal: was tf.math.exp(-0.1)
    else:
        return lr

lr_scheduler = LearningRateScheduler(scheduler)

# epochal: not in the seed: one fit that exercises the five callbacks built above.
history = model.fit(X_train, y_train, epochs=_epochs(20), verbose=2,
                    validation_data=(X_test, y_test),
                    callbacks=[checkpoint, reduce_lr, csv_logger, tb_callback, lr_scheduler])
print(open('training.log').read())
