"""The app layer: files at the working directory, wheels' data where Python looks for it,
nothing only a build or a test run reads, and binaries stripped but still loadable."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from oci.scripts.app_files import (
    AppFilesError,
    app_layer,
    excluded,
    segments_aligned,
    strip_binaries,
)
from oci.scripts.layers import Entry, Layer

WHEEL = "images/pysonar/lab/.deps/notebook-7.0-py3-none-any.whl"


def write(root: Path, path: str, content: bytes | str = b"x") -> None:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content.encode() if isinstance(content, str) else content)


def test_app_files_under_the_images_directory_land_at_the_working_directory(
    tmp_path: Path,
) -> None:
    app = tmp_path / "app"
    write(app, "images/sonar/genesis.json", "{}")
    write(app, "pysonar/ipfs/host.mjs", "//")
    write(app, "pysonar/ipfs/__pycache__/x.pyc", b"\0")

    layer = app_layer(app, app_root="app", strip_prefix="images/sonar", writable=["var/lib/mine"])

    assert "app/genesis.json" in layer.entries
    assert "app/pysonar/ipfs/host.mjs" in layer.entries
    assert not any("__pycache__" in path for path in layer.entries)
    assert layer.entries["var/lib/mine"].owner == 65532


def test_what_only_a_build_or_a_test_run_reads_is_left_out(tmp_path: Path) -> None:
    app = tmp_path / "app"
    numpy = "lab/.deps/numpy-2.4-cp311.whl/numpy"
    for path in (
        f"{numpy}/__init__.py",
        f"{numpy}/_core/include/numpy/ndarrayobject.h",
        f"{numpy}/random/_bounded_integers.pxd",
        f"{numpy}/_core/src/umath.c",
        f"{numpy}/_core/tests/test_umath.py",
        f"{numpy}/tests/data/table.csv",
        f"{numpy}/testing/__init__.py",  # numpy.testing is an API, not a test suite
        "lab/pysonar/tests_support.py",  # the app's own files are all kept
        "lab/pysonar/c/header.h",
    ):
        write(app, path)

    kept = set(app_layer(app, app_root="app", strip_prefix="", writable=[]).entries)

    assert f"app/{numpy}/__init__.py" in kept
    assert f"app/{numpy}/testing/__init__.py" in kept
    assert {"app/lab/pysonar/tests_support.py", "app/lab/pysonar/c/header.h"} <= kept
    assert not any(path.endswith((".h", ".c", ".pxd")) for path in kept if ".deps" in path)
    assert not [path for path in kept if "/tests/" in path or path.endswith("/tests")]


def test_wheel_data_files_go_under_the_prefix_and_the_rest_of_it_stays_out(
    tmp_path: Path,
) -> None:
    app = tmp_path / "app"
    schema = "share/jupyter/lab/schemas/@jupyter-notebook/tree-extension/widget.json"
    write(app, f"{WHEEL}/notebook/app.py")
    write(app, f"{WHEEL}/.prefix/{schema}", "{}")
    write(app, f"{WHEEL}/.prefix/etc/jupyter/jupyter_server_config.d/notebook.json", "{}")
    write(app, f"{WHEEL}/.prefix/bin/jupyter-notebook", "#!/build/host/python")
    write(app, f"{WHEEL}/.prefix/share/man/man1/notebook.1", ".TH")
    (app / WHEEL / ".prefix/lib/pythonX.Y").mkdir(parents=True)

    placed = app_layer(
        app,
        app_root="app",
        strip_prefix="images/pysonar",
        writable=[],
        wheel_data_prefix="/usr/local",
    ).entries

    assert f"usr/local/{schema}" in placed
    assert "usr/local/etc/jupyter/jupyter_server_config.d/notebook.json" in placed
    assert "app/lab/.deps/notebook-7.0-py3-none-any.whl/notebook/app.py" in placed
    assert not [path for path in placed if ".prefix" in path or "/man" in path]
    assert not [path for path in placed if path.startswith("usr/local/bin")]

    unplaced = app_layer(app, app_root="app", strip_prefix="images/pysonar", writable=[])
    assert f"app/lab/.deps/notebook-7.0-py3-none-any.whl/.prefix/{schema}" in unplaced.entries


def test_two_wheels_may_share_a_data_file_only_with_the_same_bytes(tmp_path: Path) -> None:
    app = tmp_path / "app"
    config = ".prefix/etc/jupyter/jupyter_server_config.d/shared.json"
    write(app, f"lab/.deps/a-1.whl/{config}", '{"same": true}')
    write(app, f"lab/.deps/b-1.whl/{config}", '{"same": true}')
    layer = app_layer(app, app_root="app", strip_prefix="", writable=[], wheel_data_prefix="/usr")
    assert layer.entries["usr/etc/jupyter/jupyter_server_config.d/shared.json"].data

    write(app, f"lab/.deps/b-1.whl/{config}", '{"same": false}')
    with pytest.raises(AppFilesError, match="carried by two wheels with different contents"):
        app_layer(app, app_root="app", strip_prefix="", writable=[], wheel_data_prefix="/usr")


def test_excludes_read_like_gitignore_the_last_match_deciding() -> None:
    patterns = [
        "/app/lab/.deps/babel-*/babel/locale-data/*",
        "!/app/lab/.deps/babel-*/babel/locale-data/en*",
        "!/app/lab/.deps/babel-*/babel/locale-data/root.dat",
    ]
    data = "app/lab/.deps/babel-2.19.0-py3-none-any.whl/babel/locale-data"

    assert excluded(f"{data}/fr.dat", patterns)
    assert not excluded(f"{data}/en_GB.dat", patterns)
    assert not excluded(f"{data}/root.dat", patterns)
    assert not excluded("app/lab/.deps/babel-2.19.0-py3-none-any.whl/babel/core.py", patterns)


def test_excluded_files_are_not_in_the_layer(tmp_path: Path) -> None:
    app = tmp_path / "app"
    write(app, "lab/.deps/j-4.whl/jupyterlab/galata/index.js")
    write(app, "lab/.deps/j-4.whl/jupyterlab/labapp.py")

    kept = app_layer(
        app,
        app_root="app",
        strip_prefix="",
        writable=[],
        excludes=["/app/lab/.deps/j-*/jupyterlab/galata/*"],
    ).entries

    assert "app/lab/.deps/j-4.whl/jupyterlab/labapp.py" in kept
    assert "app/lab/.deps/j-4.whl/jupyterlab/galata/index.js" not in kept


@pytest.fixture(scope="module")
def shared_object(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real shared object built with debug information, as many wheels ship theirs."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    assert compiler, "a C compiler (Debian: gcc) builds the test's shared object"
    root = tmp_path_factory.mktemp("elf")
    (root / "answer.c").write_text("int answer(void) { return 42; }\n")
    subprocess.run(
        [compiler, "-g", "-O1", "-shared", "-fPIC", "-o", str(root / "answer.so"),
         str(root / "answer.c")],
        check=True,
    )  # fmt: skip
    return (root / "answer.so").read_bytes()


def test_binaries_are_stripped_and_still_load(shared_object: bytes, tmp_path: Path) -> None:
    strip = shutil.which("strip")
    assert strip, "GNU strip (Debian: binutils) is needed to build images"
    layer = Layer()
    layer.add(Entry("app/lib/answer.so", tarfile.REGTYPE, 0o755, shared_object))
    layer.add(Entry("app/lib/notes.txt", tarfile.REGTYPE, 0o644, b".debug_info stays in text"))

    strip_binaries(layer, strip)

    stripped = layer.entries["app/lib/answer.so"].data
    assert b".debug_info" in shared_object and b".debug_info" not in stripped
    assert len(stripped) < len(shared_object)
    assert layer.entries["app/lib/notes.txt"].data == b".debug_info stays in text"
    (tmp_path / "answer.so").write_bytes(stripped)
    assert ctypes.CDLL(str(tmp_path / "answer.so")).answer() == 42
    again = Layer()
    again.add(Entry("app/lib/answer.so", tarfile.REGTYPE, 0o755, shared_object))
    strip_binaries(again, strip)
    assert again.entries["app/lib/answer.so"].data == stripped, "the same bytes every time"


def test_a_file_strip_cannot_read_fails_the_build_by_its_image_path() -> None:
    strip = shutil.which("strip")
    assert strip
    layer = Layer()
    layer.add(Entry("app/lib/broken.so", tarfile.REGTYPE, 0o755, b"\x7fELF but truncated"))

    with pytest.raises(AppFilesError, match="/app/lib/broken.so"):
        strip_binaries(layer, strip)


def test_a_segment_whose_offset_and_address_disagree_is_not_loadable(
    shared_object: bytes,
) -> None:
    """What strip did to auditwheel's OpenBLAS: glibc refuses such a library."""
    assert segments_aligned(shared_object)
    table = int.from_bytes(shared_object[0x20:0x28], "little")
    size = int.from_bytes(shared_object[0x36:0x38], "little")
    count = int.from_bytes(shared_object[0x38:0x3A], "little")
    broken = bytearray(shared_object)
    for index in range(count):
        header = table + index * size
        if int.from_bytes(broken[header : header + 4], "little") == 1:  # PT_LOAD
            offset = int.from_bytes(broken[header + 8 : header + 16], "little")
            broken[header + 8 : header + 16] = (offset + 8).to_bytes(8, "little")
            break

    assert not segments_aligned(bytes(broken))
