"""A layer of an image: its entries, and the one way they are written as a tar.

Every entry is written sorted by path, with mtime SOURCE_DATE_EPOCH, owner 0:0 (or the
image's user, for the directories the app writes to) by number only and no extended
attributes. A regular file whose bytes, mode and owner another file of the same layer
already has is written as a hard link to the first of them (by path): the layer carries
the bytes once, and the engine stores them once (a wheel's files duplicated into its data
directory, a package's identical licences). Standard library only, like the assembler.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

NONROOT = 65532


@dataclass
class Entry:
    """One file, directory or symlink of a layer."""

    path: str  # relative, no leading slash
    kind: bytes  # tarfile.REGTYPE, DIRTYPE or SYMTYPE
    mode: int
    data: bytes = b""
    link: str = ""
    owner: int = 0
    implied: bool = False  # a parent directory no input named (see `inherit_directories`)


@dataclass
class Layer:
    entries: dict[str, Entry] = field(default_factory=dict)

    def add(self, entry: Entry) -> None:
        path = entry.path.strip("/")
        if not path or path == ".":
            return
        entry.path = path
        for parent in parents(path):
            self.entries.setdefault(parent, Entry(parent, tarfile.DIRTYPE, 0o755, implied=True))
        existing = self.entries.get(path)
        if existing is not None and existing.kind == tarfile.DIRTYPE == entry.kind:
            return  # a directory that several packages ship
        self.entries[path] = entry

    def tar(self, epoch: int) -> bytes:
        """The layer as an uncompressed tar, entries sorted by path, identical files linked."""
        first_with: dict[tuple[str, int, int], str] = {}
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
            for path in sorted(self.entries):
                entry = self.entries[path]
                info = tarfile.TarInfo(path)
                info.type = entry.kind
                info.mode = entry.mode
                info.mtime = epoch
                info.uid = info.gid = entry.owner
                info.uname = info.gname = ""
                if entry.kind == tarfile.SYMTYPE:
                    info.linkname = entry.link
                    archive.addfile(info)
                elif entry.kind == tarfile.REGTYPE and entry.data:
                    key = (hashlib.sha256(entry.data).hexdigest(), entry.mode, entry.owner)
                    if key in first_with:
                        info.type = tarfile.LNKTYPE
                        info.linkname = first_with[key]
                        archive.addfile(info)
                    else:
                        first_with[key] = path
                        info.size = len(entry.data)
                        archive.addfile(info, io.BytesIO(entry.data))
                else:
                    archive.addfile(info)
        return buffer.getvalue()


def inherit_directories(layer: Layer, below: Sequence[Layer]) -> None:
    """Gives each directory `layer` only implies the mode and owner the layers below give it.

    A directory in a layer replaces the one below with its own metadata: without this, the
    app's `/home/nonroot/notebooks` would hand `/home/nonroot` back to root.
    """
    for path, entry in layer.entries.items():
        if not entry.implied:
            continue
        for lower in reversed(below):
            found = lower.entries.get(path)
            if found is not None and found.kind == tarfile.DIRTYPE:
                entry.mode, entry.owner = found.mode, found.owner
                break


def parents(path: str) -> Iterator[str]:
    """Every directory above `path`, outermost first."""
    parts = path.split("/")[:-1]
    for index in range(1, len(parts) + 1):
        yield "/".join(parts[:index])


def walk(root: Path) -> Iterator[Path]:
    """`root` and everything under it, in sorted order; symlinks are not followed."""
    yield root
    if root.is_dir() and not root.is_symlink():
        for child in sorted(root.iterdir()):
            yield from walk(child)


def entry_of(item: Path, path: str) -> Entry:
    """The entry for the file, directory or symlink `item`, at `path` in the image."""
    if item.is_symlink():
        return Entry(path, tarfile.SYMTYPE, 0o777, link=os.readlink(item))
    if item.is_dir():
        return Entry(path, tarfile.DIRTYPE, 0o755)
    executable = os.access(item, os.X_OK)
    return Entry(path, tarfile.REGTYPE, 0o755 if executable else 0o644, item.read_bytes())
