"""Seed 003 (003_8a034ec833c9c7c0.txt), section "2.1 EarlyStopping": the default arguments.

The seed lists ``EarlyStopping(monitor='val_loss', min_delta = 0, patience=0, verbose=0,
fashion = 'car', baseline=None, restore_best_weights=False)``. ``fashion = 'car'`` is a
machine translation of ``mode='auto'`` (the Chinese original said 模式 'auto'); it is not a
Keras argument and would raise ``TypeError``. The seed builds the object only; this example
also trains with it on the 8x8 digits with ``validation_split=0.2`` and ``verbose=1`` added to
the callback's copy so the stop is visible.

What you should see: progress bars until the first epoch whose ``val_loss`` does not improve
(``patience=0``), then training ends early; the number of epochs run is printed.

Adaptations: ``tf.keras`` -> ``epochal``; other changes are marked ``# epochal:``.
"""

import epochal
from epochal.layers import Dense  # epochal: supplied model
from epochal.models import Sequential  # epochal: (same)

from _data import digits, epochs as _epochs  # epochal: offline data helpers

early_stopping = epochal.callbacks.EarlyStopping(monitor='val_loss',  # epochal: `early_stopping =`
min_delta = 0,
patience=0,
verbose=1,  # epochal: seed default 0; 1 prints "Epoch N: early stopping"
mode = 'auto',  # epochal: seed text "fashion = 'car'" (mistranslated mode='auto')
baseline=None,
restore_best_weights=False)

# epochal: supplied model, data and fit.
x, y = digits()
model = Sequential([Dense(32, activation='relu', input_shape=(64,)),
                    Dense(10, activation='softmax')])
model.compile(optimizer='sgd', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
history = model.fit(x, y, epochs=_epochs(200), validation_split=0.2, verbose=1,
                    callbacks=[early_stopping])
print("epochs run:", len(history.epoch))
