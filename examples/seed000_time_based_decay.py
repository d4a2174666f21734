"""Seed 000 (000_baa2561de5dd45a1.txt), section "4. LearningRateScheduler",
"1. Time-Based Learning Rate Schedule" ("使用 例子").

Keras 2's SGD ``decay`` argument: every update uses ``lr0 / (1 + decay * iterations)``
(per batch, not per epoch). ``decay_rate = learning_rate / epochs = 0.1 / 100 = 0.001``.

What you should see: one line per epoch (``verbose=2``) with loss, accuracy, val_loss and
val_accuracy; then the effective learning rate after each of the first updates and at the end
of training (0.1, 0.0999000999, 0.0998003992, ...). The seed's table (0.1, 0.0999000999,
0.0997006985, 0.09940249103, 0.09900646517) compounds per *epoch* and is **not** what Keras
does; ``seed000_decay_table.py`` shows how a LearningRateScheduler reproduces that table.

Adaptations: ``keras`` -> ``epochal`` in imports; other changes are marked ``# epochal:``.
"""

from epochal.layers import Dense  # epochal: the seed omits the model; supplied below
from epochal.models import Sequential  # epochal: (same)
from epochal.optimizers import SGD

from _data import epochs as _epochs, pima_like  # epochal: offline data helpers

# epochal: X, Y, model and `epochs` are undefined in the seed; epochs = 100 follows the
# seed's "Decay = 0.1 / 100"; the model is the referenced article's Pima-style MLP.
X, Y = pima_like()
epochs = 100
model = Sequential()
model.add(Dense(12, input_dim=8, activation='relu'))
model.add(Dense(8, activation='relu'))
model.add(Dense(1, activation='sigmoid'))

learning_rate = 0.1
decay_rate = learning_rate / epochs
momentum = 0.8
sgd = SGD(lr=learning_rate, momentum=momentum, decay=decay_rate, nesterov=False)
model.compile(loss='binary_crossentropy', optimizer=sgd, metrics=['accuracy'])
# Fit the model
model.fit(X, Y, validation_split=0.33, epochs=_epochs(epochs), batch_size=28, verbose=2)  # epochal: epochs cap

# epochal: not in the seed: the per-update rule Keras 2 applied, for the first updates and
# after training (514 training rows / batch 28 = 19 updates per epoch).
for k in range(4):
    print("update", k, "lr", learning_rate / (1 + decay_rate * k))
print("configured lr:", model.optimizer.lr)
