"""Seed 000 (000_baa2561de5dd45a1.txt), section "3. ModelCheckpoint", "导入保存的模型".

The seed loads a saved model whose compile config names a custom metric::

    model = load_model( "your.model.h5", custom_objects={'my_metric': my_metric })

(the seed's text uses typographic quotes “ ” ‘ ’ and is a SyntaxError as printed; fixed here).
The comment "# 如果自定义 metric 去 moniter" means "if a custom metric is monitored", so this
example first trains a model with ``metrics=[..., my_metric]``, lets ModelCheckpoint monitor
``val_my_metric`` to write ``your.model.h5``, then loads it with ``custom_objects``.

What you should see: training progress, checkpoint messages about ``val_my_metric``, then
the loaded model's ``[loss, accuracy, my_metric]`` on the data, equal to the saved model's
values at its best epoch.

Adaptations: ``keras`` -> ``epochal`` in imports; other changes are marked ``# epochal:``.
"""

import torch  # epochal: the custom metric is written with torch ops

from epochal.callbacks import ModelCheckpoint  # epochal: supplied training code below
from epochal.layers import Dense  # epochal: (same)
from epochal.models import Sequential, load_model  # epochal: was `from keras.models import load_model`

from _data import epochs as _epochs, pima_like  # epochal: offline data helpers


# epochal: the seed does not define my_metric; a mean absolute error on probabilities.
def my_metric(y_true, y_pred):
    return torch.mean(torch.abs(torch.reshape(y_true, (-1,)) - torch.reshape(y_pred, (-1,))))


# epochal: supplied: train and checkpoint a model monitored on the custom metric.
X, Y = pima_like()
model = Sequential()
model.add(Dense(12, input_dim=8, activation='relu'))
model.add(Dense(8, activation='relu'))
model.add(Dense(1, activation='sigmoid'))
model.compile(loss='binary_crossentropy', optimizer='adam', metrics=['accuracy', my_metric])
checkpoint = ModelCheckpoint("your.model.h5", monitor='val_my_metric', mode='min',
                             save_best_only=True, verbose=1)
model.fit(X, Y, validation_split=0.33, epochs=_epochs(20), batch_size=10,
          callbacks=[checkpoint], verbose=2)

model = load_model( "your.model.h5",
custom_objects={'my_metric': my_metric }) # 如果自定义 metric 去 moniter

print(model.evaluate(X, Y, verbose=0))  # epochal: show that the loaded model works
