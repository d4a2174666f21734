"""Seed 002 (002_a4f628c634a428eb.txt), section "编写自己的回调函数" (write your own callback),
"例子:记录损失函数的历史数据" (example: record the loss history).

Same program as seed 000's keras.io example but with ``X_train, Y_train`` and the Python 2
statement ``print history.losses`` (a SyntaxError on Python 3, changed to a call).

What you should see: nothing while training (``verbose=0``), then 1,260 loss values
(20 epochs x 63 batches of 128 from 8,000 MNIST images). Keras 3 / epochal log running means
within each epoch, not the per-batch losses of the seed's sample output.

Adaptations: ``keras`` -> ``epochal``; other changes are marked ``# epochal:``.
"""

import epochal
from epochal.layers import Activation, Dense  # epochal: the seed uses the bare names
from epochal.models import Sequential  # epochal: (same)

from _data import epochs as _epochs, mnist_flat_onehot  # epochal: offline data helpers

X_train, Y_train, _X_test, _Y_test = mnist_flat_onehot()  # epochal: X_train, Y_train undefined


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
model.fit(X_train, Y_train, batch_size=128, epochs=_epochs(20), verbose=0, callbacks=[history])  # epochal: epochs cap
print(history.losses)  # epochal: was the Python 2 statement `print history.losses`
# outputs
# [0.66047596406559383, 0.3547245744908703, ..., 0.25953155204159617, 0.25901699725311789]
