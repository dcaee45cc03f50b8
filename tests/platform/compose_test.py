"""The whole platform from docker-compose.yml: the chain, 11 IPFS nodes, 10 mines and the
notebook, on a real container engine, with the notebook run from a real browser.

The notebook is used as a person uses it (`tests/platform/browser.py`): Chromium opens the
tokened URL from the notebook's log, runs every cell from the menu (Run > Run All Cells)
and saves; the outputs are read back from the saved notebook. An edit saved from the
browser must survive `docker compose restart notebook` and `docker compose down` (without
`-v`). A screenshot of the trained notebook is kept (`browser.artifact`).

The images are the build's own archives; Compose is the binary the bootstrap installs
(HYDROGEN_COMPOSE). The project gets its own name, network and host ports, so a platform a
developer runs is left alone; `docker compose down -v` runs when the module ends, whatever
the outcome, and the last test checks that it leaves no container, network or volume.
The figures the README records (time to healthy, notebook time, peak memory) are printed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker
import pytest
from docker.models.containers import Container
from playwright.sync_api import Browser
from web3 import Web3

from images.engine import connect_or_skip, docker_host, load_images, wait_healthy
from sonar.chain import dev_accounts
from sonar.client import GradientAdded, GradientEvaluated, ModelRepository, Withdrawn
from tests.platform.browser import (
    JupyterPage,
    cell_sources,
    chromium,
    errors_in_log,
    token_from_log,
)

COMPOSE_FILE = Path("docker-compose.yml")
MINES = 10
BOUNTY_WEI = 10 * 10**18
UP_TIMEOUT = 300
NOTEBOOK_TIMEOUT = 900
# The notebook runs in the fixture of the test that first needs it, so that test's limit
# covers a whole training run on a loaded machine (CI runs other test files beside it).
pytestmark = pytest.mark.timeout(NOTEBOOK_TIMEOUT + 120)
NOTEBOOK = "hydrogen.ipynb"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Platform:
    """A running compose project and what the test measured of it."""

    project: str
    env: dict[str, str]
    engine: docker.DockerClient
    rpc_port: int
    up_seconds: float = 0.0
    memory: MemorySampler | None = None
    figures: dict[str, str] = field(default_factory=dict)

    def compose(self, *args: str, timeout: float = UP_TIMEOUT) -> subprocess.CompletedProcess:
        return subprocess.run(
            [os.environ["HYDROGEN_COMPOSE"], "-p", self.project, "-f", str(COMPOSE_FILE)]
            + ["--profile", "chain", "--profile", "notebook", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def container(self, service: str) -> Container:
        (container,) = self.engine.containers.list(
            all=True,
            filters={
                "label": [
                    f"com.docker.compose.project={self.project}",
                    f"com.docker.compose.service={service}",
                ]
            },
        )
        return container

    def containers(self) -> list[Container]:
        return self.engine.containers.list(
            all=True, filters={"label": f"com.docker.compose.project={self.project}"}
        )

    def repository(self) -> ModelRepository:
        return ModelRepository(Web3(Web3.HTTPProvider(f"http://127.0.0.1:{self.rpc_port}")))

    def notebook_log(self, since: float | None = None) -> str:
        """The notebook's log, or the part of it written after `since` (a time.time())."""
        return self.container("notebook").logs(since=since).decode(errors="replace")


class MemorySampler:
    """Samples the project's containers' memory from their cgroups (v1 or v2) every 0.5 s
    and keeps the largest sum: the stack's peak."""

    def __init__(self, platform: Platform) -> None:
        self._platform = platform
        self._stop = threading.Event()
        self.peak_bytes = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                ids = [c.id for c in self._platform.containers()]
            except docker.errors.APIError:
                continue
            self.peak_bytes = max(self.peak_bytes, sum(_memory_of(i) for i in ids))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _memory_of(container_id: str) -> int:
    for path in (
        f"/sys/fs/cgroup/memory/docker/{container_id}/memory.usage_in_bytes",
        f"/sys/fs/cgroup/system.slice/docker-{container_id}.scope/memory.current",
    ):
        try:
            return int(Path(path).read_text())
        except (OSError, ValueError):
            continue
    return 0


