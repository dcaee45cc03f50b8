"""The whole platform from docker-compose.yml: the chain, 11 IPFS nodes, 10 mines and the
notebook, on a real container engine, with the notebook executed headless in its container.

The images are the build's own archives; Compose is the binary the bootstrap installs
(HYDROGEN_COMPOSE). The project gets its own name, network and host ports, so a platform a
developer runs is left alone; `docker compose down -v` runs when the module ends, whatever
the outcome, and the last test checks that it leaves no container, network or volume.
The figures the README records (time to healthy, notebook time, peak memory) are printed.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker
import pytest
from docker.models.containers import Container
from images.engine import connect_or_skip, docker_host, load_images
from web3 import Web3

from sonar.chain import dev_accounts
from sonar.client import GradientAdded, GradientEvaluated, ModelRepository, Withdrawn

COMPOSE_FILE = Path("docker-compose.yml")
MINES = 10
BOUNTY_WEI = 10 * 10**18
UP_TIMEOUT = 300
NOTEBOOK_TIMEOUT = 900
# The notebook runs in the fixture of the test that first needs it, so that test's limit
# covers a whole training run on a loaded machine (CI runs other test files beside it).
pytestmark = pytest.mark.timeout(NOTEBOOK_TIMEOUT + 120)
# Runs the notebook with nbclient inside the notebook's container, through the image's own
# Python and packages (PEX_INTERPRETER), and writes the executed copy to /tmp.
EXECUTE_NOTEBOOK = """
import nbclient, nbformat
notebook = nbformat.read("/app/pysonar/notebooks/hydrogen.ipynb", as_version=4)
nbclient.NotebookClient(notebook, timeout=900, kernel_name="python3").execute()
nbformat.write(notebook, "/tmp/executed.ipynb")
"""


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
def executed(platform: Platform) -> dict:
    """Runs the notebook in its container while one mine is killed and started again."""
    notebook = platform.container("notebook")
    mine = platform.container("mine-3")
    mine_address = dev_accounts(4)[3].address
    outcome: dict = {}

    def execute() -> None:
        began = time.monotonic()
        outcome["result"] = notebook.exec_run(
            ["/usr/bin/python3.11", "/app/lab", "-c", EXECUTE_NOTEBOOK],
            environment={"PEX_INTERPRETER": "1"},
        )
        outcome["seconds"] = time.monotonic() - began

    runner = threading.Thread(target=execute)
    runner.start()
    repository = platform.repository()
    deadline = time.monotonic() + NOTEBOOK_TIMEOUT
    while runner.is_alive() and time.monotonic() < deadline:
        added = _events(repository, GradientAdded)
        if any(event.submitter == mine_address for event in added):
            break  # mine-3 has answered once: now crash it mid-training
        time.sleep(0.5)
    mine.kill()
    mine.start()
    outcome["restarted"] = True
    runner.join(timeout=max(deadline - time.monotonic(), 1))
    assert not runner.is_alive(), "the notebook did not finish"
    exit_code, output = outcome["result"]
    assert exit_code == 0, output.decode(errors="replace")[-5000:]
    platform.figures["notebook seconds"] = f"{outcome['seconds']:.1f}"
    stream, _ = notebook.get_archive("/tmp/executed.ipynb")  # the image has no cat
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
        return json.load(archive.extractfile("executed.ipynb"))  # type: ignore[arg-type]


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
    text = "".join(
        "".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
        for o in outputs
    )
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

    assert any("image/png" in output.get("data", {}) for output in outputs), "no plot"
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
