"""Seed 004 (004_480938b03e93928d.txt), section "Callback实践 / 调用顺序" (call order).

``CustomCallback`` prints every hook and the keys of its ``logs``. Data: 1,024 training
images with ``validation_split=0.5`` (512 train + 512 validation, batch 256: 2 + 2 batches),
512 test images (2 batches) for evaluate and predict.

What you should see (Keras 3 / epochal: loop keys sorted, ``accuracy`` before ``loss``):

    Starting training; got log keys: []
    Start epoch 0 of training; got log keys: []
        Training: start of batch 0; got log keys: []
        Training: end of batch 0; got log keys: ['accuracy', 'loss']
        Training: start of batch 1; got log keys: []
        Training: end of batch 1; got log keys: ['accuracy', 'loss']
    Start testing; got log keys: []
        Evaluating: start of batch 0; got log keys: []
        Evaluating: end of batch 0; got log keys: ['accuracy', 'loss']
        Evaluating: start of batch 1; got log keys: []
        Evaluating: end of batch 1; got log keys: ['accuracy', 'loss']
    Stop testing; got log keys: ['accuracy', 'loss']
    End epoch 0 of training; got log keys: ['accuracy', 'loss', 'val_accuracy', 'val_loss']
    Stop training; got log keys: ['accuracy', 'loss', 'val_accuracy', 'val_loss']
    ----------------------------------------------------------------------------------------------------
    Start testing; got log keys: []
        Evaluating: start of batch 0 ... end of batch 1 (as above)
    Stop testing; got log keys: ['accuracy', 'loss']
    ----------------------------------------------------------------------------------------------------
    Start predicting; got log keys: []
        Predicting: start of batch 0; got log keys: []
        Predicting: end of batch 0; got log keys: ['outputs']
        Predicting: start of batch 1; got log keys: []
        Predicting: end of batch 1; got log keys: ['outputs']
    Stop predicting; got log keys: []

(``predict`` has ``verbose="auto"``, so a progress bar is printed too. The tutorial's
screenshot came from TF 2.3, which printed ``['loss', 'accuracy']``.)

Adaptations: ``keras`` -> ``epochal``; other changes are marked ``# epochal:``.
"""

import epochal

from _seed004_common import get_mnist, get_model  # epochal: the tutorial's first cell


class CustomCallback(epochal.callbacks.Callback):
    def on_train_begin(self, logs=None):
        keys = list(logs.keys())
        print("Starting training; got log keys: {}".format(keys))

    def on_train_end(self, logs=None):
        keys = list(logs.keys())
        print("Stop training; got log keys: {}".format(keys))

    def on_epoch_begin(self, epoch, logs=None):
        keys = list(logs.keys())
        print("Start epoch {} of training; got log keys: {}".format(epoch, keys))

    def on_epoch_end(self, epoch, logs=None):
        keys = list(logs.keys())
        print("End epoch {} of training; got log keys: {}".format(epoch, keys))

    def on_test_begin(self, logs=None):
        keys = list(logs.keys())
        print("Start testing; got log keys: {}".format(keys))

    def on_test_end(self, logs=None):
        keys = list(logs.keys())
        print("Stop testing; got log keys: {}".format(keys))

    def on_predict_begin(self, logs=None):
        keys = list(logs.keys())
        print("Start predicting; got log keys: {}".format(keys))

    def on_predict_end(self, logs=None):
        keys = list(logs.keys())
        print("Stop predicting; got log keys: {}".format(keys))

    def on_train_batch_begin(self, batch, logs=None):
        keys = list(logs.keys())
        print("    Training: start of batch {}; got log keys: {}".format(batch, keys))

    def on_train_batch_end(self, batch, logs=None):
        keys = list(logs.keys())
        print("    Training: end of batch {}; got log keys: {}".format(batch, keys))

    def on_test_batch_begin(self, batch, logs=None):
        keys = list(logs.keys())
        print("    Evaluating: start of batch {}; got log keys: {}".format(batch, keys))

    def on_test_batch_end(self, batch, logs=None):
        keys = list(logs.keys())
        print("    Evaluating: end of batch {}; got log keys: {}".format(batch, keys))

    def on_predict_batch_begin(self, batch, logs=None):
        keys = list(logs.keys())
        print("    Predicting: start of batch {}; got log keys: {}".format(batch, keys))

    def on_predict_batch_end(self, batch, logs=None):
        keys = list(logs.keys())
        print("    Predicting: end of batch {}; got log keys: {}".format(batch, keys))


x_train, y_train, x_test, y_test = get_mnist()
x_train = x_train[:1024]
y_train = y_train[:1024]
x_test = x_test[:512]
y_test = y_test[:512]

model = get_model()
model.fit(
    x_train,
    y_train,
    batch_size=256,
    epochs=1,
    verbose=0,
    validation_split=0.5,
    callbacks=[CustomCallback()],
)

print('-'*100)
res = model.evaluate(
    x_test, y_test, batch_size=256, verbose=0, callbacks=[CustomCallback()]
)

print('-'*100)
res = model.predict(x_test, batch_size=256, callbacks=[CustomCallback()])
