"""Assembles a container image archive from Debian packages and files, byte for byte the same.

Run by the `oci_image` rules in a sandbox that holds `image.json` (the image's settings),
`debs/*.deb` (the locked Debian packages, already checked against their sha256), `app/`
(the image's own files) and, when node files are used, the npm lockfile. Standard library
only. It writes one tar that both `docker load` and `podman load` read: the OCI image
layout (`oci-layout`, `index.json`, `blobs/sha256/...`) and Docker's `manifest.json` beside
it, naming the same blobs.

Layers, in order, so that a change to the app rebuilds only the last one:

1. the system: every package's data (documentation, manuals, locales and lintian overrides
   left out; maintainer scripts never run), `/etc/passwd` and `/etc/group` with `root` and a
   `nonroot` user (65532), the CA bundle built from the ca-certificates package, `/tmp`;
2. node files copied from the bootstrapped node_modules (a whole package with what it needs
   per the npm lockfile, or single files at paths of the image's choosing), if any;
3. the app's files under the working directory, and the directories the app writes to.

Every entry: sorted by path, mtime SOURCE_DATE_EPOCH, owner 0:0 (or the user, for the
app's writable directories) by number only, no extended attributes; hard links become
copies. Layers are gzip-compressed with a zero mtime and no file name in the header.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import lzma
import os
import posixpath
import stat
import sys
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

# Left out of the system layer: nothing in a container reads them.
EXCLUDED_PREFIXES = (
    "usr/share/doc/",
    "usr/share/man/",
    "usr/share/info/",
    "usr/share/locale/",
    "usr/share/lintian/",
    "usr/share/bug/",
    "usr/share/doc-base/",
    "usr/share/gdb/",
    "usr/share/bash-completion/",
)
CA_DIRECTORY = "usr/share/ca-certificates/"
CA_BUNDLE = "etc/ssl/certs/ca-certificates.crt"
NONROOT = 65532


class AssemblyError(Exception):
    """An input is not what the image build expects (a broken package, a missing file)."""


@dataclass
class Entry:
    """One file, directory or symlink of a layer."""

    path: str  # relative, no leading slash
    kind: bytes  # tarfile.REGTYPE, DIRTYPE or SYMTYPE
    mode: int
    data: bytes = b""
    link: str = ""
    owner: int = 0


@dataclass
class Layer:
    entries: dict[str, Entry] = field(default_factory=dict)

    def add(self, entry: Entry) -> None:
        path = entry.path.strip("/")
        if not path or path == ".":
            return
        entry.path = path
        for parent in _parents(path):
            self.entries.setdefault(parent, Entry(parent, tarfile.DIRTYPE, 0o755))
        existing = self.entries.get(path)
        if existing is not None and existing.kind == tarfile.DIRTYPE == entry.kind:
            return  # a directory that several packages ship
        self.entries[path] = entry

    def tar(self, epoch: int) -> bytes:
        """The layer as an uncompressed tar, entries sorted by path."""
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
                elif entry.kind == tarfile.REGTYPE:
                    info.size = len(entry.data)
                    archive.addfile(info, io.BytesIO(entry.data))
                else:
                    archive.addfile(info)
        return buffer.getvalue()


def _parents(path: str) -> Iterator[str]:
    parts = path.split("/")[:-1]
    for index in range(1, len(parts) + 1):
        yield "/".join(parts[:index])


# --- Debian packages -----------------------------------------------------------------------


def deb_data(deb: bytes, name: str) -> tarfile.TarFile:
    """The data archive of a .deb (an `ar` archive: debian-binary, control, data)."""
    if not deb.startswith(b"!<arch>\n"):
        raise AssemblyError(f"{name} is not a Debian package (no ar header)")
    offset = 8
    while offset + 60 <= len(deb):
        header = deb[offset : offset + 60]
        member = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        body = deb[offset + 60 : offset + 60 + size]
        offset += 60 + size + (size % 2)
        if member.startswith("data.tar"):
            if member == "data.tar.xz":
                body = lzma.decompress(body)
            elif member == "data.tar.gz":
                body = gzip.decompress(body)
            elif member != "data.tar":
                raise AssemblyError(f"{name}: {member} is a compression this build cannot read")
            return tarfile.open(fileobj=io.BytesIO(body), mode="r:")
    raise AssemblyError(f"{name} has no data.tar member")


def system_layer(debs: Iterable[Path]) -> Layer:
    """Every package's files, the users, the CA bundle and /tmp."""
    layer = Layer()
    certificates: dict[str, bytes] = {}
    for deb in sorted(debs):
        with deb_data(deb.read_bytes(), deb.name) as data:
            links: dict[str, str] = {}
            members = data.getmembers()
            regular = {m.name: m for m in members if m.isreg()}
            for member in members:
                path = posixpath.normpath(member.name).lstrip("./")
                if not path or path.startswith(EXCLUDED_PREFIXES):
                    continue
                mode = stat.S_IMODE(member.mode)
                if member.isdir():
                    layer.add(Entry(path, tarfile.DIRTYPE, mode))
                elif member.issym():
                    layer.add(Entry(path, tarfile.SYMTYPE, 0o777, link=member.linkname))
                elif member.islnk():
                    links[path] = member.linkname
                elif member.isreg():
                    content = data.extractfile(member).read()  # type: ignore[union-attr]
                    layer.add(Entry(path, tarfile.REGTYPE, mode, content))
                    if path.startswith(CA_DIRECTORY) and path.endswith(".crt"):
                        certificates[path] = content
            for path, target in links.items():  # hard links become copies
                source = regular.get(target) or regular.get("./" + target.lstrip("./"))
                if source is None:
                    raise AssemblyError(f"{deb.name}: hard link {path} to a missing {target}")
                content = data.extractfile(source).read()  # type: ignore[union-attr]
                layer.add(Entry(path, tarfile.REGTYPE, stat.S_IMODE(source.mode), content))
    layer.add(Entry("etc/passwd", tarfile.REGTYPE, 0o644, _passwd()))
    layer.add(Entry("etc/group", tarfile.REGTYPE, 0o644, _group()))
    if certificates:
        bundle = b"".join(certificates[path] for path in sorted(certificates))
        layer.add(Entry(CA_BUNDLE, tarfile.REGTYPE, 0o644, bundle))
    layer.add(Entry("tmp", tarfile.DIRTYPE, 0o1777))
    layer.add(Entry("root", tarfile.DIRTYPE, 0o700))
    layer.add(Entry("home/nonroot", tarfile.DIRTYPE, 0o750, owner=NONROOT))
    return layer


