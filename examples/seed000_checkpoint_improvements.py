"""Seed 000 (000_baa2561de5dd45a1.txt), section "3. ModelCheckpoint", second sample.

A templated path, ``weights-improvement-{epoch:02d}-{val_acc:.2f}.h5``, keeps one file per
improvement ("这样就会保存一系列的模型"): e.g. ``weights-improvement-01-0.66.h5``,
``weights-improvement-02-0.70.h5``... ``{epoch}`` is 1-based; ``{val_acc}`` is read from the
epoch logs, so the metric must be logged as ``acc``.

What you should see: progress bars, ``Epoch N: val_loss improved from ... saving model to
weights-improvement-NN-0.XX.h5`` lines, then the list of files written.

Adaptations: ``keras`` -> ``epochal`` in imports; other changes are marked ``# epochal:``.
"""

import glob  # epochal: only to list the files at the end

from epochal.callbacks import ModelCheckpoint  # epochal: the seed reuses the first sample's import
from epochal.layers import Dense  # epochal: the seed omits the model; supplied below
from epochal.models import Sequential  # epochal: (same)

from _data import epochs as _epochs, pima_like  # epochal: offline data helpers

# epochal: model, data and fit are not in this sample; same as the first ModelCheckpoint
# sample. metrics=['acc'] (Keras <= 2.2 logged metrics=['accuracy'] as 'acc'/'val_acc',
# which the {val_acc:.2f} placeholder needs; Keras 3 would raise KeyError with 'accuracy').
X, Y = pima_like()
model = Sequential()
model.add(Dense(12, input_dim=8, activation='relu'))
model.add(Dense(8, activation='relu'))
model.add(Dense(1, activation='sigmoid'))
model.compile(loss='binary_crossentropy', optimizer='adam', metrics=['acc'])

filepath="weights-improvement-{epoch:02d}-{val_acc:.2f}.h5"

checkpoint = ModelCheckpoint(filepath,
                             monitor='val_loss',
                             mode='min',
                             save_best_only=True,
                             verbose=1)

model.fit(X, Y, validation_split=0.33, epochs=_epochs(150), batch_size=10,  # epochal: supplied fit
          callbacks=[checkpoint], verbose=1)
print(sorted(glob.glob("weights-improvement-*.h5")))  # epochal: show what was written
