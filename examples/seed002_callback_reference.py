"""Seed 002 (002_a4f628c634a428eb.txt), the reference part: ``Callback``, ``BaseLogger``,
``ProgbarLogger``, ``History``, ``ModelCheckpoint``, ``EarlyStopping``, ``RemoteMonitor``,
``LearningRateScheduler``, ``TensorBoard``, ``ReduceLROnPlateau``, ``CSVLogger``,
``LambdaCallback`` — each built with the signature the seed documents (Keras 2.0 era:
``period=1``, ``epsilon=0.0001``, ``embeddings_layer_names``), then all passed to one fit.

The seed also describes the ``logs`` each hook receives (Keras 2): ``on_batch_begin`` →
``size``; ``on_batch_end`` → ``loss`` (+ ``acc``); ``on_epoch_end`` → ``acc, loss, val_acc,
val_loss``. ``LogsProbe`` (not in the seed) prints what epochal passes instead (Keras 3:
``{}`` at batch begin, running means at batch end, ``accuracy``/``val_accuracy`` names).

What you should see: deprecation warnings for ``period``, ``epsilon`` and
``embeddings_layer_names``; a ``UserWarning`` that RemoteMonitor could not reach
``http://localhost:9000`` (unless a server runs there); the logs keys; a progress bar;
``weights.NN-x.xx.hdf5`` files, ``training_log.csv`` and ``./logs`` in the current directory.
EarlyStopping with ``patience=0`` stops at the first epoch whose ``val_loss`` does not improve.

Adaptations: ``keras`` -> ``epochal``; other changes are marked ``# epochal:``.
"""

import epochal
from epochal.layers import Activation, Dense  # epochal: model of the seed's LossHistory example
from epochal.models import Sequential  # epochal: (same)

from _data import epochs as _epochs, mnist_flat_onehot  # epochal: offline data helpers

X_train, Y_train, X_test, Y_test = mnist_flat_onehot()  # epochal: real data


# epochal: not in the seed; prints the logs its text describes.
class LogsProbe(epochal.callbacks.Callback):
    def on_batch_begin(self, batch, logs=None):
        if batch == 0:
            print("on_batch_begin logs:", logs)

    def on_batch_end(self, batch, logs=None):
        if batch == 0:
            print("on_batch_end logs keys:", sorted(logs))

    def on_epoch_end(self, epoch, logs=None):
        print("on_epoch_end logs keys:", sorted(logs), "params:", self.params)


def schedule(epoch):  # epochal: the seed's `schedule` is a placeholder ("函数")
    return 0.001


base = epochal.callbacks.Callback()
base_logger = epochal.callbacks.BaseLogger()
progbar = epochal.callbacks.ProgbarLogger()
history = epochal.callbacks.History()
checkpoint = epochal.callbacks.ModelCheckpoint(
    'weights.{epoch:02d}-{val_loss:.2f}.hdf5',  # epochal: seed's example path, braces fixed
    monitor='val_loss', verbose=0, save_best_only=False, save_weights_only=False, mode='auto', period=1)
early_stopping = epochal.callbacks.EarlyStopping(monitor='val_loss', patience=0, verbose=0, mode='auto')
remote = epochal.callbacks.RemoteMonitor(root='http://localhost:9000')
scheduler = epochal.callbacks.LearningRateScheduler(schedule)
tensorboard = epochal.callbacks.TensorBoard(log_dir='./logs', histogram_freq=0, write_graph=True, write_images=False, embeddings_freq=0, embeddings_layer_names=None, embeddings_metadata=None)
reduce_lr = epochal.callbacks.ReduceLROnPlateau(monitor='val_loss', factor=0.1, patience=10, verbose=0, mode='auto', epsilon=0.0001, cooldown=0, min_lr=0)
csv_logger = epochal.callbacks.CSVLogger('training_log.csv', separator=',', append=False)  # epochal: filename
lambda_cb = epochal.callbacks.LambdaCallback(on_epoch_begin=None, on_epoch_end=None, on_batch_begin=None, on_batch_end=None, on_train_begin=None, on_train_end=None)

# epochal: supplied model and fit (the reference part has none); metrics=['accuracy'] as
# the seed says val_acc "还额外需要在.compile中启用metrics=['accuracy']".
model = Sequential()
model.add(Dense(10, input_dim=784, kernel_initializer='uniform'))
model.add(Activation('softmax'))
model.compile(loss='categorical_crossentropy', optimizer='rmsprop', metrics=['accuracy'])
returned = model.fit(X_train, Y_train, batch_size=128, epochs=_epochs(5), verbose=1,
                     validation_data=(X_test, Y_test),
                     callbacks=[LogsProbe(), base, base_logger, progbar, history, checkpoint,
                                early_stopping, remote, scheduler, tensorboard, reduce_lr,
                                csv_logger, lambda_cb])
print("fit returned the History passed in:", returned is history)
print(history.history)
