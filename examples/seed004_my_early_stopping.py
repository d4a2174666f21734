"""Seed 004 (004_480938b03e93928d.txt), section "Early Stopping": the hand-written
``MyEarlyStopping`` callback and ``plot_history(history, metrics_name='loss')``.

The callback reads ``logs.get("val_loss")``, snapshots ``self.model.get_weights()`` on every
improvement, and after ``patience`` epochs without improvement sets
``self.model.stop_training = True`` and restores the best weights with
``self.model.set_weights(...)``. ``np.Inf`` was removed in NumPy 2.0 (``AttributeError``);
``np.inf`` is used.

What you should see (``verbose=0``): ``Restoring model weights from the end of the best epoch
K.`` then ``Epoch 000NN: early stopping`` (the tutorial's run: best epoch 15, stop at 20), and
``history_loss.png`` with loss / val_loss from epoch 5 on and the lowest val_loss marked red.

Adaptations: ``keras`` -> ``epochal``; other changes are marked ``# epochal:``.
"""

import numpy as np
import epochal

from _data import epochs as _epochs  # epochal: epochs cap
from _seed004_common import get_mnist, get_model, plot_history  # epochal: the tutorial's cells

x_train, y_train, x_test, y_test = get_mnist()  # epochal: as in the tutorial's call-order cell
x_train = x_train[:1024]
y_train = y_train[:1024]
x_test = x_test[:512]
y_test = y_test[:512]


class MyEarlyStopping(epochal.callbacks.Callback):
    """Stop training when the loss is at its min, i.e. the loss stops decreasing.

  Arguments:
      patience: Number of epochs to wait after min has been hit. After this
      number of no improvement, training stops.
  """

    def __init__(self, patience=0):
        super(MyEarlyStopping, self).__init__()
        self.patience = patience
        self.best_weights = None
        self.best_epoch = -1

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = np.inf  # epochal: was np.Inf (removed in NumPy 2.0)

    def on_epoch_end(self, epoch, logs=None):
        current = logs.get("val_loss")
        if np.less(current, self.best):
            self.best = current
            self.best_epoch = epoch
            self.wait = 0
            self.best_weights = self.model.get_weights()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = epoch
                self.model.stop_training = True
                print("Restoring model weights from the end of the best epoch {}.".format(self.best_epoch+1))
                self.model.set_weights(self.best_weights)

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0:
            print("Epoch %05d: early stopping" % (self.stopped_epoch + 1))

model = get_model()
history = model.fit(
    x_train,
    y_train,
    batch_size=256,
    epochs=_epochs(30, at_least=5),  # epochal: epochs cap (plot_history skips 4 epochs)
    verbose=0,
    validation_split=0.5,
    callbacks=[MyEarlyStopping(patience=5)],
)

plot_history(history, metrics_name='loss')
