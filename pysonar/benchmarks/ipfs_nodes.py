"""What an IPFS node costs: one `jsipfs daemon` per node (before) against one host process.

`./pants run pysonar/benchmarks:ipfs-nodes` starts 1 and then 11 offline js-ipfs nodes each
way, in one run, and prints the time until every node's API is ready and the resident
memory of the processes serving them:

- before: `jsipfs init` then `jsipfs daemon` per node (how pysonar.ipfs started nodes
  until the host), all nodes at once, each paying Node's loading of js-ipfs twice;
- after: `pysonar.ipfs.start_host`, one Node process loading js-ipfs once and serving
  every node (its own repo, identity, API and swarm port) with ipfs-core and
  ipfs-http-server.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import psutil

from pysonar.ipfs import NodeSpec, find_node_modules, start_host
from sonar.supervisor import SupervisedProcess, stop_all

COUNTS = (1, 11)
READY_TIMEOUT = 180.0
_OFFLINE = {
    "Bootstrap": [],
    "Routing": {"Type": "none"},
    "Discovery": {"MDNS": {"Enabled": False}, "webRTCStar": {"Enabled": False}},
}


def jsipfs_version_seconds(jsipfs: Path) -> float:
    """How long `jsipfs --version` takes: Node loading js-ipfs's modules, nothing else."""
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as directory:
        process = SupervisedProcess.start(
            "jsipfs --version", [str(jsipfs), "--version"], log_path=Path(directory, "log")
        )
        process.process.wait()
    return time.monotonic() - began


def daemons(count: int, jsipfs: Path) -> tuple[float, int]:
    """Starts `count` jsipfs daemons the old way; returns seconds to ready and their RSS."""
    with tempfile.TemporaryDirectory(prefix="hydrogen-jsipfs-") as root:
        began = time.monotonic()
        inits = []
        for index in range(count):
            repo = Path(root, f"repo-{index}")
            inits.append(
                SupervisedProcess.start(
                    f"init-{index}",
                    [str(jsipfs), "init", "--profile", "test", "-e"],
                    log_path=Path(root, f"init-{index}.log"),
                    env={"IPFS_PATH": str(repo), "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                )
            )
        for init in inits:
            init.process.wait(timeout=READY_TIMEOUT)
        running = []
        try:
            for index in range(count):
                repo = Path(root, f"repo-{index}")
                config = json.loads((repo / "config").read_text())
                config.update(_OFFLINE)
                config["Addresses"].update(
                    API="/ip4/127.0.0.1/tcp/0",
                    Gateway="/ip4/127.0.0.1/tcp/0",
                    RPC="/ip4/127.0.0.1/tcp/0",
                    Swarm=["/ip4/127.0.0.1/tcp/0"],
                    Delegates=[],
                )
                (repo / "config").write_text(json.dumps(config))
                running.append(
                    SupervisedProcess.start(
                        f"daemon-{index}",
                        [str(jsipfs), "daemon", "--no-enable-preload"],
                        log_path=Path(root, f"daemon-{index}.log"),
                        env={
                            "IPFS_PATH": str(repo),
                            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                        },
                    )
                )
            for daemon in running:
                daemon.wait_ready(
                    lambda log: "Daemon is ready" in log or None, timeout=READY_TIMEOUT
                )
            seconds = time.monotonic() - began
            rss = sum(psutil.Process(d.pid).memory_info().rss for d in running)
        finally:
            stop_all(running, timeout=10)
    return seconds, rss


def host(count: int) -> tuple[float, int]:
    """Starts `count` nodes in one host; returns seconds to ready and the host's RSS."""
    with tempfile.TemporaryDirectory(prefix="hydrogen-host-") as root:
        specs = [NodeSpec(name=f"ipfs-{i}", repo=Path(root, f"ipfs-{i}")) for i in range(count)]
        began = time.monotonic()
        with start_host(specs, root=Path(root), ready_timeout=READY_TIMEOUT) as nodes:
            seconds = time.monotonic() - began
            rss = psutil.Process(nodes.pid).memory_info().rss
    return seconds, rss


def main() -> int:
    jsipfs = find_node_modules() / ".bin" / "jsipfs"
    print("IPFS node start-up: one jsipfs daemon per node (before) and one host (after)")
    print(f"  jsipfs --version alone (loading js-ipfs): {jsipfs_version_seconds(jsipfs):.1f} s\n")
    print(f"  {'nodes':>5}  {'how':<30} {'ready in':>9} {'RSS':>9} {'per node':>9}")
    for count in COUNTS:
        for name, start in (
            ("jsipfs init + daemon, each", lambda c=count: daemons(c, jsipfs)),
            ("one host process", lambda c=count: host(c)),
        ):
            seconds, rss = start()
            print(
                f"  {count:>5}  {name:<30} {seconds:>7.1f} s {rss / 2**20:>5.0f} MiB"
                f" {rss / count / 2**20:>5.0f} MiB",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
