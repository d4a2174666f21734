"""Seed 004 (004_480938b03e93928d.txt), section "ReduceLROnPlateau".

``ReduceLROnPlateau(monitor='val_loss', factor=0.5, min_lr=1e-5, patience=3, verbose=True)``
(a bool ``verbose``) halves the LR after 3 epochs without ``val_loss`` improvement.

What you should see: 15 progress bars showing ``learning_rate``, and lines like
``Epoch 7: ReduceLROnPlateau reducing learning rate to 0.05.`` whenever it triggers
(starting from RMSprop's 0.1; never below 1e-5).

Adaptations: ``tf.keras`` -> ``epochal``; other changes are marked ``# epochal:``.
"""

import epochal

from _data import epochs as _epochs  # epochal: epochs cap
from _seed004_common import get_mnist, get_model  # epochal: the tutorial's cells

x_train, y_train, x_test, y_test = get_mnist()  # epochal: as in the tutorial's call-order cell
x_train = x_train[:1024]
y_train = y_train[:1024]
x_test = x_test[:512]
y_test = y_test[:512]

reduce_lr = epochal.callbacks.ReduceLROnPlateau(monitor='val_loss', factor=0.5, min_lr=1e-5,
                                                 patience=3, verbose=True)

model = get_model()
model.fit(
    x_train,
    y_train,
    batch_size=64,
    epochs=_epochs(15),  # epochal: epochs cap
    validation_split=0.5,
    callbacks=[reduce_lr])
