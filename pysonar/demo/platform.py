"""The local platform of the demo: a chain, IPFS nodes and mine processes on this machine.

`start_platform` starts, in order and each timed:

1. anvil with ModelRepository at its fixed address (`sonar.chain.AnvilChain`);
2. one IPFS host process running the data scientist's node and one node per mine, each
   mine's node connected to the data scientist's (`pysonar.ipfs.start_host`);
3. one `python -m mine` process per data owner, each with its own funded development
   account (key file mode 600), its own IPFS node, its own CSV shard and state directory,
   ready once its status file says it is running.

Every process is supervised (`sonar.supervisor`) and stopped by its pid by `stop`, also
when a later one fails to start; a failure names the component and shows the last lines of
its log.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from pysonar.ipfs import IpfsNode, LocalIpfsNodes, NodeSpec, start_host
from sonar.chain import AnvilChain, DevAccount, dev_accounts
from sonar.chain.accounts import DEV_BALANCE_WEI
from sonar.supervisor import SupervisedProcess, python_environment, stop_all

DATA_SCIENTIST_NODE = "data-scientist"
MINE_READY_TIMEOUT = 60.0
STOP_TIMEOUT = 5.0


@dataclass
class MineProcess:
    """One running mine and what it was given."""

    name: str
    account: DevAccount
    node: IpfsNode
    shard: Path
    state_dir: Path
    process: SupervisedProcess
    argv: tuple[str, ...]

    @property
    def status_path(self) -> Path:
        return self.state_dir / "status.json"

    @property
    def log_path(self) -> Path:
        return self.process.log_path

    def restart(self) -> None:
        """Starts the mine again with the same account, node, rows and state (after it
        stopped or was killed), and waits until it runs."""
        if self.process.running:
            raise RuntimeError(f"{self.name} (pid {self.process.pid}) is still running")
        # The dead process's last status would read as the new one's readiness.
        self.status_path.unlink(missing_ok=True)
        self.process = _spawn(self.name, self.argv, self.log_path)
        wait_until_running(self)


@dataclass
class LocalPlatform:
    """What `start_platform` started; `stop` stops all of it by pid, mines first."""

    workdir: Path
    chain: AnvilChain
    ipfs: LocalIpfsNodes
    mines: list[MineProcess]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def data_scientist_node(self) -> IpfsNode:
        return self.ipfs[0]

    def __enter__(self) -> LocalPlatform:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Stops the mines, then the IPFS host, then the chain; safe to call twice."""
        began = time.monotonic()
        stop_all([mine.process for mine in self.mines], timeout=STOP_TIMEOUT)
        self.ipfs.stop()
        self.chain.stop()
        self.timings.setdefault("shutdown", time.monotonic() - began)


def mine_accounts(count: int) -> tuple[DevAccount, ...]:
    """The mines' accounts: development accounts 1 to `count` (0 is the data scientist's).

    WELL-KNOWN DEVELOPMENT KEYS from anvil's test mnemonic; anvil funds 0-9 itself, the
    platform funds the others at genesis.
    """
    return dev_accounts(count + 1)[1:]


