"""The demo end to end: mines are paid from the escrow to the wei, and no process outlives it.

The first test drives the demo's own pieces (platform, training, report) with 3 mines and
2048-bit keys and checks the chain. The others run the demo command itself as a process,
watching every process it starts: none may be left when it ends, whether it succeeds, is
interrupted, or a mine fails to start.
"""

from __future__ import annotations

import contextlib
import json
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from pysonar import diabetes
from pysonar.crypto.keys import generate_keypair
from pysonar.data_scientist import DataScientist
from pysonar.demo.cli import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from pysonar.demo.platform import start_platform
from pysonar.demo.report import pooled_least_squares_mse, summarise
from pysonar.demo.training import TrainingOptions, train
from pysonar.formats.codec import MAX_GRADIENT_BYTES, read_gradient
from pysonar.ipfs import digest_to_cid
from pysonar.model.optimizer import PreconditionedStep
from pysonar.rows import write_csv
from sonar.chain import dev_accounts
from sonar.client import GradientAdded, ModelRepository
from sonar.supervisor import python_environment

ETH = 10**18


def test_three_mines_reach_the_target_and_share_the_bounty_to_the_wei(tmp_path: Path) -> None:
    split = diabetes.split(diabetes.load(), validation_rows=82, shard_rows=[120] * 3, seed=7)
    shards = [tmp_path / f"mine-{i}.csv" for i in range(3)]
    for shard, path in zip(split.shards, shards):
        write_csv(shard, path, diabetes.FEATURE_NAMES)
    keys = generate_keypair(2048, rng=random.Random(7))
    rule = PreconditionedStep.from_rows(split.validation.features, learning_rate=0.5, damping=1e-3)
    target = 1.02 * pooled_least_squares_mse(split.shards, split.validation)
    options = TrainingOptions(
        bounty_wei=3 * ETH,
        target_mse=target,
        learning_rate=0.5,
        weight_bound=2.0**20,
        mines=3,
        max_versions=100,
        max_seconds=120,
        round_timeout=30,
    )
    with start_platform(shards, workdir=tmp_path / "platform") as platform:
        repository = ModelRepository(platform.chain.w3, dev_accounts()[0].signer())
        with (
            platform.data_scientist_node.client() as ipfs,
            DataScientist(
                repository=repository,
                ipfs=ipfs,
                keys=keys,
                validation=split.validation,
                update_rule=rule,
            ) as scientist,
        ):
            training = train(scientist, options, feature_count=10)
            assert scientist.state is not None
            final_weights = scientist.state.weights
            # Every gradient's CID, read back from the contract's events, resolves on the
            # data scientist's node and is a gradient of this model.
            events = repository.events(next_block=0).poll()
            added = [e for e in events if isinstance(e, GradientAdded)]
            for event in added:
                data = ipfs.cat(
                    digest_to_cid(event.gradient), timeout=30, max_bytes=MAX_GRADIENT_BYTES
                )
                models = {v: m.encrypted for v, m in scientist.state.versions.items()}
                assert read_gradient(data, model=models, model_id=0).model_id == 0

        deadline = time.monotonic() + 30
        while any(repository.credit_of(m.account.address) for m in platform.mines):
            assert time.monotonic() < deadline, "the mines did not withdraw their credit"
            time.sleep(0.1)
        summary = summarise(
            repository=repository,
            training=training,
            mines={m.account.address: (m.name, s) for m, s in zip(platform.mines, split.shards)},
            validation=split.validation,
            rule=rule,
            seed=7,
            key_bits=2048,
            bounty_wei=3 * ETH,
            timings={},
            wall_seconds=0,
            final_weights=final_weights,
        )

    assert training.stopped_because == "target reached"
    assert summary.final_mse <= target
    assert summary.paid_wei + summary.refund_wei == 3 * ETH
    assert all(row.payout_wei > 0 for row in summary.mine_rows), "every mine is paid"
    assert all(row.withdrawn_wei == row.payout_wei for row in summary.mine_rows)
    assert sum(row.payout_wei for row in summary.mine_rows) == summary.paid_wei
    assert {e.submitter for e in added} == {m.address for m in summary.mine_rows}
    assert summary.max_plaintext_relative_difference <= 1e-9


