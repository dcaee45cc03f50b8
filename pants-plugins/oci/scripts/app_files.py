"""The app layer: the build's outputs under the working directory, ready to run and no more.

The app is whatever the image depends on: files, and packages such as a loose PEX, whose
`.deps/<wheel>/` directories hold each wheel installed. What a wheel carries beyond its
importable code is handled here, as `pip install` and a distribution's packaging would:

- its data files (`.deps/<wheel>/.prefix/share/...` and `.../etc/...`: Jupyter's front end,
  settings schemas and server-extension configs, for instance) go where the image's Python
  looks for them, under `wheel_data_prefix` (`/usr/local` for Debian's Python), when the
  image sets one; nothing looks for them inside the PEX;
- what only a build or a test run reads is left out: C and Cython sources and headers, and
  the packages' own test suites (`tests/` and `test/` directories);
- shared objects and executables are stripped of their symbol tables and debug sections
  (`strip --strip-unneeded`, as Debian strips its packages): the dynamic symbols stay. A
  file whose stripped copy the dynamic loader would refuse keeps its bytes: binutils'
  strip breaks the segment alignment of libraries that patchelf rewrote (auditwheel's
  vendored OpenBLAS, for one: "ELF load command address/offset not page-aligned").

The image may leave out more with `excludes`, patterns of image paths where `*` also
matches `/`, the last matching pattern deciding and `!` taking a path back.
"""

from __future__ import annotations

import fnmatch
import posixpath
import struct
import subprocess
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path

from oci.scripts.layers import NONROOT, Entry, Layer, entry_of, walk

# Sources and headers wheels ship for building against them or for reading.
BUILD_ONLY_SUFFIXES = (".h", ".hpp", ".c", ".cc", ".cpp", ".pyx", ".pxd", ".pxi")
TEST_DIRECTORIES = frozenset({"tests", "test"})
# Of a wheel's data, only what programs read: `share/man` and friends stay out.
DATA_ROOTS = ("share/", "etc/")
DATA_LEFT_OUT = ("share/man/", "share/doc/", "share/info/", "share/applications/", "share/icons/")
ELF_MAGIC = b"\x7fELF"
STRIP_BATCH = 200


class AppFilesError(Exception):
    """The app's files cannot be laid out as asked (two wheels claim one data file...)."""


def app_layer(
    app: Path,
    *,
    app_root: str,
    strip_prefix: str,
    writable: Sequence[str],
    wheel_data_prefix: str = "",
    excludes: Sequence[str] = (),
) -> Layer:
    """The app's files under `app_root` (those under `strip_prefix` relative to it), wheels'
    data files under `wheel_data_prefix`, and the directories the app writes to, owned by
    nonroot.

    Raises:
        AppFilesError: two wheels carry different files for one data path.
    """
    layer = Layer()
    prefix = strip_prefix.strip("/") + "/" if strip_prefix.strip("/") else ""
    data_owner: dict[str, str] = {}
    if app.is_dir():
        for item in walk(app):
            if item == app or "__pycache__" in item.parts:
                continue
            relative = item.relative_to(app).as_posix()
            if prefix and (relative + "/").startswith(prefix):
                relative = relative[len(prefix) :]
            if not relative:
                continue
            target = image_path(relative, app_root=app_root, wheel_data_prefix=wheel_data_prefix)
            if target is None or excluded(target, excludes):
                continue
            entry = entry_of(item, target)
            if target in data_owner and entry.kind == tarfile.REGTYPE:
                if layer.entries[target].data != entry.data:
                    raise AppFilesError(
                        f"/{target} is carried by two wheels with different contents: "
                        f"{data_owner[target]} and {relative}"
                    )
                continue
            if target != f"{app_root}/{relative}":
                data_owner[target] = relative
            layer.add(entry)
    for directory in writable:
        layer.add(Entry(directory, tarfile.DIRTYPE, 0o755, owner=NONROOT))
    return layer


