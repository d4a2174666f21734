"""Seed 003 (003_8a034ec833c9c7c0.txt), section "2.2 LearningRateScheduler".

``scheduler(epoch, lr)`` keeps the LR for 10 epochs, then multiplies it by exp(-0.1) every
epoch. ``Dense(10)`` without an input shape (built on first data), ``SGD()`` (LR 0.01),
``mse`` loss, integer inputs ``np.arange(100).reshape(5, 20)`` and targets ``np.zeros(5)``
(shape (5,), broadcast against the (5, 10) output as Keras does), 15 epochs, ``verbose=0``.
The seed's indentation was lost in its text; restored. The seed's first line
``LearningRateScheduler(schedule, verbose=0)`` names an undefined ``schedule``: it is built
with ``scheduler`` here.

What you should see: ``15`` (epochs run) and the final LR ``0.00607`` (0.01 * exp(-0.5)),
as in the TensorFlow documentation the sample comes from.

Adaptations: ``tf.keras`` -> ``epochal``; other changes are marked ``# epochal:``.
"""

import math  # epochal: tf.math.exp(-0.1) -> math.exp(-0.1)

import numpy as np
import epochal

from _data import epochs as _epochs  # epochal: epochs cap


# The scheduling function is to call the initial learning rate before 10 EPOCH, and then the learning rate is decreased in the index
def scheduler(epoch, lr):
    if epoch < 10:
        return lr
    else:
        return lr * math.exp(-0.1)  # epochal: was tf.math.exp(-0.1)


schedule = scheduler  # epochal: the first line's `schedule` placeholder
epochal.callbacks.LearningRateScheduler(
schedule, verbose=0
)

model = epochal.models.Sequential([epochal.layers.Dense(10)])
model.compile(epochal.optimizers.SGD(), loss='mse')
callback = epochal.callbacks.LearningRateScheduler(scheduler)
history = model.fit(np.arange(100).reshape(5, 20), np.zeros(5),
epochs=_epochs(15), callbacks=[callback], verbose=0)  # epochal: epochs cap

print(len(history.history['loss']))  # epochal: the TF docs' checks, not in the seed
print(round(float(model.optimizer.learning_rate), 5))
