"""Seed 004 (004_480938b03e93928d.txt), section "Save Checkpoints".

Weights-only checkpoints every epoch to ``./checkpoints/weights.{epoch:02d}-{val_loss:.2f}.h5``
(a plain ``.h5`` with ``save_weights_only=True``: Keras 3 demands ``.weights.h5``; epochal
accepts it with a warning), then a fresh model is evaluated before and after
``model.load_weights(...)`` of one of the files. The notebook line
``!pip install -q pyyaml h5py`` is an IPython shell escape, not Python; removed.

What you should see: 5 progress bars with ``Epoch N: saving model to
./checkpoints/weights.0N-x.xx.h5`` lines, the list of 5 files, then
``test loss is x.xxx, test accuracy is 0.1xx`` (untrained) and a second line with the loaded
weights' (much better) numbers. Seed bug: ``os.listdir()`` order is arbitrary, so
``os.listdir(checkpoint_dir)[-1]`` is not necessarily the last epoch's file.

Adaptations: ``tf.keras`` -> ``epochal``; other changes are marked ``# epochal:``.
"""

import os
from pprint import pprint

import epochal

from _data import epochs as _epochs  # epochal: epochs cap
from _seed004_common import get_mnist, get_model  # epochal: the tutorial's cells

x_train, y_train, x_test, y_test = get_mnist()  # epochal: as in the tutorial's call-order cell
x_train = x_train[:1024]
y_train = y_train[:1024]
x_test = x_test[:512]
y_test = y_test[:512]

# epochal: removed the notebook shell escape `!pip install -q pyyaml h5py`

import shutil

checkpoint_dir = "./checkpoints"
if os.path.exists(checkpoint_dir):
    shutil.rmtree(checkpoint_dir)
os.makedirs(checkpoint_dir)

checkpoint_path = os.path.join(checkpoint_dir, "weights.{epoch:02d}-{val_loss:.2f}.h5")
cp_callback = epochal.callbacks.ModelCheckpoint(filepath=checkpoint_path,
                                                 save_weights_only=True,
                                                 verbose=1)
model = get_model()
model.fit(
    x_train,
    y_train,
    batch_size=64,
    epochs=_epochs(5),  # epochal: epochs cap
    validation_split=0.5,
    callbacks=[cp_callback])

pprint(os.listdir(checkpoint_dir))

model = get_model()
loss, accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
print('test loss is {:.3f}, test accuracy is {:.3f}'.format(loss, accuracy))

model.load_weights(os.path.join(checkpoint_dir, os.listdir(checkpoint_dir)[-1]))
loss, accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
print('test loss is {:.3f}, test accuracy is {:.3f}'.format(loss, accuracy))