@pytest.fixture(scope="module")
def platform() -> Iterator[Platform]:
    engine = connect_or_skip()
    compose = os.environ.get("HYDROGEN_COMPOSE", "")
    if not os.access(compose, os.X_OK):
        pytest.fail(f"no Docker Compose at HYDROGEN_COMPOSE={compose!r}: run ./pants once")
    load_images(engine)
    project = f"hydrogen-test-{uuid.uuid4().hex[:8]}"
    rpc_port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "DOCKER_HOST": docker_host(),
        "HOME": os.environ.get("HOME", "/tmp"),
        "HYDROGEN_NETWORK": project,
        "HYDROGEN_RPC_PORT": str(rpc_port),
        "HYDROGEN_IPFS_PORT": str(free_port()),
        "HYDROGEN_NOTEBOOK_PORT": str(free_port()),
    }
    running = Platform(project=project, env=env, engine=engine, rpc_port=rpc_port)
    try:
        running.memory = MemorySampler(running)
        began = time.monotonic()
        result = running.compose("up", "--wait", "--wait-timeout", str(UP_TIMEOUT))
        running.up_seconds = time.monotonic() - began
        if result.returncode != 0:
            logs = running.compose("logs", "--no-color", "--tail", "30").stdout
            pytest.fail(f"compose up failed:\n{result.stderr}\n{logs}")
        yield running
    finally:
        if running.memory is not None:
            running.memory.stop()
        running.compose("down", "-v", "--remove-orphans", "--timeout", "5")
        engine.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def jupyter(platform: Platform, browser: Browser) -> JupyterPage:
    """A tab on the notebook, with the token from its log, as the README says to open it."""
    return JupyterPage(
        browser.new_page(viewport={"width": 1400, "height": 1300}),
        base_url=f"http://127.0.0.1:{platform.env['HYDROGEN_NOTEBOOK_PORT']}",
        token=token_from_log(platform.notebook_log()),
    )


@pytest.fixture(scope="module")
def executed(platform: Platform, jupyter: JupyterPage) -> dict:
    """Runs every cell from the browser while one mine is killed and started again; returns
    the notebook as the browser saved it, outputs included."""
    assert NOTEBOOK in jupyter.open_tree()
    jupyter.open_notebook(NOTEBOOK)
    repository = platform.repository()
    mine = platform.container("mine-3")
    mine_address = dev_accounts(4)[3].address
    began = time.monotonic()
    jupyter.run_all()
    deadline = began + NOTEBOOK_TIMEOUT
    restarted = False
    while jupyter.running() and time.monotonic() < deadline:
        added = _events(repository, GradientAdded)
        if not restarted and any(event.submitter == mine_address for event in added):
            mine.kill()  # mine-3 has answered once: now crash it mid-training
            mine.start()
            restarted = True
        time.sleep(1)
    assert not jupyter.running(), "the notebook did not finish"
    if not restarted:  # training ended before mine-3 answered: crash it all the same
        mine.kill()
        mine.start()
    platform.figures["notebook seconds"] = f"{time.monotonic() - began:.1f}"
    jupyter.screenshot("compose-notebook-trained.png", showing=".jp-RenderedImage")
    saved = jupyter.save(NOTEBOOK)
    assert jupyter.unexecuted_code_cells() == 0, "a cell failed:\n" + _outputs_text(saved)
    jupyter.assert_no_failed_requests()
    assert errors_in_log(platform.notebook_log()) == []
    return saved


def _outputs_text(notebook: dict) -> str:
    outputs = [o for cell in notebook["cells"] for o in cell.get("outputs", [])]
    return "".join(
        "".join(o.get("text", ""))
        + "".join(o.get("data", {}).get("text/plain", ""))
        + "\n".join(o.get("traceback", []))
        for o in outputs
    )


def _events(repository: ModelRepository, kind: type) -> list:
    events = repository.events(next_block=0).poll_to_head()
    return [event for event in events if isinstance(event, kind)]


def test_every_service_comes_up_healthy(platform: Platform) -> None:
    platform.figures["up to healthy seconds"] = f"{platform.up_seconds:.1f}"
    services = {c.labels["com.docker.compose.service"]: c for c in platform.containers()}
    expected = {"sonar", "deal", "ipfs-scientist", "notebook"}
    expected |= {f"mine-{i}" for i in range(1, MINES + 1)}
    expected |= {f"ipfs-mine-{i}" for i in range(1, MINES + 1)}
    assert set(services) == expected
    for name, container in services.items():
        container.reload()
        state = container.attrs["State"]
        if name == "deal":
            assert state["Status"] == "exited" and state["ExitCode"] == 0
        else:
            assert state["Health"]["Status"] == "healthy", name
    # Each mine runs as its own development account, shown in its log.
    for index in range(1, MINES + 1):
        logs = services[f"mine-{index}"].logs().decode()
        assert dev_accounts(MINES + 1)[index].address in logs, f"mine-{index}"


