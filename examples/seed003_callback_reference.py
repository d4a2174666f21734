"""Seed 003 (003_8a034ec833c9c7c0.txt), sections "2.3 ReduceLROnPlateau", "2.4 TensorBoard",
"2.5 CSVLogger", "2.6 TerminateOnNaN": the signatures the seed prints (TF 2.5 defaults).

The seed's signatures end in ``**kwargs`` (not callable code; dropped) and CSVLogger's
``filename`` is a placeholder (``training.csv`` here). TensorBoard's ``profile_batch=2`` was
the early TF 2 default; profiling is not available on torch (Keras 3 raises ``ValueError``),
epochal warns and disables profiling. The seed only builds the objects; this example also
trains a digits MLP with all four.

What you should see: a warning about ``profile_batch``; progress bars with ``learning_rate``;
``training.csv`` with one row per epoch and TensorBoard events under ``logs/``. No NaN occurs,
so TerminateOnNaN stays silent.

Adaptations: ``tf.keras`` -> ``epochal``; other changes are marked ``# epochal:``.
"""

import epochal
from epochal.layers import Dense  # epochal: supplied model
from epochal.models import Sequential  # epochal: (same)

from _data import digits, epochs as _epochs  # epochal: offline data helpers

reduce_lr = epochal.callbacks.ReduceLROnPlateau(  # epochal: `reduce_lr =` added
monitor='val_loss', factor=0.1, patience=10, verbose=0,
mode='auto', min_delta=0.0001, cooldown=0, min_lr=0  # epochal: `, **kwargs` dropped
)

tensorboard = epochal.callbacks.TensorBoard(  # epochal: `tensorboard =` added
log_dir='logs', histogram_freq=0, write_graph=True,
write_images=False, write_steps_per_second=False, update_freq='epoch',
profile_batch=2, embeddings_freq=0, embeddings_metadata=None  # epochal: `, **kwargs` dropped
)

filename = 'training.csv'  # epochal: placeholder in the seed
csv_logger = epochal.callbacks.CSVLogger(  # epochal: `csv_logger =` added
filename, separator=',', append=False
)

terminate = epochal.callbacks.TerminateOnNaN()  # epochal: `terminate =` added

# epochal: supplied model, data and fit.
x, y = digits()
model = Sequential([Dense(32, activation='relu', input_shape=(64,)),
                    Dense(10, activation='softmax')])
model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
model.fit(x, y, epochs=_epochs(10), validation_split=0.2, verbose=2,
          callbacks=[reduce_lr, tensorboard, csv_logger, terminate])
print(open(filename).read())
