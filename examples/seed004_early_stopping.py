"""Seed 004 (004_480938b03e93928d.txt), section "Early Stopping": the built-in
``keras.callbacks.EarlyStopping(monitor='val_loss', patience=5)`` ("效果完全一样", the same
effect as ``MyEarlyStopping``), followed by ``plot_history(history, metrics_name='loss')``.

What you should see: nothing while training (``verbose=0``, and EarlyStopping's own
``verbose`` defaults to 0), then ``history_loss.png``. Unlike ``MyEarlyStopping`` this does
*not* restore the best weights (``restore_best_weights=False``), so "the same effect" holds only
for the stop epoch.

Adaptations: ``keras`` -> ``epochal``; other changes are marked ``# epochal:``.
"""

import epochal

from _data import epochs as _epochs  # epochal: epochs cap
from _seed004_common import get_mnist, get_model, plot_history  # epochal: the tutorial's cells

x_train, y_train, x_test, y_test = get_mnist()  # epochal: as in the tutorial's call-order cell
x_train = x_train[:1024]
y_train = y_train[:1024]
x_test = x_test[:512]
y_test = y_test[:512]

model = get_model()
history = model.fit(
    x_train,
    y_train,
    batch_size=256,
    epochs=_epochs(30, at_least=5),  # epochal: epochs cap (plot_history skips 4 epochs)
    verbose=0,
    validation_split=0.5,
    callbacks=[epochal.callbacks.EarlyStopping(monitor='val_loss', patience=5)],
)
plot_history(history, metrics_name='loss')
print("epochs run:", len(history.epoch))  # epochal: visible result
