"""Seed 000 (000_baa2561de5dd45a1.txt), section "4. LearningRateScheduler",
"1. Time-Based Learning Rate Schedule": the table printed for ``decay = 0.001``.

Not a seed code sample: the seed's table

    Epoch  Learning Rate
    1      0.1
    2      0.0999000999
    3      0.0997006985
    4      0.09940249103
    5      0.09900646517

is labelled ``LearningRate = LearningRate * 1/(1 + decay * epoch)`` applied once per epoch and
*compounded*. Keras 2's SGD ``decay`` does not do that (it applies
``lr0 / (1 + decay * iterations)`` at every update, see ``seed000_time_based_decay.py``). This
example reproduces the seed's table with a LearningRateScheduler, the seed's own tool.

What you should see: for each of 5 epochs, the LR the scheduler set (from History's
``learning_rate``) next to the seed's table value; they agree to float32 precision (about
7 significant digits: optimizers keep the LR as a float32, as Keras does).

Adaptations: ``keras`` -> ``epochal`` in imports.
"""

from epochal.callbacks import LearningRateScheduler
from epochal.layers import Dense
from epochal.models import Sequential
from epochal.optimizers import SGD

from _data import epochs as _epochs, pima_like

SEED_TABLE = [0.1, 0.0999000999, 0.0997006985, 0.09940249103, 0.09900646517]
decay = 0.001


def compounding_time_decay(epoch):
    """lr_1 = 0.1, lr_n = lr_(n-1) / (1 + decay * (n - 1)) with 1-based n: the seed's table."""
    lr = 0.1
    for k in range(1, epoch + 1):
        lr = lr / (1 + decay * k)
    return lr


X, Y = pima_like()
model = Sequential()
model.add(Dense(12, input_dim=8, activation='relu'))
model.add(Dense(1, activation='sigmoid'))
model.compile(loss='binary_crossentropy', optimizer=SGD(learning_rate=0.1, momentum=0.8),
              metrics=['accuracy'])
history = model.fit(X, Y, validation_split=0.33, epochs=_epochs(5), batch_size=28, verbose=0,
                    callbacks=[LearningRateScheduler(compounding_time_decay, verbose=1)])

print("Epoch\tscheduler LR\tseed table")
for epoch, lr in enumerate(history.history['learning_rate']):
    print("%d\t%.10g\t%.10g" % (epoch + 1, lr, SEED_TABLE[epoch]))
