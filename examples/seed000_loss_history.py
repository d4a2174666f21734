"""Seed 000 (000_baa2561de5dd45a1.txt), section "7. 创建 一个 callback" (create a callback),
"代码来自 官网" (code from keras.io).

``LossHistory`` records ``logs.get('loss')`` at every training batch end, via the legacy
``on_batch_end`` hook (called for training batches only). Data: ``x_train``/``y_train`` are
undefined in the seed; MNIST flattened to 784 values with one-hot labels is used.

What you should see: nothing during training (``verbose=0``), then a list of
``20 epochs x 63 batches = 1260`` floats. The seed's output
``[0.66047596406559383, 0.3547245744908703, ..., 0.25953155204159617, 0.25901699725311789]``
is from Keras 1/2, which logged per-batch losses; Keras 3 (and epochal) log the running mean
over the epoch so far, so values fall smoothly within each epoch.

Adaptations: ``keras`` -> ``epochal``; other changes are marked ``# epochal:``.
"""

import epochal
from epochal.layers import Activation, Dense  # epochal: the seed uses the bare names
from epochal.models import Sequential  # epochal: (same)

from _data import epochs as _epochs, mnist_flat_onehot  # epochal: offline data helpers

x_train, y_train, _x_test, _y_test = mnist_flat_onehot()  # epochal: x_train, y_train undefined


class LossHistory(epochal.callbacks.Callback):
    def on_train_begin(self, logs={}):
        self.losses = []

    def on_batch_end(self, batch, logs={}):
        self.losses.append(logs.get('loss'))

model = Sequential()
model.add(Dense(10, input_dim=784, kernel_initializer='uniform'))
model.add(Activation('softmax'))
model.compile(loss='categorical_crossentropy', optimizer='rmsprop')

history = LossHistory()
model.fit(x_train, y_train, batch_size=128, epochs=_epochs(20), verbose=0, callbacks=[history])  # epochal: epochs cap

print(history.losses)
# outputs
'''
[0.66047596406559383, 0.3547245744908703, ..., 0.25953155204159617, 0.25901699725311789]
'''
