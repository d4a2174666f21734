"""Shared data and epoch-count helpers for the examples.

The tutorials these examples follow load datasets that need a download (the 60,000-image
MNIST training split, Fashion-MNIST, the Pima Indians diabetes CSV, scikit-learn's
``make_circles``) or use undefined ``X, Y``. Every example gets its data from here instead,
so that each example file stays close to the tutorial it follows, and runs offline.

* ``mnist()``: the real MNIST *test* split that ships with epochal
  (10,000 images, ``epochal.datasets.mnist.bundled_path()``), read with
  ``epochal.datasets.mnist.load_data(path=...)`` and split 8,000 train / 2,000 test, returned Keras-style as
  ``(x_train, y_train), (x_test, y_test)`` with uint8 images of shape ``(n, 28, 28)`` and
  uint8 labels. Fashion-MNIST is replaced by this MNIST. Set ``EPOCHAL_MNIST_PATH``
  to use another folder. If the folder holds the full four-file layout, the loader's own
  60,000 / 10,000 split is used unchanged.
* ``mnist_flat_onehot()``: the same split as ``float32`` vectors of 784 values in [0, 1] and
  one-hot labels, for the tutorials' ``Dense(10, input_dim=784)`` + ``categorical_crossentropy``
  samples (``X_train, Y_train, X_test, Y_test``).
* ``digits()``: scikit-learn's 8x8 digits via ``epochal.datasets.digits.load_data()``
  (1,797 samples), flattened to 64 ``float32`` features in [0, 1], integer labels.
* ``pima_like()``: a reproducible synthetic stand-in for the Pima Indians diabetes data that
  the machinelearningmastery tutorials train on: 768 rows, 8 ``float32`` features, a binary
  ``float32`` target (about 35 % positives, like Pima) drawn from a fixed logistic model with
  noise, so a small MLP reaches roughly 75-85 % accuracy.
* ``circles()``: a reproducible re-implementation of ``sklearn.datasets.make_circles(n_samples=1000,
  noise=0.1, random_state=1)`` scaled to [-1, 1] and split 500 / 500, as in the
  "vanishing gradients" article behind the TensorBoard example.
* ``epochs(n, at_least=1)``: the sample's epoch count ``n``, capped by the environment
  variable ``EPOCHAL_EXAMPLE_EPOCHS`` when it is set (tests use it to run the examples fast);
  ``at_least`` keeps the minimum a sample needs (e.g. ``plot_history`` skips 4 epochs).
"""

from __future__ import annotations

import os

import numpy as np

EPOCHS_ENV = "EPOCHAL_EXAMPLE_EPOCHS"


def epochs(n: int, at_least: int = 1) -> int:
    """Return the sample's epoch count ``n``, capped by ``$EPOCHAL_EXAMPLE_EPOCHS``."""
    cap = os.environ.get(EPOCHS_ENV)
    if not cap:
        return n
    try:
        limit = int(cap)
    except ValueError:
        raise ValueError(f"{EPOCHS_ENV} must be a positive integer, got {cap!r}") from None
    if limit < 1:
        raise ValueError(f"{EPOCHS_ENV} must be a positive integer, got {cap!r}")
    return min(n, max(limit, at_least))


def mnist_path() -> str:
    """Folder holding the MNIST IDX files: ``$EPOCHAL_MNIST_PATH``, else the bundled test split."""
    env = os.environ.get("EPOCHAL_MNIST_PATH")
    if env:
        return env
    import epochal

    return str(epochal.datasets.mnist.bundled_path())


def mnist(n_train: int = 8000):
    """Real MNIST as ``(x_train, y_train), (x_test, y_test)``: 8,000 / 2,000 of the test split."""
    import epochal

    (xa, ya), (xb, yb) = epochal.datasets.mnist.load_data(path=mnist_path())
    xa, ya, xb, yb = (np.asarray(a) for a in (xa, ya, xb, yb))
    if len(xa) + len(xb) > 10000:  # the full four-file layout: keep the official split
        return (xa, ya), (xb, yb)
    x = np.concatenate([xa, xb]) if len(xa) and len(xb) else (xa if len(xa) else xb)
    y = np.concatenate([ya, yb]) if len(ya) and len(yb) else (ya if len(ya) else yb)
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])


def mnist_flat_onehot():
    """MNIST as flat float32 vectors and one-hot labels: ``X_train, Y_train, X_test, Y_test``."""
    (x_train, y_train), (x_test, y_test) = mnist()

    def flat(x):
        return x.reshape(len(x), 28 * 28).astype("float32") / 255.0

    def onehot(y):
        return np.eye(10, dtype="float32")[y.astype("int64")]

    return flat(x_train), onehot(y_train), flat(x_test), onehot(y_test)


def digits():
    """The 8x8 digits as ``x`` (n, 64) float32 in [0, 1] and ``y`` (n,) int64."""
    import epochal

    data = epochal.datasets.digits.load_data()
    if len(data) == 2 and isinstance(data[0], tuple):  # Keras style ((x, y), (x, y))
        (xa, ya), (xb, yb) = data
        x = np.concatenate([np.asarray(xa), np.asarray(xb)])
        y = np.concatenate([np.asarray(ya), np.asarray(yb)])
    else:  # (x, y)
        x, y = (np.asarray(a) for a in data)
    x = x.reshape(len(x), -1).astype("float32")
    if x.max() > 1.0:
        x /= 16.0  # sklearn's digits are 0..16
    return x, y.astype("int64")


def pima_like(n: int = 768, seed: int = 7):
    """Seeded synthetic binary task shaped like Pima diabetes: ``X`` (768, 8), ``Y`` (768,)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype("float32")
    w = np.array([1.2, -0.8, 0.6, 0.0, 0.9, -0.4, 0.3, 0.7], dtype="float32")
    logits = x @ w - 0.7 + rng.normal(scale=0.8, size=n).astype("float32")
    y = (logits > 0).astype("float32")
    return x, y


def circles(n_samples: int = 1000, noise: float = 0.1, seed: int = 1, n_train: int = 500):
    """Two noisy concentric circles scaled to [-1, 1]: ``trainX, trainy, testX, testy``."""
    rng = np.random.default_rng(seed)
    n_out = n_samples // 2
    n_in = n_samples - n_out
    t_out = np.linspace(0, 2 * np.pi, n_out, endpoint=False)
    t_in = np.linspace(0, 2 * np.pi, n_in, endpoint=False)
    outer = np.stack([np.cos(t_out), np.sin(t_out)], axis=1)
    inner = np.stack([np.cos(t_in), np.sin(t_in)], axis=1) * 0.8  # make_circles factor=0.8
    x = np.concatenate([outer, inner]) + rng.normal(scale=noise, size=(n_samples, 2))
    y = np.concatenate([np.zeros(n_out), np.ones(n_in)])
    order = rng.permutation(n_samples)
    x, y = x[order], y[order]
    x = 2 * (x - x.min(axis=0)) / (x.max(axis=0) - x.min(axis=0)) - 1  # MinMaxScaler(-1, 1)
    x, y = x.astype("float32"), y.astype("float32")
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]
