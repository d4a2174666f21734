"""A disk that fills during a save raises OSError in the saving process, never crashes it,
and leaves the previous file loadable (on a real, tiny tmpfs; skipped where mounting is not
permitted)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import errno, os, sys
    import numpy as np
    import epochal
    from epochal.layers import Dense

    folder, suffix = sys.argv[1], sys.argv[2]
    target = os.path.join(folder, "m" + suffix)

    def model(units):
        m = epochal.Sequential([Dense(units, input_dim=64), Dense(1)])
        m.compile(optimizer="adam", loss="mse")
        return m

    def save(m):
        if suffix == ".keras":
            m.save(target, overwrite=True)
        else:
            m.save_weights(target, overwrite=True)

    small = model(8)
    save(small)
    expected = small.predict(np.ones((2, 64), "float32"), verbose=0)
    failures = 0
    # Fill the disk to different levels so the big save runs out of space at different
    # moments of the write.
    for filler_kib in range(0, 900, 60):
        filler = os.path.join(folder, "filler")
        with open(filler, "wb") as f:
            f.write(b"x" * filler_kib * 1024)
        try:
            save(model(8192))  # 2 MiB of weights: never fits
        except OSError as exc:
            assert exc.errno in (errno.ENOSPC, errno.EDQUOT), exc
            failures += 1
        else:
            raise AssertionError("a 2 MiB save succeeded on a 1 MiB disk")
        os.remove(filler)
        probe = model(8)
        if suffix == ".keras":
            probe = epochal.load_model(target)
        else:
            probe.load_weights(target)
        np.testing.assert_allclose(probe.predict(np.ones((2, 64), "float32"), verbose=0), expected)
        leftovers = [n for n in os.listdir(folder) if n != os.path.basename(target)]
        assert not leftovers, leftovers
    print("OK", failures)
    """
)


@pytest.fixture
def tiny_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".weights.h5", ".keras", ".safetensors"])
def test_a_full_disk_raises_and_keeps_the_old_file(tiny_disk: Path, suffix: str):
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tiny_disk), suffix],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, (done.returncode, done.stdout[-2000:], done.stderr[-4000:])
    assert done.stdout.strip().startswith("OK")