def start_platform(
    shards: Sequence[Path],
    *,
    workdir: Path,
    accept_key_bits: Sequence[int] = (2048, 3072),
    poll_interval: float = 0.2,
    mine_command: Sequence[str] | None = None,
    mine_options: Sequence[str] = (),
) -> LocalPlatform:
    """Starts the chain, the IPFS nodes and one mine per shard file.

    Parameters:
        shards: each mine's CSV shard (never the data scientist's validation rows).
        workdir: where logs, key files and the mines' state go.
        accept_key_bits: the Paillier key sizes the mines answer.
        poll_interval: how often an idle mine looks at the chain, in seconds.
        mine_command: how to run a mine; `python -m mine` with this interpreter and
            sys.path by default.
        mine_options: more options for every mine (e.g. its differential-privacy budget).

    Raises:
        ChainError, DaemonStartError, ProcessStartError: a component did not start; what
            had started is stopped first.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    accounts = mine_accounts(len(shards))
    timings: dict[str, float] = {}
    began = time.monotonic()
    chain = AnvilChain(
        extra_balances={a.address: DEV_BALANCE_WEI for a in accounts if a.index >= 10}
    )
    timings["chain start"] = time.monotonic() - began
    started: list[SupervisedProcess] = []
    ipfs: LocalIpfsNodes | None = None
    try:
        began = time.monotonic()
        ipfs = _start_ipfs(workdir / "ipfs", len(shards))
        timings["IPFS start"] = time.monotonic() - began

        began = time.monotonic()
        mines = []
        for index, (shard, account) in enumerate(zip(shards, accounts), start=1):
            mine = start_mine(
                index,
                account,
                shard,
                node=ipfs[index],
                workdir=workdir,
                rpc_url=chain.rpc_url,
                command=mine_command,
                accept_key_bits=accept_key_bits,
                poll_interval=poll_interval,
                options=mine_options,
            )
            started.append(mine.process)
            mines.append(mine)
        for mine in mines:
            wait_until_running(mine)
        timings["mines start"] = time.monotonic() - began
    except BaseException:
        stop_all(started, timeout=STOP_TIMEOUT)
        if ipfs is not None:
            ipfs.stop()
        chain.stop()
        raise
    return LocalPlatform(workdir=workdir, chain=chain, ipfs=ipfs, mines=mines, timings=timings)


def _start_ipfs(root: Path, mine_count: int) -> LocalIpfsNodes:
    root.mkdir(parents=True, exist_ok=True)
    specs = [NodeSpec(name=DATA_SCIENTIST_NODE, repo=root / DATA_SCIENTIST_NODE)]
    specs += [
        NodeSpec(name=f"mine-{i}", repo=root / f"mine-{i}", peers=(DATA_SCIENTIST_NODE,))
        for i in range(1, mine_count + 1)
    ]
    return start_host(specs, root=root)


def start_mine(
    index: int,
    account: DevAccount,
    shard: Path,
    *,
    node: IpfsNode,
    workdir: Path,
    rpc_url: str,
    command: Sequence[str] | None = None,
    accept_key_bits: Sequence[int] = (2048, 3072),
    poll_interval: float = 0.2,
    options: Sequence[str] = (),
) -> MineProcess:
    """Starts mine number `index` (it is running once its status file says so: see
    `wait_until_running`)."""
    name = f"mine-{index}"
    directory = workdir / name
    directory.mkdir(parents=True, exist_ok=True)
    key_file = directory / "account.key"
    key_file.touch(mode=0o600)
    key_file.chmod(0o600)
    key_file.write_text(account.private_key + "\n")
    state_dir = directory / "state"
    arguments = [
        "--rpc-url", rpc_url,
        "--ipfs-api", node.api_multiaddr,
        "--key-file", str(key_file),
        "--data", str(shard),
        "--state-dir", str(state_dir),
        "--poll-interval", str(poll_interval),
        "--accept-key-bits", ",".join(str(bits) for bits in accept_key_bits),
        *options,
    ]  # fmt: skip
    argv = (*(command or _python_module_command()), *arguments)
    process = _spawn(name, argv, directory / "mine.log")
    return MineProcess(name, account, node, shard, state_dir, process, argv)


def wait_until_running(mine: MineProcess, *, timeout: float = MINE_READY_TIMEOUT) -> None:
    """Waits until the mine's status file says it runs.

    Raises:
        ProcessStartError: it exited first, or did not run in time.
    """
    mine.process.wait_ready(_running(mine.status_path), timeout=timeout)


def _spawn(name: str, argv: Sequence[str], log_path: Path) -> SupervisedProcess:
    return SupervisedProcess.start(
        name,
        argv,
        log_path=log_path,
        env=python_environment(),
        cwd=log_path.parent,  # a directory of its own
    )


def _python_module_command() -> list[str]:
    # -P: the working directory is not put first on the path (it might hold other sources).
    return [sys.executable, "-P", "-m", "mine"]


def _running(status_path: Path) -> Callable[[str], bool | None]:
    """A readiness predicate: the mine's status file says it is running. (A mine that
    fails exits, which the supervisor reports with its log.)"""

    def ready(log: str) -> bool | None:
        try:
            return True if '"state": "running"' in status_path.read_text() else None
        except OSError:
            return None

    return ready