def _passwd() -> bytes:
    return (
        "root:x:0:0:root:/root:/sbin/nologin\n"
        f"nonroot:x:{NONROOT}:{NONROOT}:nonroot:/home/nonroot:/sbin/nologin\n"
    ).encode()


def _group() -> bytes:
    return f"root:x:0:\nnonroot:x:{NONROOT}:\n".encode()


# --- node_modules --------------------------------------------------------------------------


def npm_closure(lock: dict, packages: Iterable[str]) -> list[str]:
    """The node_modules paths (as in the npm lockfile) of `packages` and all they need.

    Resolution follows Node's: a dependency of `node_modules/a` is looked for in
    `node_modules/a/node_modules/<dep>`, then in each enclosing node_modules.
    """
    entries = lock["packages"]
    wanted = [f"node_modules/{name}" for name in packages]
    seen: set[str] = set()
    while wanted:
        path = wanted.pop()
        if path in seen:
            continue
        if path not in entries:
            raise AssemblyError(f"{path} is not in the npm lockfile")
        seen.add(path)
        entry = entries[path]
        for dependency in {
            **entry.get("dependencies", {}),
            **entry.get("optionalDependencies", {}),
        }:
            resolved = _resolve(entries, path, dependency)
            if resolved is None:
                if dependency in entry.get("optionalDependencies", {}):
                    continue
                raise AssemblyError(f"{path} needs {dependency}, which the lockfile lacks")
            wanted.append(resolved)
    return sorted(seen)


