"""The image assembler: Debian packages unpacked as dpkg would, layers the same on every build."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import lzma
import tarfile
from pathlib import Path

import pytest
from oci.scripts import assemble_image as assembler
from oci.scripts.assemble_image import AssemblyError
from oci.scripts.layers import Entry, Layer

EPOCH = 1_700_000_000


def tar_of(members: list[tuple[str, bytes | str | None, int]]) -> bytes:
    """A data.tar: (path, content, mode); content None is a directory, str a symlink's target,
    and "=path" a hard link to path."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path, content, mode in members:
            info = tarfile.TarInfo(path)
            info.mode = mode
            if content is None:
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            elif isinstance(content, str) and content.startswith("="):
                info.type = tarfile.LNKTYPE
                info.linkname = content[1:]
                archive.addfile(info)
            elif isinstance(content, str):
                info.type = tarfile.SYMTYPE
                info.linkname = content
                archive.addfile(info)
            else:
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def deb_of(data_tar: bytes) -> bytes:
    """A .deb: an ar archive of debian-binary, control.tar.xz and data.tar.xz."""
    members = [
        ("debian-binary", b"2.0\n"),
        ("control.tar.xz", lzma.compress(tar_of([]))),
        ("data.tar.xz", lzma.compress(data_tar)),
    ]
    out = b"!<arch>\n"
    for name, body in members:
        header = f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(body):<10}`\n"
        out += header.encode() + body + (b"\n" if len(body) % 2 else b"")
    return out


@pytest.fixture
def debs(tmp_path: Path) -> Path:
    directory = tmp_path / "debs"
    directory.mkdir()
    (directory / "libexample.deb").write_bytes(
        deb_of(
            tar_of(
                [
                    ("./", None, 0o755),
                    ("./usr/", None, 0o755),
                    ("./usr/bin/", None, 0o755),
                    ("./usr/bin/example", b"#!/bin/sh\necho hi\n", 0o755),
                    ("./usr/bin/example-alias", "=./usr/bin/example", 0o755),
                    ("./usr/bin/ex", "example", 0o777),
                    ("./usr/share/doc/example/copyright", b"(c)", 0o644),
                    ("./usr/share/man/man1/example.1.gz", b"man", 0o644),
                ]
            )
        )
    )
    (directory / "ca-certificates.deb").write_bytes(
        deb_of(
            tar_of(
                [
                    ("./usr/share/ca-certificates/mozilla/B.crt", b"-----B-----\n", 0o644),
                    ("./usr/share/ca-certificates/mozilla/A.crt", b"-----A-----\n", 0o644),
                ]
            )
        )
    )
    return directory


def entries_of(layer_tar: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(layer_tar)) as archive:
        return {member.name: member for member in archive.getmembers()}


def test_a_package_is_unpacked_without_its_documentation(debs: Path) -> None:
    layer = assembler.system_layer(debs.glob("*.deb"))
    members = entries_of(layer.tar(EPOCH))

    assert members["usr/bin/example"].isreg() and members["usr/bin/example"].mode == 0o755
    assert members["usr/bin/ex"].issym() and members["usr/bin/ex"].linkname == "example"
    # A package's hard link is unpacked as a file (layers order entries by path, not as dpkg
    # wrote them), and written as a link to the first file with the same bytes.
    assert layer.entries["usr/bin/example-alias"].data == layer.entries["usr/bin/example"].data
    assert members["usr/bin/example-alias"].islnk()
    assert members["usr/bin/example-alias"].linkname == "usr/bin/example"
    assert not any(name.startswith(("usr/share/doc", "usr/share/man")) for name in members)


def test_users_the_ca_bundle_and_writable_places_are_added(debs: Path) -> None:
    layer = assembler.system_layer(debs.glob("*.deb"))
    members = entries_of(layer.tar(EPOCH))

    assert (
        layer.entries["etc/passwd"]
        .data.decode()
        .splitlines()[1]
        .startswith("nonroot:x:65532:65532:")
    )
    assert layer.entries["etc/group"].data == b"root:x:0:\nnonroot:x:65532:\n"
    assert layer.entries["etc/ssl/certs/ca-certificates.crt"].data == (
        b"-----A-----\n-----B-----\n"
    )
    assert members["tmp"].mode == 0o1777
    assert (members["home/nonroot"].uid, members["home/nonroot"].gid) == (65532, 65532)


def test_every_entry_is_sorted_dated_and_owned_by_number_only(debs: Path) -> None:
    data = assembler.system_layer(debs.glob("*.deb")).tar(EPOCH)
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        members = archive.getmembers()
    names = [member.name for member in members]
    assert names == sorted(names)
    assert {member.mtime for member in members} == {EPOCH}
    assert {(member.uname, member.gname) for member in members} == {("", "")}
    assert {member.uid for member in members} <= {0, 65532}
    assert all(not member.pax_headers or set(member.pax_headers) <= {"path"} for member in members)


def test_the_same_packages_give_the_same_layer_bytes(debs: Path, tmp_path: Path) -> None:
    first = assembler.system_layer(debs.glob("*.deb")).tar(EPOCH)
    copy = tmp_path / "copy"
    copy.mkdir()
    for deb in reversed(sorted(debs.iterdir())):  # another order on disk
        (copy / deb.name).write_bytes(deb.read_bytes())
    assert assembler.system_layer(copy.glob("*.deb")).tar(EPOCH) == first


def test_a_file_that_is_not_a_debian_package_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bad.deb").write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(AssemblyError, match="bad.deb is not a Debian package"):
        assembler.system_layer(tmp_path.glob("*.deb"))


def test_npm_dependencies_resolve_as_node_resolves_them() -> None:
    lock = {
        "packages": {
            "": {},
            "node_modules/app": {"dependencies": {"left": "1", "right": "1"}},
            "node_modules/left": {"dependencies": {"shared": "2"}},
            "node_modules/left/node_modules/shared": {},
            "node_modules/right": {"dependencies": {"shared": "1"}},
            "node_modules/shared": {},
            "node_modules/unused": {},
            "node_modules/optional-user": {"optionalDependencies": {"absent": "1"}},
        }
    }
    assert assembler.npm_closure(lock, ["app"]) == [
        "node_modules/app",
        "node_modules/left",
        "node_modules/left/node_modules/shared",
        "node_modules/right",
        "node_modules/shared",
    ]
    assert assembler.npm_closure(lock, ["optional-user"]) == ["node_modules/optional-user"]
    with pytest.raises(AssemblyError, match="node_modules/missing is not in the npm lockfile"):
        assembler.npm_closure(lock, ["missing"])


def test_the_archive_names_the_same_blobs_for_docker_and_for_oci(tmp_path: Path) -> None:
    layer = Layer()
    layer.add(Entry("app/hello.txt", tarfile.REGTYPE, 0o644, b"hello"))
    settings = {
        "repository": "hydrogen/test",
        "tag": "1.0",
        "entrypoint": ["/app/run"],
        "cmd": [],
        "env": {"B": "2", "A": "1"},
        "user": "65532:65532",
        "workdir": "/app",
        "ports": ["8545/tcp"],
        "healthcheck": ["/app/check"],
        "labels": {"x": "y"},
        "layer_names": ["the app"],
    }
    data, manifest_digest, config_digest = assembler.archive(settings, [layer.tar(EPOCH)], EPOCH)
    with tarfile.open(fileobj=io.BytesIO(data)) as outer:
        files = {m.name: outer.extractfile(m).read() for m in outer.getmembers() if m.isreg()}

    (docker,) = json.loads(files["manifest.json"])
    assert docker["RepoTags"] == ["hydrogen/test:1.0"]
    assert docker["Config"] == f"blobs/sha256/{config_digest}"
    config = json.loads(files[docker["Config"]])
    assert hashlib.sha256(files[docker["Config"]]).hexdigest() == config_digest
    assert config["created"] == "2023-11-14T22:13:20Z"
    assert config["config"]["Env"] == ["A=1", "B=2"]
    assert config["config"]["User"] == "65532:65532"
    assert config["config"]["Healthcheck"]["Test"] == ["CMD", "/app/check"]
    (layer_path,) = docker["Layers"]
    compressed = files[layer_path]
    assert compressed[4:8] == b"\0\0\0\0", "gzip header mtime is zero"
    assert config["rootfs"]["diff_ids"] == [
        "sha256:" + hashlib.sha256(gzip.decompress(compressed)).hexdigest()
    ]
    index = json.loads(files["index.json"])
    assert index["manifests"][0]["digest"] == f"sha256:{manifest_digest}"
    manifest = json.loads(files[f"blobs/sha256/{manifest_digest}"])
    assert manifest["layers"][0]["digest"] == "sha256:" + layer_path.rsplit("/", 1)[1]
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    again, _, _ = assembler.archive(settings, [layer.tar(EPOCH)], EPOCH)
    assert again == data
