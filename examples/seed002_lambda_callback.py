"""Seed 002 (002_a4f628c634a428eb.txt), section "LambdaCallback": three callbacks built from
lambdas and passed to ``model.fit(..., callbacks=[batch_print_callback, plot_loss_callback,
cleanup_callback])``.

* ``batch_print_callback`` prints the batch index at every training batch begin (legacy
  ``on_batch_begin=`` keyword);
* ``plot_loss_callback`` plots the loss after every epoch;
* ``cleanup_callback`` terminates helper processes when training ends.

The seed's ``processes = ...`` and ``model.fit(...)`` are placeholders, filled in here: two
sleeping ``multiprocessing`` processes and the seed's MNIST softmax model. The seed's plot
lambda, ``plt.plot(np.arange(epoch), logs['loss'])``, plots ``epoch`` x values against one y
value and makes matplotlib raise ``ValueError`` (x and y must have same first dimension) in
Keras too; it is fixed to plot one point per epoch.

What you should see: ``0 1 2 ... 62`` (one number per line) for each of the 3 epochs,
``processes alive before: [True, True]`` / ``after: [False, False]`` and ``loss.png``.

Adaptations: ``keras`` -> ``epochal``; other changes are marked ``# epochal:``.
"""

import multiprocessing  # epochal: real processes for the cleanup callback
import time  # epochal: (same)

from epochal.callbacks import LambdaCallback  # epochal: the seed uses the bare name
from epochal.layers import Activation, Dense  # epochal: the seed's model; fit(...) is a placeholder
from epochal.models import Sequential  # epochal: (same)

from _data import epochs as _epochs, mnist_flat_onehot  # epochal: offline data helpers


def main():  # epochal: a main guard, so that multiprocessing can spawn children safely
    X_train, Y_train, _X_test, _Y_test = mnist_flat_onehot()
    model = Sequential()
    model.add(Dense(10, input_dim=784, kernel_initializer='uniform'))
    model.add(Activation('softmax'))
    model.compile(loss='categorical_crossentropy', optimizer='rmsprop')

    # Print the batch number at the beginning of every batch.
    batch_print_callback = LambdaCallback(
        on_batch_begin=lambda batch,logs: print(batch))
    # Plot the loss after every epoch.
    import numpy as np
    import matplotlib.pyplot as plt
    plot_loss_callback = LambdaCallback(
        on_epoch_end=lambda epoch, logs: plt.plot([epoch],  # epochal: was np.arange(epoch)
                          [logs['loss']], 'bo'))  # epochal: was logs['loss']
    # Terminate some processes after having finished model training.
    processes = [multiprocessing.Process(target=time.sleep, args=(600,)) for _ in range(2)]  # epochal: was `...`
    for p in processes:  # epochal: (same)
        p.start()
    print("processes alive before:", [p.is_alive() for p in processes])  # epochal: shows the effect
    cleanup_callback = LambdaCallback(
        on_train_end=lambda logs: [
        p.terminate() for p in processes if p.is_alive()])
    model.fit(X_train, Y_train, batch_size=128, epochs=_epochs(3), verbose=0,  # epochal: was `...`
          callbacks=[batch_print_callback,
             plot_loss_callback,
             cleanup_callback])
    for p in processes:  # epochal: shows the effect
        p.join(timeout=10)
    print("processes alive after:", [p.is_alive() for p in processes])
    plt.savefig("loss.png")  # epochal: keep the plot on a headless machine
    print(np.round(plt.gca().lines[-1].get_ydata(), 4))


if __name__ == "__main__":
    main()