# --- the demo command, as a process --------------------------------------------------------


def demo_command(*options: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pysonar.demo.cli",
        "--mines",
        "2",
        "--key-bits",
        "1024",
        *options,
    ]


def run_watched(
    command: list[str], *, env: dict[str, str] | None = None, interrupt_after: str | None = None
) -> tuple[int, str, set[int]]:
    """Runs the demo, recording every process it starts; returns its exit code, its output
    and those processes' pids. With `interrupt_after`, sends SIGINT once that is printed."""
    environment = python_environment(**(env or {}))
    seen: set[int] = set()
    output: list[str] = []
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=environment, text=True
    ) as demo:
        assert demo.stdout is not None
        reader = threading.Thread(target=lambda: output.extend(demo.stdout), daemon=True)
        reader.start()
        watched = psutil.Process(demo.pid)
        deadline = time.monotonic() + 240
        while demo.poll() is None:
            assert time.monotonic() < deadline, "the demo did not finish"
            with contextlib.suppress(psutil.NoSuchProcess):
                seen.update(child.pid for child in watched.children(recursive=True))
            if interrupt_after and interrupt_after in "".join(output):
                demo.send_signal(signal.SIGINT)
                interrupt_after = None
            time.sleep(0.05)
        reader.join(timeout=10)
    return demo.returncode, "".join(output), seen


def assert_all_gone(pids: set[int]) -> None:
    alive = [pid for pid in pids if psutil.pid_exists(pid) and _not_zombie(pid)]
    assert not alive, f"processes left running: {alive}"


def _not_zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_the_demo_command_reports_and_leaves_no_process_behind(tmp_path: Path) -> None:
    code, output, started = run_watched(demo_command("--output-dir", str(tmp_path)))

    assert code == EXIT_OK, output
    assert len(started) >= 4, "anvil, the IPFS host and two mines at least"
    assert_all_gone(started)
    assert "Mines" in output and "Validation error per version" in output
    assert f"Plot: {tmp_path / 'demo.png'}" in output
    assert (tmp_path / "demo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["paid_wei"] + summary["refund_wei"] == summary["bounty_wei"]
    assert len(summary["mine_rows"]) == 2
    assert summary["max_plaintext_relative_difference"] <= 1e-9
    assert set(summary["timings"]) >= {"chain start", "IPFS start", "mines start", "training"}


def test_the_same_seed_gives_the_same_weights_and_payouts(tmp_path: Path) -> None:
    runs = []
    for name in ("first", "second"):
        output = tmp_path / name
        code, log, _ = run_watched(demo_command("--seed", "3", "--output-dir", str(output)))
        assert code == EXIT_OK, log
        runs.append(json.loads((output / "summary.json").read_text()))
    first, second = runs

    assert first["final_weights"] == second["final_weights"]
    assert [m["payout_wei"] for m in first["mine_rows"]] == [
        m["payout_wei"] for m in second["mine_rows"]
    ]
    assert first["versions"] == second["versions"]


def test_ctrl_c_during_training_stops_every_process(tmp_path: Path) -> None:
    code, output, started = run_watched(
        demo_command("--output-dir", str(tmp_path)), interrupt_after="round 0:"
    )

    assert code == EXIT_INTERRUPTED, output
    assert "Interrupted: every process was stopped." in output
    assert len(started) >= 4
    assert_all_gone(started)


def test_a_mine_that_fails_to_start_is_named_with_its_log_and_nothing_is_left(
    tmp_path: Path,
) -> None:
    code, output, started = run_watched(
        demo_command("--output-dir", str(tmp_path)), env={"MINE_LOG_LEVEL": "chatty"}
    )

    assert code == EXIT_FAILED, output
    assert "mine-1 exited with code 1 while starting" in output
    assert "--log-level 'chatty' is not one of" in output
    assert len(started) >= 3, "anvil, the IPFS host and the mines had started"
    assert_all_gone(started)
