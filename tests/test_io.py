"""The atomic writer: all or nothing, and no litter left by killed writers."""

from __future__ import annotations

import pytest

from epochal._io import atomic_write, atomic_write_bytes


def test_a_failing_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    path = tmp_path / "model.h5"
    atomic_write_bytes(path, b"old")

    def half(tmp):
        tmp.write_bytes(b"ne")
        raise RuntimeError("crash while writing")

    with pytest.raises(RuntimeError):
        atomic_write(path, half)
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.h5"]


def test_temporaries_of_a_killed_writer_are_removed_at_the_next_write(tmp_path):
    path = tmp_path / "model.h5"
    (tmp_path / ".model.h5.abc123.tmp").write_bytes(b"torn")
    (tmp_path / ".other.h5.abc123.tmp").write_bytes(b"someone else's")
    atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.h5.abc123.tmp", "model.h5"]


def test_parent_folders_are_created_and_a_directory_target_is_refused(tmp_path):
    atomic_write_bytes(tmp_path / "a" / "b" / "c.bin", b"x")
    assert (tmp_path / "a" / "b" / "c.bin").read_bytes() == b"x"
    with pytest.raises(IsADirectoryError):
        atomic_write_bytes(tmp_path / "a", b"x")
