"""Seed 000 (000_baa2561de5dd45a1.txt), section "5. TensorBoard".

Two samples: the constructor with every Keras 2.2 argument (legacy ``batch_size=32``,
``write_grads=False``, ``embeddings_layer_names``, ``embeddings_data``) and the "使用实例"
(usage) ``TensorBoard(histogram_freq=1, write_grads=True)`` fit on ``trainX, trainy`` for 500
epochs with ``verbose=0``. The data and model come from the referenced article "How to Fix the
Vanishing Gradients Problem Using the ReLU" (two circles, a 5-layer ReLU MLP, SGD).

What you should see: deprecation warnings for the legacy arguments, no training output
(``verbose=0``), then TensorBoard event files under ``./logs/train`` and
``./logs/validation`` (view with ``tensorboard --logdir=./logs``): epoch_loss, epoch_accuracy,
epoch_learning_rate, weight histograms every epoch and gradient histograms
(``write_grads=True``).

Adaptations: ``keras`` -> ``epochal``; other changes are marked ``# epochal:``.
"""

import os  # epochal: only to list the log folders at the end

import epochal
from epochal.callbacks import TensorBoard  # epochal: the usage sample uses the bare name
from epochal.layers import Dense  # epochal: the seed omits the model; supplied below
from epochal.models import Sequential  # epochal: (same)
from epochal.optimizers import SGD  # epochal: (same)

from _data import circles, epochs as _epochs  # epochal: offline data helpers

tb_reference = epochal.callbacks.TensorBoard(log_dir='./logs',  # epochal: `tb_reference =` added
                            histogram_freq=0,
                            batch_size=32,
                            write_graph=True,
                            write_grads=False,
                            write_images=False,
                            embeddings_freq=0,
                            embeddings_layer_names=None,
                            embeddings_metadata=None,
                            embeddings_data=None,
                            update_freq='epoch')

# epochal: trainX, trainy, testX, testy and the model are the referenced article's
# (make_circles(1000, noise=0.1) scaled to [-1, 1], 500/500; deep ReLU MLP; SGD).
trainX, trainy, testX, testy = circles()
model = Sequential()
model.add(Dense(5, input_dim=2, activation='relu'))
model.add(Dense(5, activation='relu'))
model.add(Dense(5, activation='relu'))
model.add(Dense(5, activation='relu'))
model.add(Dense(5, activation='relu'))
model.add(Dense(1, activation='sigmoid'))
opt = SGD(lr=0.01, momentum=0.9)
model.compile(loss='binary_crossentropy', optimizer=opt, metrics=['accuracy'])

# prepare callback
tb = TensorBoard(histogram_freq=1, write_grads=True)
# fit model
model.fit(trainX, trainy, validation_data=(testX, testy), epochs=_epochs(500), verbose=0, callbacks=[tb])  # epochal: epochs cap

for root, _dirs, files in os.walk('logs'):  # epochal: show what was written
    print(root, files)
