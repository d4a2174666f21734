"""Seed 000 (000_baa2561de5dd45a1.txt), section "4. LearningRateScheduler",
"3. Metric-based Learning Rate Schedule".

The seed shows the constructor call with every Keras 2.3 default spelled out
(``factor=0.1, patience=10, verbose=0, mode='auto', min_delta=0.0001, cooldown=0,
min_lr=0``) as a bare expression. This example keeps the object and trains with it.

What you should see: one line per epoch (``verbose=2``) including ``learning_rate``; after
10 epochs without a ``val_loss`` improvement of more than 1e-4 the LR drops by 10x (silently,
``verbose=0``); the LR per epoch is printed at the end.

Adaptations: ``keras`` -> ``epochal``; other changes are marked ``# epochal:``.
"""

import epochal

from epochal.layers import Dense  # epochal: the seed omits the model; supplied below
from epochal.models import Sequential  # epochal: (same)

from _data import epochs as _epochs, pima_like  # epochal: offline data helpers

reduce_lr = epochal.callbacks.ReduceLROnPlateau(monitor='val_loss',  # epochal: `reduce_lr =` added
                                  factor=0.1,
                                  patience=10,
                                  verbose=0,
                                  mode='auto',
                                  min_delta=0.0001,
                                  cooldown=0,
                                  min_lr=0)

# epochal: supplied model, data and fit (the seed has none for this sample).
X, Y = pima_like()
model = Sequential()
model.add(Dense(12, input_dim=8, activation='relu'))
model.add(Dense(8, activation='relu'))
model.add(Dense(1, activation='sigmoid'))
model.compile(loss='binary_crossentropy', optimizer='adam', metrics=['accuracy'])
history = model.fit(X, Y, validation_split=0.33, epochs=_epochs(50), batch_size=28,
                    callbacks=[reduce_lr], verbose=2)
print("learning_rate per epoch:", history.history['learning_rate'])
