"""Seed 000 (000_baa2561de5dd45a1.txt), section "2. EarlyStopping".

The seed only builds the callback::

    earlystop = EarlyStopping(monitor='val_loss', min_delta=0, patience=3, verbose=1,
                              restore_best_weights=True)

To run it, this example adds the model and ``fit`` call of the seed's own ModelCheckpoint
section (Pima-style binary data, ``validation_split=0.33``, ``batch_size=10``).

What you should see: a progress bar per epoch; when ``val_loss`` has not improved for 3
epochs, ``Epoch N: early stopping`` and then ``Restoring model weights from the end of the
best epoch: K.`` (Keras 3 restores at train end, even if all 150 epochs ran).

Adaptations: ``keras`` -> ``epochal`` in imports; other changes are marked ``# epochal:``.
"""

from epochal.callbacks import EarlyStopping
from epochal.layers import Dense  # epochal: the seed omits the model; supplied below
from epochal.models import Sequential  # epochal: (same)

from _data import epochs as _epochs, pima_like  # epochal: offline data helpers

earlystop = EarlyStopping(monitor = 'val_loss',
                          min_delta = 0,
                          patience = 3,
                          verbose = 1,
                          restore_best_weights = True)

# epochal: model and data are not in the seed; the Pima-diabetes MLP of the referenced
# machinelearningmastery article, on seeded synthetic Pima-like data (see _data.py).
X, Y = pima_like()
model = Sequential()
model.add(Dense(12, input_dim=8, activation='relu'))
model.add(Dense(8, activation='relu'))
model.add(Dense(1, activation='sigmoid'))
model.compile(loss='binary_crossentropy', optimizer='adam', metrics=['accuracy'])

model.fit(X, Y, validation_split=0.33, epochs=_epochs(150), batch_size=10,  # epochal: epochs cap
          callbacks=[earlystop], verbose=1)
