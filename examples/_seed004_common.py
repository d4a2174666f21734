"""Seed 004 (004_480938b03e93928d.txt), section "Callback实践 / 调用顺序": the shared first
code block (imports, ``get_model``, ``get_mnist``) and ``plot_history`` from "Early Stopping",
used by every ``seed004_*.py`` example, as the tutorial's notebook cells share them.

Adaptations: ``tf.keras`` / ``from tensorflow import keras`` -> ``epochal``; Fashion-MNIST ->
the real MNIST split (``_data.mnist``); the ``tf.config`` GPU memory lines are removed; other
changes are marked ``# epochal:``.
"""

import matplotlib.pyplot as plt
import numpy as np
import os  # noqa: F401  (the seed's import)
import epochal  # epochal: was `import tensorflow as tf` / `from tensorflow import keras`
from pprint import pprint  # noqa: F401  (the seed's import)

from _data import mnist  # epochal: offline data helpers

# epochal: removed (TensorFlow GPU setup, not Keras):
# gpus = tf.config.experimental.list_physical_devices(device_type='GPU')
# tf.config.experimental.set_virtual_device_configuration(
#     gpus[0],
#     [tf.config.experimental.VirtualDeviceConfiguration(memory_limit=1024)]
# )

def get_model():
    model = epochal.models.Sequential()
    model.add(epochal.layers.Flatten(input_shape=(28, 28)))
    model.add(epochal.layers.Dense(128, activation='relu'))
    model.add(epochal.layers.Dropout(0.2))
    model.add(epochal.layers.Dense(10))
    model.compile(
        optimizer=epochal.optimizers.RMSprop(learning_rate=0.1),
        loss=epochal.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model

def get_mnist():
    (x_train, y_train), (x_test, y_test) = mnist()  # epochal: was tf.keras.datasets.fashion_mnist.load_data()
    x_train = x_train.astype("float32") / 255.0
    x_test = x_test.astype("float32") / 255.0
    return x_train, y_train, x_test, y_test


def plot_history(history, metrics_name='accuracy'):
    plt.figure(figsize=(8, 4))
    # 忽略前面几个epoch
    start_epoch = 5
    metrics = history.history[metrics_name][start_epoch-1:]
    val_metrics = history.history['val_' + metrics_name][start_epoch-1:]
    epochs = [start_epoch + i for i in range(len(metrics))]
    lowest = np.argmin(val_metrics)

    plt.plot(epochs, metrics, label=metrics_name)
    plt.plot(epochs, val_metrics, label = 'val_' + metrics_name)
    plt.plot(lowest+start_epoch, val_metrics[lowest], 'ro')
    plt.xlabel('epoch')
    plt.ylabel(metrics_name)
    plt.xticks(epochs)
    plt.legend(loc='upper right')
    plt.savefig('history_%s.png' % metrics_name)  # epochal: keep the figure when headless
    plt.show()
