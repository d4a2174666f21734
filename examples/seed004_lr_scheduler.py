"""Seed 004 (004_480938b03e93928d.txt), section "LearningRateScheduler", first sample.

A two-argument schedule ``lr_schedule(epoch, lr)``: LR 0.1 for epochs 1-5, 0.01 for 6-10,
0.001 for 11-15 (``base_lr * times`` for the last border passed); it prints its own message
when the LR changes (the callback's ``verbose=False``).

What you should see: 15 progress bars (``learning_rate`` 0.1, then 0.01, then 0.001) and

    Epoch 00006: LearningRateScheduler reducing learning rate to 0.010000000000000002 from 0.1.
    Epoch 00011: LearningRateScheduler reducing learning rate to 0.001 from 0.010000000000000002.

(Keras stores the LR as float32, so there the "from" values read 0.10000000149011612 and
0.009999999776482582; epochal prints what its optimizer holds.)

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


def lr_schedule(epoch, lr):
    lr_times = [(0, 1.0), (5, 1e-1), (10, 1e-2)]

    base_lr = 1e-1
    new_lr = base_lr
    for border_epoch, times in lr_times:
        if epoch>=border_epoch:
            new_lr = base_lr*times
    if abs(lr - new_lr)>1e-7:
        print('Epoch %05d: LearningRateScheduler reducing learning rate to %s from %s.' % (epoch + 1, new_lr, lr))
    return new_lr

learning_rate_scheduler = epochal.callbacks.LearningRateScheduler(lr_schedule, verbose=False)

model = get_model()
model.fit(
    x_train,
    y_train,
    batch_size=64,
    epochs=_epochs(15),  # epochal: epochs cap
    validation_split=0.5,
    callbacks=[learning_rate_scheduler])
