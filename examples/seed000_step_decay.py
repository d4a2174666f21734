"""Seed 000 (000_baa2561de5dd45a1.txt), section "4. LearningRateScheduler": the one-line
``LearningRateScheduler(schedule, verbose=0)`` sample and "2. Drop-Based Learning Rate
Schedule" ("完整应用", full application).

``step_decay`` halves the LR every 10 epochs: ``0.1 * 0.5 ** floor((1 + epoch) / 10)`` with a
0-based ``epoch``, so epochs 1-9 (printed, 1-based) use 0.1, 10-19 use 0.05, 20-29 0.025,
30-39 0.0125, 40-49 0.00625, epoch 50 0.003125. ``SGD(lr=0.0, ...)``: the start LR is
irrelevant, the scheduler sets it at every epoch begin.

What you should see: one line per epoch (``verbose=2``), then the LR of every epoch as
History recorded it (``learning_rate``), matching the sequence above.

Adaptations: ``keras`` -> ``epochal`` in imports; other changes are marked ``# epochal:``.
"""

import math  # epochal: the seed uses math.pow / math.floor without importing math

from epochal.layers import Dense  # epochal: the seed omits the model; supplied below
from epochal.models import Sequential  # epochal: (same)
from epochal.optimizers import SGD
from epochal.callbacks import LearningRateScheduler

from _data import epochs as _epochs, pima_like  # epochal: offline data helpers

# epochal: X, Y and model are undefined in the seed (referenced article's Pima-style MLP).
X, Y = pima_like()
model = Sequential()
model.add(Dense(12, input_dim=8, activation='relu'))
model.add(Dense(8, activation='relu'))
model.add(Dense(1, activation='sigmoid'))


def step_decay(epoch):
    initial_lrate = 0.1
    drop = 0.5
    epochs_drop = 10.0
    lrate = initial_lrate * math.pow(drop, math.floor((1+epoch)/epochs_drop))
    return lrate


schedule = step_decay  # epochal: the one-line sample's `schedule` placeholder
scheduler = LearningRateScheduler(schedule, verbose=0) # schedule is a function

sgd = SGD(lr=0.0, momentum=0.9, decay=0.0, nesterov=False)
model.compile(loss='binary_crossentropy', optimizer=sgd, metrics=['accuracy'])
# learning schedule callback
lrate = LearningRateScheduler(step_decay)
callbacks_list = [lrate]
# Fit the model
history = model.fit(X, Y, validation_split=0.33, epochs=_epochs(50), batch_size=28, callbacks=callbacks_list, verbose=2)  # epochal: `history =` and epochs cap

# epochal: not in the seed: the LR of each epoch, as the tutorial's figure plots it.
for epoch, lr in enumerate(history.history['learning_rate']):
    print("Epoch %d: lr=%s (step_decay says %s)" % (epoch + 1, lr, step_decay(epoch)))
