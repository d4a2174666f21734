"""The command line reads as a product: plain help text, no internal jargon or markup."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from epochal import cli

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("argv", [["--help"], ["demo", "--help"], ["plot", "--help"]])
def test_help_is_plain_text(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "``" not in text and ":func:" not in text and ":class:" not in text
    assert not re.search(r"\bseeds?\b", text, re.IGNORECASE)
    assert "usage: epochal" in text


def test_user_facing_files_do_not_point_at_internal_material():
    """README, docs, examples and the package never send users to ../shared or a spec file
    that is not shipped."""
    files = [REPO / "README.md", *REPO.glob("docs/**/*.md"), *REPO.glob("examples/**/*.py")]
    files += [*REPO.glob("examples/**/*.md"), *REPO.glob("src/**/*.py")]
    offenders = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        for pattern in (r"\.\./shared", r"shared/(data|seeds)", r"\bSPEC\b", r"\bDESIGN §"):
            if re.search(pattern, text):
                offenders.append(f"{path.relative_to(REPO)}: {pattern}")
    assert offenders == []
