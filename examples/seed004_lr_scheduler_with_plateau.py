"""Seed 004 (004_480938b03e93928d.txt), section "LearningRateScheduler", second sample:
LearningRateScheduler together with ReduceLROnPlateau.

The scheduler runs at epoch begin and the plateau callback at epoch end, so a schedule that
ignores its ``lr`` argument would overwrite every reduction. This schedule keeps the incoming
``lr`` while it is below the planned LR but above a tenth of it, so reductions by
ReduceLROnPlateau (``factor=0.1, patience=2, min_lr=1e-7``) survive until they go too far.

What you should see: 15 progress bars; ``Epoch N: ReduceLROnPlateau reducing learning rate to
...`` lines after 2 epochs without ``val_loss`` improvement; the schedule's own ``Epoch 000NN:
Still keep learning rate ... instead of ...`` and ``... reducing learning rate to ... from ...``
lines. In the tutorial's run, epochs 12 and 13 kept 0.0001 instead of the scheduled 0.001,
ReduceLROnPlateau then set 1e-05, and epoch 14 went back to 0.001.

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
        # 如果lr比new_lr小，但是又大于0.1倍的new_lr，继续使用lr
        if lr < new_lr and lr > 0.1*new_lr-(1e-7):
            print('Epoch %05d: Still keep learning rate %s instead of %s' %
                  (epoch + 1, round(lr, 7), round(new_lr, 7)))
            return lr
        print('Epoch %05d: LearningRateScheduler reducing learning rate to %s from %s.' %
              (epoch + 1, round(new_lr, 7), round(lr, 7)))
    return new_lr

learning_rate_scheduler = epochal.callbacks.LearningRateScheduler(lr_schedule, verbose=False)
reduce_lr = epochal.callbacks.ReduceLROnPlateau(monitor='val_loss', factor=0.1, min_lr=1e-7,
                                                 patience=2, verbose=True)

model = get_model()
model.fit(
    x_train,
    y_train,
    batch_size=64,
    epochs=_epochs(15),  # epochal: epochs cap
    validation_split=0.5,
    callbacks=[reduce_lr, learning_rate_scheduler])