def test_the_notebook_trains_with_ten_mines_and_pays_out_the_whole_bounty(
    platform: Platform, executed: dict
) -> None:
    repository = platform.repository()
    model = repository.get_model(0)
    assert model.closed
    assert model.bounty == BOUNTY_WEI
    assert model.paid + model.refunded == model.bounty  # to the wei
    outputs = [o for cell in executed["cells"] for o in cell.get("outputs", [])]
    text = _outputs_text(executed)
    evaluated = _events(repository, GradientEvaluated)
    mines = {account.address for account in dev_accounts(MINES + 1)[1:]}
    submitters = {event.submitter for event in evaluated}
    assert submitters == mines, (
        f"evaluated and not a mine: {sorted(submitters - mines)}; "
        f"never evaluated: {sorted(mines - submitters)}; the notebook printed:\n{text}"
    )
    paid = {event.submitter for event in evaluated if event.payout > 0}
    platform.figures["mines paid"] = str(len(paid))
    assert sum(event.payout for event in evaluated) == model.paid

    # What the data scientist sees: a line per round, the plots, the payout table.
    assert "round 0: " in text and "gradients against version 0 evaluated" in text
    assert any("image/png" in output.get("data", {}) for output in outputs), "no plot"
    assert any("text/html" in output.get("data", {}) for output in outputs), "no table"
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert f"{len(paid)} were paid" in text


def test_a_mine_killed_mid_training_and_restarted_never_submits_twice(
    platform: Platform, executed: dict
) -> None:
    repository = platform.repository()
    address = dev_accounts(4)[3].address
    added = [e for e in _events(repository, GradientAdded) if e.submitter == address]
    withdrawals = [e for e in _events(repository, Withdrawn) if e.account == address]
    versions = [event.version for event in added]
    assert len(versions) == len(set(versions))
    # Every transaction the mine ever sent, refused ones included, is one of these.
    nonce = repository.w3.eth.get_transaction_count(address)
    assert nonce == len(added) + len(withdrawals)
    logs = platform.container("mine-3").logs().decode()
    assert "AlreadySubmitted" not in logs


def test_the_notebook_is_served_on_127_0_0_1_with_a_token(platform: Platform) -> None:
    port = platform.env["HYDROGEN_NOTEBOOK_PORT"]
    notebook = platform.container("notebook")
    notebook.reload()
    (binding,) = notebook.attrs["HostConfig"]["PortBindings"]["8888/tcp"]
    assert binding == {"HostIp": "127.0.0.1", "HostPort": port}
    logs = notebook.logs().decode()
    assert "?token=" in logs  # Jupyter prints its URL with the token it requires


def test_an_edit_saved_from_the_browser_survives_a_restart_and_down(
    platform: Platform, jupyter: JupyterPage, executed: dict
) -> None:
    marker = f"saved from the browser {uuid.uuid4().hex[:8]}"
    jupyter.append_cell_and_run(f"print({marker!r}, 6 * 7)", f"{marker} 42")
    assert any(marker in source for source in cell_sources(jupyter.save(NOTEBOOK)))
    jupyter.assert_no_failed_requests()

    for step in (("restart", "notebook"), ("down", "--timeout", "5")):
        jupyter.leave()
        since = time.time()
        result = platform.compose(*step)
        assert result.returncode == 0, result.stderr
        if step[0] == "down":  # the containers and the network are gone; the volumes stay
            assert platform.containers() == []
            result = platform.compose("up", "--detach", "--no-deps", "notebook")
            assert result.returncode == 0, result.stderr
        wait_healthy(platform.container("notebook"), timeout=UP_TIMEOUT)
        jupyter.token = token_from_log(platform.notebook_log())  # a new server, a new token
        jupyter.open_notebook(NOTEBOOK)
        jupyter.page.get_by_text(marker).first.wait_for()
        assert any(marker in s for s in cell_sources(jupyter.contents(NOTEBOOK)["content"]))
        jupyter.assert_no_failed_requests()
        assert "copied the image's hydrogen.ipynb" not in platform.notebook_log(since)


def test_down_leaves_no_container_network_or_volume(
    platform: Platform, capsys: pytest.CaptureFixture[str]
) -> None:
    result = platform.compose("down", "-v", "--remove-orphans", "--timeout", "5")
    assert result.returncode == 0, result.stderr
    if platform.memory is not None:
        platform.memory.stop()
        peak = platform.memory.peak_bytes / 2**30
        platform.figures["peak memory GiB"] = f"{peak:.2f}"
        platform.memory = None
    label = f"com.docker.compose.project={platform.project}"
    engine = platform.engine
    assert engine.containers.list(all=True, filters={"label": label}) == []
    assert engine.networks.list(names=[platform.project]) == []
    assert engine.volumes.list(filters={"label": label}) == []
    with capsys.disabled():  # the figures the README records
        print("\ncompose platform: " + ", ".join(f"{k} {v}" for k, v in platform.figures.items()))
