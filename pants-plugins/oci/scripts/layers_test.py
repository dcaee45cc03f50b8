"""A layer's tar: sorted, dated, owned by number, and every byte string stored once."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from oci.scripts.layers import NONROOT, Entry, Layer, inherit_directories

EPOCH = 1_700_000_000


def test_identical_files_are_stored_once_as_hard_links_to_the_first(tmp_path: Path) -> None:
    layer = Layer()
    licence = b"Permission is hereby granted, free of charge..." * 20
    for path in ("b/LICENSE", "a/LICENSE", "c/LICENSE"):
        layer.add(Entry(path, tarfile.REGTYPE, 0o644, licence))
    layer.add(Entry("d/run", tarfile.REGTYPE, 0o755, licence))  # another mode: its own file
    layer.add(Entry("e/LICENSE", tarfile.REGTYPE, 0o644, licence, owner=NONROOT))
    layer.add(Entry("f/empty", tarfile.REGTYPE, 0o644))
    layer.add(Entry("g/empty", tarfile.REGTYPE, 0o644))

    data = layer.tar(EPOCH)
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        members = {member.name: member for member in archive.getmembers()}
        archive.extractall(tmp_path, filter="tar")

    assert members["a/LICENSE"].isreg()
    assert [members[p].linkname for p in ("b/LICENSE", "c/LICENSE")] == ["a/LICENSE"] * 2
    assert all(members[p].isreg() for p in ("d/run", "e/LICENSE", "f/empty", "g/empty"))
    assert len(data) < 2 * len(licence) + 20 * 1024, "the bytes are in the tar once per mode"
    # Extracted, every path has its bytes, and the linked ones share one inode.
    assert {(tmp_path / p).read_bytes() for p in ("a/LICENSE", "b/LICENSE", "c/LICENSE")} == {
        licence
    }
    assert (tmp_path / "a/LICENSE").stat().st_ino == (tmp_path / "c/LICENSE").stat().st_ino


def test_the_same_entries_give_the_same_bytes_in_any_order() -> None:
    forward, backward = Layer(), Layer()
    entries = [(f"dir/{n}", bytes([n % 3]) * 600) for n in range(12)]
    for path, content in entries:
        forward.add(Entry(path, tarfile.REGTYPE, 0o644, content))
    for path, content in reversed(entries):
        backward.add(Entry(path, tarfile.REGTYPE, 0o644, content))

    assert forward.tar(EPOCH) == backward.tar(EPOCH)


def test_a_directory_a_layer_only_implies_keeps_the_owner_the_layer_below_gives_it() -> None:
    system, app = Layer(), Layer()
    system.add(Entry("home/nonroot", tarfile.DIRTYPE, 0o750, owner=NONROOT))
    app.add(Entry("home/nonroot/notebooks", tarfile.DIRTYPE, 0o755, owner=NONROOT))
    app.add(Entry("srv/data/file", tarfile.REGTYPE, 0o644, b"x"))

    inherit_directories(app, [system])

    home = app.entries["home/nonroot"]
    assert (home.mode, home.owner) == (0o750, NONROOT)
    assert (app.entries["home"].mode, app.entries["home"].owner) == (0o755, 0)
    assert (app.entries["srv/data"].mode, app.entries["srv/data"].owner) == (0o755, 0)
