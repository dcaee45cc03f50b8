"""Bootstraps the toolchain behind ./pants and then runs Pants.

Owns everything under `.bootstrap/` (git-ignored):

- `pants-venv/`: Python 3.9 with pantsbuild.pants 2.17.1, installed by hash from
  3rdparty/pants/requirements.txt;
- `pex/pex-<version>`: the pex tool Pants runs, built locally from PyPI (Pants would
  download it from GitHub) and checked against the sha256 and size pinned in pants.toml;
- `node/`: the Node tools (solc, solhint, anvil, js-ipfs), installed with `npm ci` from
  3rdparty/node/package-lock.json;
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
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BUILDROOT = Path(__file__).resolve().parent.parent
STATE_DIR = BUILDROOT / ".bootstrap"
PANTS_REQUIREMENTS = BUILDROOT / "3rdparty" / "pants" / "requirements.txt"
NODE_MANIFESTS = (
    BUILDROOT / "3rdparty" / "node" / "package.json",
    BUILDROOT / "3rdparty" / "node" / "package-lock.json",
)
PANTS_TOML = BUILDROOT / "pants.toml"
MIN_NODE_MAJOR = 20
# Well-known locations of the system CA bundle, used for Pants' HTTPS when the
# environment names none (this machine reaches PyPI through a proxy with its own CA).
SYSTEM_CA_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")


class BootstrapError(Exception):
    """A prerequisite is missing or a bootstrapped file is not what the repo pins."""


@dataclass(frozen=True)
class PexPin:
    """The pex tool version and the digest pants.toml expects for this platform."""

    version: str
    sha256: str
    size: int

    @property
    def path(self) -> Path:
        return STATE_DIR / "pex" / f"pex-{self.version}"


def log(message: str) -> None:
    print(f"[bootstrap] {message}", file=sys.stderr, flush=True)


def sha256_of(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def read_pex_pin(pants_toml: Path = PANTS_TOML) -> PexPin:
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
        raise BootstrapError(f"{path} is missing")
    size = path.stat().st_size
    actual = sha256_of(path)
    if size != pin.size or actual != pin.sha256:
        raise BootstrapError(
            f"refusing {path}: sha256 {actual} ({size} bytes), but pants.toml pins "
            f"{pin.sha256} ({pin.size} bytes) for pex {pin.version}. The file was modified "
            f"or built from different inputs; delete it and run ./pants again to rebuild it."
        )


def component_keys(pin: PexPin) -> dict[str, str]:
    """What each component was built from: a component is rebuilt when its key changes."""
    return {
        "pants-venv": sha256_of(PANTS_REQUIREMENTS),
        "pex": f"{pin.version}:{pin.sha256}:{pin.size}",
        "node": sha256_of(*NODE_MANIFESTS),
    }


def read_stamp() -> dict[str, str]:
    try:
        return json.loads((STATE_DIR / "stamp.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def write_stamp(stamp: dict[str, str]) -> None:
    tmp = STATE_DIR / "stamp.json.tmp"
    tmp.write_text(json.dumps(stamp, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, STATE_DIR / "stamp.json")


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


def pip_environment() -> dict[str, str]:
    # The machine-wide pip config may carry constraints and extra indexes that are not
    # ours; install from PyPI with the hashes we pin and nothing else.
    env = dict(os.environ, PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1")
    ca_bundle = ca_certs_path()
    if ca_bundle and "PIP_CERT" not in env:
        env["PIP_CERT"] = ca_bundle
    return env


def run(argv: list[str], **kwargs: object) -> None:
    result = subprocess.run(argv, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        raise BootstrapError(f"`{' '.join(argv)}` failed with exit code {result.returncode}")


def build_pants_venv(python39: str) -> None:
    venv = STATE_DIR / "pants-venv"
    shutil.rmtree(venv, ignore_errors=True)
    run([python39, "-m", "venv", str(venv)])
    run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--require-hashes",
            "--only-binary=:all:",
            "-r",
            str(PANTS_REQUIREMENTS),
        ],
        env=pip_environment(),
    )


def build_pex(pin: PexPin) -> None:
    """Builds the pex PEX reproducibly (same bytes on every machine) from PyPI's wheel."""
    pin.path.parent.mkdir(parents=True, exist_ok=True)
    partial = pin.path.with_name(pin.path.name + ".partial")
    partial.unlink(missing_ok=True)
    cert = ca_certs_path()
    run(
        [
            str(STATE_DIR / "pants-venv" / "bin" / "pex"),
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
    os.replace(partial, pin.path)


def install_node_tools() -> None:
    node_dir = STATE_DIR / "node"
    shutil.rmtree(node_dir, ignore_errors=True)
    node_dir.mkdir(parents=True)
    for manifest in NODE_MANIFESTS:
        shutil.copyfile(manifest, node_dir / manifest.name)
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
        cwd=node_dir,
        env=dict(os.environ, npm_config_update_notifier="false"),
    )
    for tool in ("solc/soljson.js", ".bin/solhint", ".bin/jsipfs"):
        if not (node_dir / "node_modules" / tool).exists():
            raise BootstrapError(f"npm ci finished but node_modules/{tool} is missing")
    anvil = node_dir / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
    if not os.access(anvil, os.X_OK):
        raise BootstrapError(f"npm ci finished but {anvil} is missing or not executable")


def ca_certs_path() -> str | None:
    """The CA bundle for HTTPS: $PANTS_CA_CERTS_PATH, $SSL_CERT_FILE, or the system bundle."""
    for candidate in (os.environ.get("PANTS_CA_CERTS_PATH"), os.environ.get("SSL_CERT_FILE")):
        if candidate:
            return candidate
    return next((p for p in SYSTEM_CA_BUNDLES if os.path.isfile(p)), None)


def bootstrap(pin: PexPin, stale: list[str]) -> None:
    """Rebuilds the stale components, holding a lock so concurrent ./pants runs wait."""
    STATE_DIR.mkdir(exist_ok=True)
    with open(STATE_DIR / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        keys = component_keys(pin)
        stamp = read_stamp()
        stale = [name for name in keys if stamp.get(name) != keys[name]]
        if not stale:
            return  # another ./pants finished the work while we waited for the lock
        check_node()
        python39 = find_python39()
        steps = {
            "pants-venv": ("Pants 2.17.1 in a Python 3.9 venv", lambda: build_pants_venv(python39)),
            "pex": (f"pex {pin.version}, built locally and checked by sha256", lambda: build_pex(pin)),
            "node": ("Node tools (solc, solhint, anvil, js-ipfs) with npm ci", install_node_tools),
        }
        # The pex is built by the venv's pex, so a new venv means a new pex check too.
        if "pants-venv" in stale and "pex" not in stale:
            stale.append("pex")
        for index, name in enumerate(n for n in steps if n in stale):
            description, build = steps[name]
            log(f"[{index + 1}/{len(stale)}] {description} ...")
            started = time.monotonic()
            stamp.pop(name, None)
            write_stamp(stamp)
            build()
            stamp[name] = keys[name]
            write_stamp(stamp)
            log(f"      done in {time.monotonic() - started:.0f} s")


def pants_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("NO_SCIE_WARNING", "1")
    env.setdefault("HYDROGEN_NODE_MODULES", str(STATE_DIR / "node" / "node_modules"))
    # A machine-specific CA bundle comes from the environment or an untracked .pants.rc,
    # never from pants.toml; .pants.rc wins over what we would guess here.
    pants_rc = BUILDROOT / ".pants.rc"
    rc_sets_ca = pants_rc.is_file() and "ca_certs_path" in pants_rc.read_text()
    ca_bundle = ca_certs_path()
    if ca_bundle and not rc_sets_ca:
        env.setdefault("PANTS_CA_CERTS_PATH", ca_bundle)
    return env


def main(argv: list[str]) -> int:
    try:
        pin = read_pex_pin()
        keys = component_keys(pin)
        stamp = read_stamp()
        stale = [name for name in keys if stamp.get(name) != keys[name]]
        if stale:
            bootstrap(pin, stale)
        verify_pex(pin.path, pin)
    except BootstrapError as error:
        log(f"error: {error}")
        return 1
    except KeyboardInterrupt:
        log("interrupted; the unfinished component will be rebuilt on the next run")
        return 130
    pants = STATE_DIR / "pants-venv" / "bin" / "pants"
    os.execve(pants, [str(pants), *argv], pants_environment())
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