def _resolve(entries: dict, parent: str, dependency: str) -> str | None:
    base = parent
    while True:
        candidate = f"{base}/node_modules/{dependency}"
        if candidate in entries:
            return candidate
        if "/node_modules/" not in base:
            top = f"node_modules/{dependency}"
            return top if top in entries else None
        base = base.rsplit("/node_modules/", 1)[0]


def node_layer(node_modules: Path, lock: dict, packages: list[str], files: dict[str, str], *,
               app_root: str) -> Layer:  # fmt: skip
    """The node packages (under <app_root>/node_modules) and single files the image asks for."""
    layer = Layer()
    for path in npm_closure(lock, packages):
        source = node_modules.parent / path
        for item in _walk(source):
            relative = item.relative_to(node_modules.parent).as_posix()
            layer.add(_entry_of(item, f"{app_root}/{relative}"))
    for source, target in sorted(files.items()):
        item = node_modules / source
        if not item.is_file():
            raise AssemblyError(f"node_modules/{source} does not exist; is ./pants bootstrapped?")
        layer.add(_entry_of(item, target))
    return layer


def _walk(root: Path) -> Iterator[Path]:
    yield root
    if root.is_dir() and not root.is_symlink():
        for child in sorted(root.iterdir()):
            yield from _walk(child)


def _entry_of(item: Path, path: str) -> Entry:
    if item.is_symlink():
        return Entry(path, tarfile.SYMTYPE, 0o777, link=os.readlink(item))
    if item.is_dir():
        return Entry(path, tarfile.DIRTYPE, 0o755)
    executable = os.access(item, os.X_OK)
    return Entry(path, tarfile.REGTYPE, 0o755 if executable else 0o644, item.read_bytes())


# --- the app -------------------------------------------------------------------------------


def _build_only(item: Path) -> bool:
    """C headers that wheels ship for building against them: nothing at run time reads them."""
    return item.suffix in (".h", ".hpp") and ".deps" in item.parts


def app_layer(app: Path, *, app_root: str, strip_prefix: str, writable: list[str]) -> Layer:
    """The app's files under `app_root` (those under `strip_prefix` relative to it), and the
    directories it writes to, owned by nonroot."""
    layer = Layer()
    prefix = strip_prefix.strip("/") + "/" if strip_prefix.strip("/") else ""
    if app.is_dir():
        for item in _walk(app):
            if item == app or "__pycache__" in item.parts or _build_only(item):
                continue
            relative = item.relative_to(app).as_posix()
            if prefix and (relative + "/").startswith(prefix):
                relative = relative[len(prefix) :]
            if relative:
                layer.add(_entry_of(item, f"{app_root}/{relative}"))
    for directory in writable:
        layer.add(Entry(directory, tarfile.DIRTYPE, 0o755, owner=NONROOT))
    return layer


# --- the archive ---------------------------------------------------------------------------


def compress(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=6) as out:
        out.write(data)
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def image_config(settings: dict, diff_ids: list[str], epoch: int) -> dict:
    created = _timestamp(epoch)
    config: dict = {
        "User": settings["user"],
        "Env": [f"{key}={value}" for key, value in sorted(settings["env"].items())],
        "Entrypoint": settings["entrypoint"],
        "Cmd": settings["cmd"],
        "WorkingDir": settings["workdir"],
        "ExposedPorts": {port: {} for port in sorted(settings["ports"])},
        "Labels": dict(sorted(settings["labels"].items())),
    }
    if settings["healthcheck"]:
        config["Healthcheck"] = {
            "Test": ["CMD", *settings["healthcheck"]],
            "Interval": 5_000_000_000,
            "Timeout": 5_000_000_000,
            "StartPeriod": 30_000_000_000,
            "Retries": 5,
        }
    return {
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{d}" for d in diff_ids]},
        "history": [{"created": created, "created_by": f"hydrogen oci_image: {name}"}
                    for name in settings["layer_names"]],  # fmt: skip
    }


