"""The image backend through a real Pants engine (RuleRunner): same inputs, same bytes.

Each RuleRunner has its own store and process cache, so two of them build twice for real.
The Debian packages are small stand-ins served from `file://` URLs with a lock of their
own, so the test needs no mirror; the pins (pex, the python-default lockfile) are the
repo's.
"""

from __future__ import annotations

import hashlib
import io
import json
import lzma
import os
import tarfile
from pathlib import Path

import pytest
import toml
from pants.backend.python import target_types_rules
from pants.core.goals.package import BuiltPackage
from pants.core.target_types import FileTarget
from pants.core.target_types import rules as core_target_type_rules
from pants.core.util_rules import source_files, system_binaries
from pants.engine.addresses import Address
from pants.engine.fs import DigestContents
from pants.engine.internals.scheduler import ExecutionError
from pants.testutil.rule_runner import QueryRule, RuleRunner

from oci import register
from oci.package import OciImageFieldSet

NODE_MODULES = os.environ["HYDROGEN_NODE_MODULES"]
EPOCH = 1_700_000_000


def deb(files: dict[str, bytes]) -> bytes:
    """A minimal .deb (ar of debian-binary, control.tar.xz, data.tar.xz) holding `files`."""

    def tar(members: dict[str, bytes]) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            for path, content in members.items():
                info = tarfile.TarInfo(path)
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))
        return buffer.getvalue()

    out = b"!<arch>\n"
    for name, body in (
        ("debian-binary", b"2.0\n"),
        ("control.tar.xz", lzma.compress(tar({}))),
        ("data.tar.xz", lzma.compress(tar(files))),
    ):
        header = f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(body):<10}`\n"
        out += header.encode() + body + (b"\n" if len(body) % 2 else b"")
    return out


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two stand-in packages served from file:// URLs, and a lock of them."""
    root = tmp_path_factory.mktemp("mirror")
    packages = {
        "libgreeting": deb({"./usr/lib/libgreeting.so": b"\x7fELF greeting"}),
        "greeter": deb({"./usr/bin/greet": b"#!/bin/sh\necho hello\n"}),
    }
    locked = {}
    for name, data in packages.items():
        (root / f"{name}.deb").write_bytes(data)
        locked[name] = {
            "version": "1.0",
            "architecture": "amd64",
            "url": f"file://{root}/{name}.deb",
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    lock = {
        "format": "hydrogen.debian-lock/1",
        "distribution": "bookworm",
        "architecture": "amd64",
        "images": {"greeter": ["greeter", "libgreeting"]},
        "packages": locked,
    }
    (root / "debian.lock.json").write_text(json.dumps(lock))
    return root


def pants_options(mirror: Path) -> list[str]:
    pex_cli = toml.load("pants.toml")["pex-cli"]
    bootstrap_dir = Path(NODE_MODULES).parent.parent  # .bootstrap/node/node_modules
    return [
        f"--oci-node-modules={NODE_MODULES}",
        f"--oci-source-date-epoch={EPOCH}",
        "--python-interpreter-constraints=['CPython==3.11.*']",
        "--python-bootstrap-search-path=['<PYENV>', '<PATH>']",
        f"--pex-cli-version={pex_cli['version']}",
        f"--pex-cli-known-versions={pex_cli['known_versions']}",
        f"--pex-cli-url-template=file://{bootstrap_dir}/pex/pex-{{version}}",
        "--subprocess-environment-env-vars=['PIP_CONFIG_FILE=/dev/null']",
    ]


def make_rule_runner(mirror: Path, lock: str | None = None) -> RuleRunner:
    rule_runner = RuleRunner(
        rules=[
            *register.rules(),
            *source_files.rules(),
            *system_binaries.rules(),
            *target_types_rules.rules(),
            *core_target_type_rules(),
            QueryRule(BuiltPackage, [OciImageFieldSet]),
        ],
        target_types=[*register.target_types(), FileTarget],
        isolated_local_store=True,  # no process cache shared between runners
    )
    rule_runner.write_files(
        {
            "images/debian.lock.json": lock or (mirror / "debian.lock.json").read_text(),
            "3rdparty/node/package-lock.json": Path("3rdparty/node/package-lock.json").read_text(),
            "img/hello.txt": "hello from the app\n",
            "img/BUILD": """\
oci_image(
    name="greeter",
    repository="hydrogen/greeter",
    tag="1.0",
    debian_image="greeter",
    dependencies=[":hello"],
    node_files={"@foundry-rs/anvil-linux-amd64/package.json": "/opt/anvil.json"},
    entrypoint=["/usr/bin/greet"],
    env={"GREETING": "hello"},
    ports=["8000"],
    writable=["/var/lib/greeter"],
)

oci_image(
    name="unlocked",
    repository="hydrogen/unlocked",
    tag="1.0",
    debian_image="nothing-of-that-name",
    entrypoint=["/bin/true"],
)

file(name="hello", source="hello.txt")
""",
        }
    )
    rule_runner.set_options(pants_options(mirror), env_inherit={"PATH", "PYENV_ROOT", "HOME"})
    return rule_runner


def build(rule_runner: RuleRunner, name: str = "greeter") -> tuple[bytes, BuiltPackage]:
    target = rule_runner.get_target(Address("img", target_name=name))
    built = rule_runner.request(BuiltPackage, [OciImageFieldSet.create(target)])
    (content,) = rule_runner.request(DigestContents, [built.digest])
    return content.content, built


def files_of(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive)) as outer:
        return {m.name: outer.extractfile(m).read() for m in outer.getmembers() if m.isreg()}


def test_two_independent_builds_give_identical_bytes(mirror: Path) -> None:
    first, built = build(make_rule_runner(mirror))
    second, _ = build(make_rule_runner(mirror))  # a new store: everything built again

    assert first == second
    (artifact,) = built.artifacts
    assert artifact.relpath == "img/greeter.tar"
    assert "image hydrogen/greeter:1.0" in artifact.extra_log_lines
    image_id = hashlib.sha256(
        files_of(first)[json.loads(files_of(first)["manifest.json"])[0]["Config"]]
    ).hexdigest()
    assert f"  image ID  sha256:{image_id}" in artifact.extra_log_lines


def test_the_image_holds_the_packages_node_files_and_app_in_that_order(mirror: Path) -> None:
    archive, _ = build(make_rule_runner(mirror))
    files = files_of(archive)
    (docker,) = json.loads(files["manifest.json"])
    assert docker["RepoTags"] == ["hydrogen/greeter:1.0"]
    config = json.loads(files[docker["Config"]])
    assert config["config"]["User"] == "65532:65532"
    assert config["config"]["ExposedPorts"] == {"8000/tcp": {}}
    assert config["config"]["Labels"]["org.opencontainers.image.title"] == "hydrogen/greeter"
    layers = []
    for path in docker["Layers"]:
        with tarfile.open(fileobj=io.BytesIO(files[path]), mode="r:gz") as layer:
            layers.append({m.name: m for m in layer.getmembers()})
    system, node, app = layers
    assert {"usr/bin/greet", "usr/lib/libgreeting.so", "etc/passwd"} <= set(system)
    assert "opt/anvil.json" in node
    assert "app/hello.txt" in app
    assert app["var/lib/greeter"].uid == 65532


def test_a_package_that_is_not_what_was_locked_is_refused_with_how_to_re_lock(
    mirror: Path,
) -> None:
    lock = json.loads((mirror / "debian.lock.json").read_text())
    lock["packages"]["greeter"]["sha256"] = "0" * 64  # the mirror serves other bytes
    with pytest.raises(ExecutionError) as raised:
        build(make_rule_runner(mirror, json.dumps(lock)))
    message = str(raised.value)
    assert "is not available as locked" in message
    assert "./pants run images:lock-debian" in message


def test_an_image_the_lock_does_not_know_is_refused_with_how_to_add_it(mirror: Path) -> None:
    with pytest.raises(ExecutionError) as raised:
        build(make_rule_runner(mirror), "unlocked")
    message = str(raised.value)
    assert "has no image 'nothing-of-that-name'" in message
    assert "images/debian-packages.toml" in message


def test_changing_the_app_rebuilds_only_the_app_layer(mirror: Path) -> None:
    rule_runner = make_rule_runner(mirror)
    before, _ = build(rule_runner)
    rule_runner.write_files({"img/hello.txt": "hello from the next version of the app\n"})
    after, _ = build(rule_runner)

    def layers(archive: bytes) -> list[str]:
        return json.loads(files_of(archive)["manifest.json"])[0]["Layers"]

    system, node, app = layers(before)
    assert layers(after)[:2] == [system, node], "the packages' and node layers keep their digests"
    assert layers(after)[2] != app
