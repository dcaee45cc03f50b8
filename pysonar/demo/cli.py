"""`./pants demo`: ten data owners train the data scientist's encrypted model and are paid.

Everything runs on this machine, without a container engine: anvil with ModelRepository,
an IPFS node for the data scientist and one per mine, ten `mine` processes with their own
accounts and disjoint shards of the diabetes data (never the validation rows), and the data
scientist here, posting the model with a bounty and evaluating the mines' gradients round
after round. Then it closes the model, withdraws the refund, waits for every mine to
withdraw its credit, stops every process by pid, and reports: the payout table, the
validation error per version (encrypted and replayed in plaintext), centralised least
squares for comparison, gas and time, with a plot and a JSON summary.

    ./pants demo                        # the defaults: 10 mines, 2048-bit keys
    ./pants demo --mines 3 --seed 11 --output-dir /tmp/demo

Exit codes: 0 done; 1 a component failed (named, with the last lines of its log); 2 bad
options; 130 on Ctrl-C (after stopping everything).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from web3 import Web3

from pysonar import diabetes
from pysonar.crypto.keys import SUPPORTED_KEY_BITS, generate_keypair
from pysonar.data_scientist import DataScientist
from pysonar.demo.platform import LocalPlatform, start_platform
from pysonar.demo.report import (
    Summary,
    plot,
    pooled_least_squares_mse,
    print_report,
    summarise,
    write_json,
)
from pysonar.demo.training import RoundRecord, TrainingOptions, TrainingResult, train
from pysonar.errors import PySonarError
from pysonar.model.optimizer import PreconditionedStep
from pysonar.rows import write_csv
from sonar.chain import dev_accounts
from sonar.client import ModelRepository
from sonar.errors import SonarError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
VALIDATION_ROWS = 82
WEIGHT_BOUND = 2.0**20
WITHDRAWAL_TIMEOUT = 30.0


def _wei(ether: str) -> int:
    """An amount given in ETH, in wei, converted exactly (no float in between)."""
    try:
        return Web3.to_wei(Decimal(ether), "ether")
    except (InvalidOperation, ValueError) as error:
        raise argparse.ArgumentTypeError(f"{ether!r} is not an amount of ETH") from error


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="demo",
        description="Data owners train an encrypted linear model of the diabetes data on a "
        "local chain and IPFS network, and are paid from its bounty.",
    )
    parser.add_argument("--mines", type=int, default=10, help="data owners (default 10)")
    parser.add_argument(
        "--bounty",
        dest="bounty_wei",
        type=_wei,
        default=_wei("10"),
        metavar="ETH",
        help="(default 10)",
    )
    parser.add_argument(
        "--target-mse",
        type=float,
        default=None,
        help="validation MSE that closes the model (default: what least squares on the "
        "mines' pooled rows scores: the centralised training federated training aims for)",
    )
    parser.add_argument("--learning-rate", type=float, default=0.5, help="step size (default 0.5)")
    parser.add_argument(
        "--damping", type=float, default=1e-3, help="added to the curvature (default 1e-3)"
    )
    parser.add_argument(
        "--key-bits", type=int, default=2048, choices=SUPPORTED_KEY_BITS, help="Paillier key"
    )
    parser.add_argument(
        "--max-versions", type=int, default=100, help="stop at this model version (100)"
    )
    parser.add_argument(
        "--max-seconds", type=float, default=45.0, help="stop training after this long (45)"
    )
    parser.add_argument(
        "--round-timeout", type=float, default=15.0, help="the longest wait for a round (15)"
    )
    parser.add_argument(
        "--privacy-epsilon",
        type=float,
        default=None,
        help="every mine answers from one differentially private release of its statistics "
        "with this epsilon (default: exact statistics)",
    )
    parser.add_argument("--privacy-mechanism", choices=("gaussian", "laplace"), default="gaussian")
    parser.add_argument("--privacy-delta", type=float, default=1e-6, help="(1e-6; Gaussian)")
    parser.add_argument(
        "--clip-feature-norm",
        type=float,
        default=0.3,
        help="with --privacy-epsilon: each row's features scaled to this L2 norm (0.3)",
    )
    parser.add_argument(
        "--clip-target",
        type=float,
        default=350.0,
        help="with --privacy-epsilon: targets clipped to [-this, this] (350)",
    )
    parser.add_argument("--seed", type=int, default=7, help="of the split and keys (7)")
    parser.add_argument(
        "--output-dir", type=Path, default=Path("dist/demo"), help="report (dist/demo)"
    )
    parser.add_argument(
        "--keep-workdir", action="store_true", help="keep the logs, keys and mines' state"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.mines <= 30:
        parser.error("--mines must be between 1 and 30")
    if not 0 < args.learning_rate <= 1:
        parser.error("--learning-rate must be in (0, 1]")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Wide enough for the tables when the output is a file or a pipe (rich assumes 80).
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    began = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="hydrogen-demo-"))
    try:
        summary = run(args, console, workdir, began)
        args.output_dir.mkdir(parents=True, exist_ok=True)
        summary_path, plot_path = args.output_dir / "summary.json", args.output_dir / "demo.png"
        write_json(summary, summary_path)
        plot(summary, plot_path)
        print_report(console, summary)
        console.print(f"Plot: {plot_path}\nSummary: {summary_path}")
        return EXIT_OK
    except KeyboardInterrupt:
        console.print("Interrupted: every process was stopped.")
        return EXIT_INTERRUPTED
    except (SonarError, PySonarError) as error:  # a component did not start, or a call failed
        console.print(f"[red]error:[/] {error}")
        return EXIT_FAILED
    finally:
        if args.keep_workdir:
            console.print(f"Logs, keys and state kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def run(args: argparse.Namespace, console: Console, workdir: Path, began: float) -> Summary:
    """Starts the platform, trains, settles, stops everything; returns the summary."""
    timings: dict[str, float] = {}
    step = time.monotonic()
    data = diabetes.load()
    rows = (data.row_count - VALIDATION_ROWS) // args.mines
    split = diabetes.split(
        data, validation_rows=VALIDATION_ROWS, shard_rows=[rows] * args.mines, seed=args.seed
    )
    (workdir / "shards").mkdir()
    shard_files = [workdir / "shards" / f"mine-{i}.csv" for i in range(1, args.mines + 1)]
    for shard, path in zip(split.shards, shard_files):
        write_csv(shard, path, diabetes.FEATURE_NAMES)
    keys = generate_keypair(args.key_bits, rng=random.Random(args.seed))
    target = args.target_mse or pooled_least_squares_mse(split.shards, split.validation)
    timings["data and keys"] = time.monotonic() - step
    console.print(
        f"Hydrogen demo: {args.mines} mines of {rows} rows, {VALIDATION_ROWS} validation "
        f"rows, a {args.key_bits}-bit Paillier key, seed {args.seed}"
    )
    with console.status("Starting the chain, the IPFS nodes and the mines..."):
        platform = start_platform(
            shard_files,
            workdir=workdir / "platform",
            accept_key_bits=sorted({args.key_bits, 2048, 3072}),
            mine_options=_privacy_options(args),
        )
    with platform:
        timings.update(platform.timings)
        console.print(_describe(platform))
        rule = PreconditionedStep.from_rows(
            split.validation.features, learning_rate=args.learning_rate, damping=args.damping
        )
        options = TrainingOptions(
            bounty_wei=args.bounty_wei,
            target_mse=target,
            learning_rate=args.learning_rate,
            weight_bound=WEIGHT_BOUND,
            mines=args.mines,
            max_versions=args.max_versions,
            max_seconds=args.max_seconds,
            round_timeout=args.round_timeout,
        )
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
            training = _train_with_progress(console, scientist, options)
            assert scientist.state is not None
            final_weights = scientist.state.weights
        timings["training"] = training.seconds
        console.print(f"Training stopped: {training.stopped_because}.")
        step = time.monotonic()
        _wait_for_withdrawals(platform, repository)
        timings["settlement"] = time.monotonic() - step
        summary = summarise(
            repository=repository,
            training=training,
            mines={m.account.address: (m.name, s) for m, s in zip(platform.mines, split.shards)},
            validation=split.validation,
            rule=rule,
            seed=args.seed,
            key_bits=args.key_bits,
            bounty_wei=options.bounty_wei,
            timings=timings,
            wall_seconds=0.0,
            final_weights=final_weights,
        )
    timings["shutdown"] = platform.timings["shutdown"]
    return dataclasses.replace(summary, timings=timings, wall_seconds=time.monotonic() - began)


def _privacy_options(args: argparse.Namespace) -> list[str]:
    """The mines' options for their differential-privacy budget, if one was asked for."""
    if args.privacy_epsilon is None:
        return []
    return [
        "--privacy-epsilon", repr(args.privacy_epsilon),
        "--privacy-mechanism", args.privacy_mechanism,
        "--privacy-delta", repr(args.privacy_delta),
        "--clip-feature-norm", repr(args.clip_feature_norm),
        "--clip-target", repr(args.clip_target),
    ]  # fmt: skip


