"""Every seed tutorial sample in examples/ runs on epochal with only its imports changed.

Each example runs in its own process, in a temporary working directory, with its epoch count
capped by EPOCHAL_EXAMPLE_EPOCHS so the whole set stays fast.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

EXAMPLES = sorted(p for p in (REPO / "examples").glob("seed*.py"))


@pytest.mark.slow
@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(script, tmp_path):
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        MPLBACKEND="Agg",
        EPOCHAL_EXAMPLE_EPOCHS="2",
        PYTHONPATH=os.pathsep.join([str(REPO / "examples"), str(REPO / "src")]),
    )
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
