"""Files only their owner may read (keys, training state): written atomically, read checked.

A writer never leaves a half-written file and never lets anyone else read one, even for a
moment: the bytes go to a temporary file in the same directory, created with mode 0600 by
`os.open` itself (a file created first and chmod-ed after is readable in between), flushed
to disk with fsync, then renamed over the target, and the directory is synced so that the
rename survives a power cut. A crash at any point leaves the old file or the new one.

A reader refuses a file that group or others may read, as ssh does for private keys: its
secret may already have leaked, and whoever made it readable should know.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from pysonar.errors import PrivateFileError

PRIVATE_MODE = 0o600


def write_private_file(path: Path, data: bytes, *, overwrite: bool = True) -> None:
    """Atomically replace (or create) `path` with `data`, readable by its owner only.

    Parameters:
        path: the file; its directory must exist.
        data: the whole content.
        overwrite: replace an existing file; with False an existing file is left alone and
            `FileExistsError` raised (a key must never be overwritten by a new one).

    Raises:
        FileExistsError: `overwrite` is False and `path` exists.
        OSError: the directory is not writable, the disk is full, ...
    """
    directory = path.parent
    temporary = directory / f".{path.name}.{secrets.token_hex(8)}.tmp"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        if overwrite:
            os.replace(temporary, path)
        else:
            # link() fails if the target exists, where rename() would replace it.
            os.link(temporary, path)
            os.unlink(temporary)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _sync_directory(directory)


def read_private_file(
    path: Path, *, max_bytes: int, error: type[PrivateFileError] = PrivateFileError
) -> bytes:
    """Read `path` after checking that only its owner may read it and that it is not too big.

    Parameters:
        path: the file.
        max_bytes: the largest content accepted; a bigger file is not read.
        error: the exception class to raise, for a message naming the kind of file.

    Raises:
        PrivateFileError (`error`): the file cannot be read, is readable by group or
            others, or is larger than `max_bytes`.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError as failure:
        raise error(path, failure.strerror or str(failure)) from failure
    try:
        # The mode and size of the file opened, not of whatever the path names by now.
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise error(path, "is not a regular file")
        if status.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise error(
                path,
                f"can be read by others (mode {stat.S_IMODE(status.st_mode):o}); "
                f"make it private: chmod 600 {path}",
            )
        if status.st_size > max_bytes:
            raise error(path, f"has {status.st_size} bytes, more than the maximum of {max_bytes}")
        with os.fdopen(descriptor, "rb", closefd=False) as file:
            data = file.read(max_bytes + 1)
    finally:
        os.close(descriptor)
    if len(data) > max_bytes:
        raise error(path, f"has more than the maximum of {max_bytes} bytes")
    return data


def _sync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
