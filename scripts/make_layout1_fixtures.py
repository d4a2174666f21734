"""Writes tests/fixtures/layout1/: a Conv2D model saved in epochal's weight layout 1.

Run with epochal as it was before layout 2 (commit 9ba7cdf, Conv2D kernels in torch's
``(filters, in, kh, kw)``), e.g. from a worktree of that commit:
``PYTHONPATH=src python scripts/make_layout1_fixtures.py tests/fixtures/layout1``.
"""

import sys

import numpy as np

import epochal
from epochal.layers import Conv2D, Dense, Flatten


def main(out: str) -> None:
    epochal.utils.set_random_seed(0)
    model = epochal.Sequential([Conv2D(3, 3, input_shape=(6, 6, 2)), Flatten(), Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).standard_normal((4, 6, 6, 2)).astype("float32")
    model.fit(x, np.zeros((4, 2), "float32"), verbose=0)
    model.save(f"{out}/old.keras")
    model.save_weights(f"{out}/old.weights.h5")
    model.save_weights(f"{out}/old.safetensors")
    np.save(f"{out}/pred.npy", model.predict(x, verbose=0))


if __name__ == "__main__":
    main(sys.argv[1])