def image_path(relative: str, *, app_root: str, wheel_data_prefix: str) -> str | None:
    """Where the app's file `relative` goes in the image (no leading slash), or None if the
    image leaves it out."""
    parts = relative.split("/")
    if ".deps" not in parts[:-1]:
        return f"{app_root}/{relative}"
    inside = parts[parts.index(".deps") + 2 :]  # the path inside the installed wheel
    if not inside:
        return f"{app_root}/{relative}"  # the wheel's directory itself
    if inside[0] == ".prefix":
        if not wheel_data_prefix:
            return f"{app_root}/{relative}"
        data = "/".join(inside[1:])
        if not (data + "/").startswith(DATA_ROOTS) or (data + "/").startswith(DATA_LEFT_OUT):
            return None
        return f"{wheel_data_prefix.strip('/')}/{data}"
    if relative.endswith(BUILD_ONLY_SUFFIXES) or TEST_DIRECTORIES.intersection(inside):
        return None
    return f"{app_root}/{relative}"


def excluded(path: str, patterns: Sequence[str]) -> bool:
    """Whether the image path `path` is left out by `patterns` (last match decides)."""
    absolute = "/" + path
    verdict = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if fnmatch.fnmatchcase(absolute, pattern[1:] if negated else pattern):
            verdict = not negated
    return verdict


def strip_binaries(layer: Layer, strip: str) -> None:
    """Strips every ELF file of `layer` in place with `strip --strip-unneeded`, but those
    whose stripped copy would not load (`segments_aligned`).

    Raises:
        AppFilesError: strip failed (its message says on which file).
    """
    binaries = sorted(
        path
        for path, entry in layer.entries.items()
        if entry.kind == tarfile.REGTYPE and entry.data.startswith(ELF_MAGIC)
    )
    with tempfile.TemporaryDirectory() as scratch:
        for start in range(0, len(binaries), STRIP_BATCH):
            batch = binaries[start : start + STRIP_BATCH]
            copies = [posixpath.join(scratch, str(start + index)) for index in range(len(batch))]
            for path, copy in zip(batch, copies):
                Path(copy).write_bytes(layer.entries[path].data)
            result = subprocess.run(
                [strip, "--strip-unneeded", "--", *copies], capture_output=True, text=True
            )
            if result.returncode != 0:
                names = dict(zip(copies, batch))
                message = result.stderr
                for copy, path in names.items():
                    message = message.replace(copy, "/" + path)
                raise AppFilesError(f"strip failed: {message.strip()}")
            for path, copy in zip(batch, copies):
                stripped = Path(copy).read_bytes()
                if segments_aligned(stripped):
                    layer.entries[path].data = stripped


def segments_aligned(elf: bytes) -> bool:
    """Whether every loadable segment of `elf` starts at an offset congruent to its address
    modulo its alignment: what the ELF specification requires and glibc's loader checks."""
    word = {1: "I", 2: "Q"}.get(elf[4])  # EI_CLASS: 32 or 64 bits
    order = {1: "<", 2: ">"}.get(elf[5])  # EI_DATA: byte order
    if word is None or order is None:
        return False
    if word == "Q":
        (table,) = struct.unpack_from(order + "Q", elf, 0x20)
        size, count = struct.unpack_from(order + "HH", elf, 0x36)
        header = order + "IIQQQQQQ"  # type, flags, offset, vaddr, paddr, filesz, memsz, align
        fields = (0, 2, 3, 7)
    else:
        (table,) = struct.unpack_from(order + "I", elf, 0x1C)
        size, count = struct.unpack_from(order + "HH", elf, 0x2A)
        header = order + "IIIIIIII"  # type, offset, vaddr, paddr, filesz, memsz, flags, align
        fields = (0, 1, 2, 7)
    for index in range(count):
        values = struct.unpack_from(header, elf, table + index * size)
        kind, offset, address, alignment = (values[i] for i in fields)
        if kind == 1 and alignment > 1 and (address - offset) % alignment:  # PT_LOAD
            return False
    return True
