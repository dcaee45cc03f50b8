"""`./pants run images:lock-debian`: resolve each image's Debian packages into a lock file.

Reads `images/debian-packages.toml` (each image's root packages, and the packages to treat
as present), asks apt for the closure of each image's roots against this machine's
package index (`apt-get install --print-uris` with an empty package database, so nothing
installed here counts), and writes `images/debian.lock.json`: every package with its
version, architecture, download URL, size and sha256 (from the index), and each image's
list of packages. The image build downloads exactly those files and refuses any other
bytes. Run `apt-get update` first for the newest versions of the distribution.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import unquote

import tomllib

LOCK_FORMAT = "hydrogen.debian-lock/1"
_PRINT_URI = re.compile(r"^'(?P<url>[^']+)' (?P<file>\S+) (?P<size>\d+) \S+$")


class LockError(Exception):
    """apt could not resolve the packages, or the index lacks what the lock needs."""


@dataclass(frozen=True)
class LockedPackage:
    version: str
    architecture: str
    url: str
    size: int
    sha256: str


def apt(*argv: str) -> str:
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise LockError(f"{' '.join(argv[:3])} ... failed:\n{result.stderr.strip()}")
    return result.stdout


def show(name: str, version: str | None = None) -> dict[str, str]:
    """The index's stanza of `name` at `version` (its candidate when None)."""
    spec = name if version is None else f"{name}={version}"
    text = apt("apt-cache", "show", "--no-all-versions", spec)
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line:
            break
        if line[0] != " " and ":" in line:
            key, value = line.split(":", 1)
            fields[key] = value.strip()
    if "SHA256" not in fields:
        raise LockError(f"the package index has no {spec}; run apt-get update")
    return fields


def status_file(exclude: list[str]) -> str:
    """A dpkg status database in which the excluded packages are installed (with no
    dependencies of their own), so that apt neither downloads them nor what they need."""
    stanzas = []
    for name in exclude:
        fields = show(name)
        stanzas.append(
            f"Package: {name}\nStatus: install ok installed\nVersion: {fields['Version']}\n"
            f"Architecture: {fields['Architecture']}\n"
            + (f"Multi-Arch: {fields['Multi-Arch']}\n" if "Multi-Arch" in fields else "")
        )
    return "\n".join(stanzas)


def closure(roots: list[str], status: Path) -> list[tuple[str, str, str]]:
    """(name, version, URL) of every package apt would download for `roots`."""
    # An empty archive cache: apt does not list what it finds downloaded already.
    empty_cache = status.parent / "archives"
    (empty_cache / "partial").mkdir(parents=True, exist_ok=True)
    out = apt(
        "apt-get",
        "install",
        "--print-uris",
        "-qq",
        "--no-install-recommends",
        "-o",
        f"Dir::State::status={status}",
        "-o",
        f"Dir::Cache::archives={empty_cache}",
        "-o",
        "Debug::NoLocking=1",
        *roots,
    )
    packages = []
    for line in out.splitlines():
        match = _PRINT_URI.match(line)
        if match is None:
            continue
        name, version, _ = unquote(match["file"]).removesuffix(".deb").split("_")
        packages.append((name, version, match["url"]))
    return packages


def lock(config: dict) -> dict:
    """The lock for `config` (the parsed debian-packages.toml)."""
    with tempfile.TemporaryDirectory() as directory:
        status = Path(directory, "status")
        status.write_text(status_file(config.get("exclude", [])))
        # apt "upgrades" an installed package it has no full record of, so the excluded
        # ones can come back in the download list: leave them out there too.
        excluded = set(config.get("exclude", []))
        images = {
            image: [p for p in closure(settings["roots"], status) if p[0] not in excluded]
            for image, settings in sorted(config["images"].items())
        }
    packages: dict[str, LockedPackage] = {}
    for name, version, url in sorted({p for resolved in images.values() for p in resolved}):
        fields = show(name, version)
        if not unquote(url).endswith("/" + fields["Filename"]):
            raise LockError(f"apt downloads {name} {version} from {url}, not {fields['Filename']}")
        packages[name] = LockedPackage(
            version=version,
            architecture=fields["Architecture"],
            url=url,
            size=int(fields["Size"]),
            sha256=fields["SHA256"],
        )
    return {
        "format": LOCK_FORMAT,
        "distribution": config["distribution"],
        "architecture": config["architecture"],
        "images": {
            image: sorted(name for name, _, _ in resolved) for image, resolved in images.items()
        },
        "packages": {name: asdict(package) for name, package in packages.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lock-debian", description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("images/debian-packages.toml"))
    parser.add_argument("--output", type=Path, default=Path("images/debian.lock.json"))
    args = parser.parse_args(argv)
    try:
        result = lock(tomllib.loads(args.config.read_text()))
    except LockError as error:
        print(f"lock-debian: {error}", file=sys.stderr)
        return 1
    args.output.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    sizes = sum(p["size"] for p in result["packages"].values())
    print(f"locked {len(result['packages'])} packages ({sizes / 2**20:.1f} MiB) in {args.output}")
    for image, names in result["images"].items():
        print(f"  {image}: {len(names)} packages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
