"""Assembles a container image archive from Debian packages and files, byte for byte the same.

Run by the `oci_image` rules in a sandbox that holds `image.json` (the image's settings),
`debs/*.deb` (the locked Debian packages, already checked against their sha256), `app/`
(the image's own files) and, when node files are used, the npm lockfile. Standard library
only, with `layers.py` and `app_files.py` beside it, and GNU strip for the app's binaries.
It writes one tar that both `docker load` and `podman load` read: the OCI image
layout (`oci-layout`, `index.json`, `blobs/sha256/...`) and Docker's `manifest.json` beside
it, naming the same blobs.

Layers, in order, so that a change to the app rebuilds only the last one:

1. the system: every package's data (documentation, manuals, locales and lintian overrides
   left out; maintainer scripts never run), `/etc/passwd` and `/etc/group` with `root` and a
   `nonroot` user (65532), the CA bundle built from the ca-certificates package, `/tmp`;
2. node files copied from the bootstrapped node_modules (a whole package with what it needs
   per the npm lockfile, or single files at paths of the image's choosing), if any;
3. the app's files under the working directory, its wheels' data files, and the directories
   the app writes to (`app_files.py`: what is left out, what is stripped).

Every entry is written as `layers.py` says (sorted, dated SOURCE_DATE_EPOCH, owned by
number, identical files hard-linked); a package's own hard links are unpacked as files
first. Layers are gzip-compressed with a zero mtime and no file name in the header.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import lzma
import posixpath
import stat
import sys
import tarfile
from collections.abc import Iterable
from pathlib import Path

from oci.scripts.app_files import AppFilesError, app_layer, strip_binaries
from oci.scripts.layers import NONROOT, Entry, Layer, entry_of, inherit_directories, walk

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


class AssemblyError(Exception):
    """An input is not what the image build expects (a broken package, a missing file)."""


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
        for item in walk(source):
            relative = item.relative_to(node_modules.parent).as_posix()
            layer.add(entry_of(item, f"{app_root}/{relative}"))
    for source, target in sorted(files.items()):
        item = node_modules / source
        if not item.is_file():
            raise AssemblyError(f"node_modules/{source} does not exist; is ./pants bootstrapped?")
        layer.add(entry_of(item, target))
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
        app = app_layer(
            args.app,
            app_root=settings["workdir"].strip("/"),
            strip_prefix=settings["app_strip_prefix"],
            writable=[d.strip("/") for d in settings["writable"]],
            wheel_data_prefix=settings["wheel_data_prefix"],
            excludes=settings["excludes"],
        )
        strip_binaries(app, settings["strip"]["path"])
        layers.append(app)
        names.append("the app")
    except (AssemblyError, AppFilesError) as error:
        print(f"image {settings['repository']}: {error}", file=sys.stderr)
        return 1
    for index, layer in enumerate(layers):
        inherit_directories(layer, layers[:index])
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
