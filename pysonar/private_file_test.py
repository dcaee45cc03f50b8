"""Private files: written whole with mode 0600, never clobbered when asked not to, read checked."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pysonar.errors import PrivateFileError
from pysonar.private_file import read_private_file, write_private_file


def test_a_file_is_written_whole_with_mode_600_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "secret.json"

    write_private_file(path, b"first")
    write_private_file(path, b"second")

    assert read_private_file(path, max_bytes=6) == b"second"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["secret.json"]


def test_without_overwrite_an_existing_file_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "secret.json"
    write_private_file(path, b"the key")

    with pytest.raises(FileExistsError):
        write_private_file(path, b"another key", overwrite=False)

    assert path.read_bytes() == b"the key"
    assert os.listdir(tmp_path) == ["secret.json"], "the temporary file is removed"


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "secret.json"
    write_private_file(path, b"old")

    def disk_full(descriptor: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_private_file(path, b"new")

    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["secret.json"]


def test_refuses_a_file_larger_than_the_maximum(tmp_path: Path) -> None:
    path = tmp_path / "secret.json"
    write_private_file(path, b"x" * 11)

    with pytest.raises(PrivateFileError, match="has 11 bytes, more than the maximum of 10"):
        read_private_file(path, max_bytes=10)


def test_refuses_a_directory(tmp_path: Path) -> None:
    with pytest.raises(PrivateFileError, match="is not a regular file"):
        read_private_file(tmp_path, max_bytes=10)
