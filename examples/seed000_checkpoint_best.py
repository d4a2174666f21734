"""Seed 000 (000_baa2561de5dd45a1.txt), section "3. ModelCheckpoint", first sample.

Saves the whole model to ``weights.best.h5`` in the current directory, only when
``val_loss`` improves (``save_best_only=True``, ``mode='min'``).

What you should see: a progress bar per epoch and, with ``verbose=1`` on the checkpoint,
``Epoch 1: val_loss improved from None to 0.xxxxx, saving model to weights.best.h5`` on
improving epochs and ``Epoch N: val_loss did not improve from 0.xxxxx`` otherwise. At the
end ``weights.best.h5`` exists. (The seed's prose calls the file "weights.best.hdf5" and says
it is written when the *accuracy* improves; the code monitors ``val_loss`` and writes ``.h5``.)

Adaptations: ``keras`` -> ``epochal`` in imports; other changes are marked ``# epochal:``.
"""

from epochal.callbacks import ModelCheckpoint
from epochal.layers import Dense  # epochal: the seed omits the model; supplied below
from epochal.models import Sequential  # epochal: (same)

from _data import epochs as _epochs, pima_like  # epochal: offline data helpers

# epochal: model and X, Y are undefined in the seed; the referenced article's Pima MLP on
# seeded Pima-like data (8 features, binary target).
X, Y = pima_like()
model = Sequential()
model.add(Dense(12, input_dim=8, activation='relu'))
model.add(Dense(8, activation='relu'))
model.add(Dense(1, activation='sigmoid'))
model.compile(loss='binary_crossentropy', optimizer='adam', metrics=['accuracy'])


filepath="weights.best.h5"
checkpoint = ModelCheckpoint(filepath,
                             monitor='val_loss',
                             mode='min',
                             save_best_only=True,
                             verbose=1)
callbacks_list = [checkpoint]
model.fit(X, Y, validation_split=0.33, epochs=_epochs(150), batch_size=10, callbacks=callbacks_list, verbose=1)  # epochal: epochs cap
