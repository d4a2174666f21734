"""Seed 003 (003_8a034ec833c9c7c0.txt), section "2.7 Custom Callback".

A callback sets a global flag in ``on_train_end``; the model ``Dense(1, input_shape=(1,))``
is compiled with only a loss (no optimizer: Keras' default is ``'rmsprop'``) and fitted on one
sample given as tensors (``tf.constant`` -> ``torch.tensor``) with fit's defaults (1 epoch,
``verbose="auto"``). The seed's indentation was lost in its text; restored.

What you should see: one progress bar (1/1 step), and no ``AssertionError``.

Adaptations: ``tf.keras`` -> ``epochal``; other changes are marked ``# epochal:``.
"""

import torch  # epochal: tf.constant -> torch.tensor

import epochal

training_finished = False


class MyCallback(epochal.callbacks.Callback):
    def on_train_end(self, logs=None):
        global training_finished
        training_finished = True


model = epochal.Sequential([epochal.layers.Dense(1, input_shape=(1,))])
model.compile(loss='mean_squared_error')
model.fit(torch.tensor([[1.0]]), torch.tensor([[1.0]]),  # epochal: was tf.constant
callbacks=[MyCallback()])


assert training_finished == True
print("training_finished:", training_finished)  # epochal: visible result