def _timestamp(epoch: int) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def archive(settings: dict, layers: list[bytes], epoch: int) -> tuple[bytes, str, str]:
    """The image archive, its manifest digest and its config digest (the image ID)."""
    blobs: dict[str, bytes] = {}
    descriptors = []
    for layer in layers:
        compressed = compress(layer)
        digest = sha256(compressed)
        blobs[digest] = compressed
        descriptors.append(
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": f"sha256:{digest}",
                "size": len(compressed),
            }
        )
    config = canonical(image_config(settings, [sha256(layer) for layer in layers], epoch))
    config_digest = sha256(config)
    blobs[config_digest] = config
    manifest = canonical(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": f"sha256:{config_digest}",
                "size": len(config),
            },
            "layers": descriptors,
            "annotations": {"org.opencontainers.image.ref.name": settings["tag"]},
        }
    )
    manifest_digest = sha256(manifest)
    blobs[manifest_digest] = manifest
    reference = f"{settings['repository']}:{settings['tag']}"
    index = canonical(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": f"sha256:{manifest_digest}",
                    "size": len(manifest),
                    "annotations": {
                        "io.containerd.image.name": reference,
                        "org.opencontainers.image.ref.name": settings["tag"],
                    },
                }
            ],
        }
    )
    docker_manifest = canonical(
        [
            {
                "Config": f"blobs/sha256/{config_digest}",
                "RepoTags": [reference],
                "Layers": [f"blobs/sha256/{d['digest'][7:]}" for d in descriptors],
            }
        ]
    )
    files = {f"blobs/sha256/{digest}": data for digest, data in blobs.items()}
    files.update(
        {
            "oci-layout": canonical({"imageLayoutVersion": "1.0.0"}),
            "index.json": index,
            "manifest.json": docker_manifest,
        }
    )
    outer = Layer()
    for path, data in files.items():
        outer.add(Entry(path, tarfile.REGTYPE, 0o644, data))
    return outer.tar(epoch), manifest_digest, config_digest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Assemble a container image archive.")
    parser.add_argument("--settings", type=Path, default=Path("image.json"))
    parser.add_argument("--debs", type=Path, default=Path("debs"))
    parser.add_argument("--app", type=Path, default=Path("app"))
    parser.add_argument("--node-lockfile", type=Path, default=None)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(argv)
    settings = json.loads(args.settings.read_text())
    epoch = int(settings["source_date_epoch"])
    try:
        layers = [system_layer(args.debs.glob("*.deb"))]
        names = ["Debian packages, users, CA certificates"]
        if settings["node_packages"] or settings["node_files"]:
            assert args.node_lockfile is not None, "node files need --node-lockfile"
            lock = json.loads(args.node_lockfile.read_text())
            layers.append(
                node_layer(
                    Path(settings["node_modules"]),
                    lock,
                    settings["node_packages"],
                    settings["node_files"],
                    app_root=settings["workdir"].strip("/"),
                )
            )
            names.append("node packages and files")
        layers.append(
            app_layer(
                args.app,
                app_root=settings["workdir"].strip("/"),
                strip_prefix=settings["app_strip_prefix"],
                writable=[d.strip("/") for d in settings["writable"]],
            )
        )
        names.append("the app")
    except AssemblyError as error:
        print(f"image {settings['repository']}: {error}", file=sys.stderr)
        return 1
    settings["layer_names"] = names
    tars = [layer.tar(epoch) for layer in layers]
    data, manifest_digest, config_digest = archive(settings, tars, epoch)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(data)
    sizes = ", ".join(f"{len(t) / 2**20:.1f}" for t in tars)
    Path(str(args.output) + ".digests").write_text(
        json.dumps(
            {
                "manifest": f"sha256:{manifest_digest}",
                "config": f"sha256:{config_digest}",
                "uncompressed_bytes": sum(len(t) for t in tars),
                "layer_mib": sizes,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