def _train_with_progress(
    console: Console, scientist: DataScientist, options: TrainingOptions
) -> TrainingResult:
    columns = (
        TextColumn("version {task.fields[version]}"),
        BarColumn(),
        TextColumn(
            "{task.fields[received]} gradients received, {task.fields[evaluated]} evaluated; "
            "MSE {task.fields[mse]:,.1f} (target {task.fields[target]:,.1f})"
        ),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(
            "training", total=1.0, version=0, received=0, evaluated=0, mse=0.0,
            target=options.target_mse,
        )  # fmt: skip
        evaluated = 0
        initial: list[float] = []

        def on_round(scientist: DataScientist, record: RoundRecord | None) -> None:
            nonlocal evaluated
            state = scientist.state
            assert state is not None
            if not initial:
                initial.append(state.best_mse)
            evaluated += len(record.reviews) if record else 0
            gained = (initial[0] - state.best_mse) / (initial[0] - options.target_mse)
            progress.update(
                task,
                completed=min(max(gained, 0.0), 1.0),
                version=state.version,
                received=scientist.received,
                evaluated=evaluated,
                mse=state.best_mse,
            )
            if record is not None:
                paid = sum(1 for review in record.reviews if review.payout)
                progress.console.print(
                    f"round {record.index}: {len(record.reviews)} gradients against version "
                    f"{record.base_version}, {paid} paid; version {record.version}, validation "
                    f"MSE {record.mse:,.1f} (target {options.target_mse:,.1f}), "
                    f"{record.seconds:.1f} s"
                )

        return train(scientist, options, feature_count=10, on_round=on_round)


def _wait_for_withdrawals(platform: LocalPlatform, repository: ModelRepository) -> None:
    """Waits until every mine has withdrawn its credit (each does once the model closes)."""
    deadline = time.monotonic() + WITHDRAWAL_TIMEOUT
    owed = [m.account.address for m in platform.mines]
    while owed and time.monotonic() < deadline:
        owed = [address for address in owed if repository.credit_of(address)]
        time.sleep(0.1 if owed else 0)


def _describe(platform: LocalPlatform) -> str:
    lines = [
        f"Chain   {platform.chain.rpc_url} (anvil pid {platform.chain.pid}), ModelRepository "
        f"at {platform.chain.contract_address}",
        f"IPFS    {len(platform.ipfs)} nodes in one host process (pid {platform.ipfs.pid}); "
        f"the data scientist's at {platform.data_scientist_node.api_url}",
    ]
    for mine in platform.mines:
        lines.append(
            f"{mine.name:<7} {mine.account.address}  pid {mine.process.pid}  "
            f"IPFS {mine.node.api_url}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
