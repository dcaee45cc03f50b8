"""What differential privacy costs: `./pants run pysonar/benchmarks:privacy`.

Runs the real demo (anvil, js-ipfs, ten mine processes, encrypted training) once per
epsilon and seed, every mine answering from one (epsilon, delta) release of its clipped
statistics (`pysonar.model.privacy`, Gaussian noise, delta 1e-6, features clipped to L2
norm 0.3, targets to 350), and once without noise. Prints, per epsilon, the final
validation MSE averaged over the seeds against least squares on the pooled rows, how many
mines were paid and what mine-1 was paid; writes the table as JSON and a PNG plot of the
error against epsilon to `--output-dir`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from pysonar.demo import cli as demo_cli
from sonar.supervisor import python_environment

ETH = 10**18


@dataclass(frozen=True)
class Run:
    """One demo run's outcome."""

    epsilon: float | None
    seed: int
    final_mse: float
    pooled_mse: float
    initial_mse: float
    mines_paid: int
    mine_1_payout_eth: float
    stopped_because: str
    seconds: float


def run_demo(epsilon: float | None, seed: int, max_seconds: float, mines: int) -> Run:
    """Runs the demo command once and reads its summary."""
    privacy = [] if epsilon is None else ["--privacy-epsilon", repr(epsilon)]
    with tempfile.TemporaryDirectory(prefix="hydrogen-privacy-benchmark-") as output:
        command = [
            sys.executable, "-P", "-m", demo_cli.__name__,
            "--output-dir", output,
            "--seed", str(seed),
            "--max-seconds", str(max_seconds),
            "--mines", str(mines),
            *privacy,
        ]  # fmt: skip
        began = time.monotonic()
        result = subprocess.run(
            command, env=python_environment(), capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"the demo failed ({' '.join(command)}):\n{result.stdout[-3000:]}")
        summary = json.loads(Path(output, "summary.json").read_text())
    payouts = {row["name"]: row["payout_wei"] for row in summary["mine_rows"]}
    return Run(
        epsilon=epsilon,
        seed=seed,
        final_mse=summary["final_mse"],
        pooled_mse=summary["pooled_least_squares_mse"],
        initial_mse=summary["initial_mse"],
        mines_paid=sum(1 for wei in payouts.values() if wei > 0),
        mine_1_payout_eth=payouts["mine-1"] / ETH,
        stopped_because=summary["stopped_because"],
        seconds=time.monotonic() - began,
    )


def label(epsilon: float | None) -> str:
    return "no noise" if epsilon is None else f"{epsilon:g}"


def table(runs: list[Run], epsilons: list[float | None]) -> list[dict[str, object]]:
    rows = []
    for epsilon in epsilons:
        mine = [r for r in runs if r.epsilon == epsilon]
        mses = [r.final_mse for r in mine]
        rows.append(
            {
                "epsilon": label(epsilon),
                "final_mse_mean": statistics.fmean(mses),
                "final_mse_sd": statistics.stdev(mses) if len(mses) > 1 else 0.0,
                "ratio_to_pooled": statistics.fmean(r.final_mse / r.pooled_mse for r in mine),
                "mines_paid_mean": statistics.fmean(r.mines_paid for r in mine),
                "mine_1_payout_eth_mean": statistics.fmean(r.mine_1_payout_eth for r in mine),
                "runs": len(mine),
            }
        )
    return rows


def plot(rows: list[dict[str, object]], runs: list[Run], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    noisy = [r for r in rows if r["epsilon"] != "no noise"]
    exact = next((r for r in rows if r["epsilon"] == "no noise"), None)
    figure, (errors, payouts) = pyplot.subplots(1, 2, figsize=(12, 4.5), dpi=110)
    x = [float(str(r["epsilon"])) for r in noisy]
    errors.errorbar(
        x,
        [r["final_mse_mean"] for r in noisy],
        yerr=[r["final_mse_sd"] for r in noisy],
        marker="o",
        capsize=3,
        label="mines with differential privacy",
    )
    if exact is not None:
        errors.axhline(exact["final_mse_mean"], color="tab:blue", linestyle="--", label="no noise")
    errors.axhline(statistics.fmean(r.pooled_mse for r in runs), color="tab:green",
                   linestyle=":", label="least squares, pooled rows")  # fmt: skip
    errors.axhline(statistics.fmean(r.initial_mse for r in runs), color="0.6",
                   linestyle="-.", label="initial model (the mean)")  # fmt: skip
    errors.set(xscale="log", xlabel="epsilon (one release per mine, delta 1e-6)",
               ylabel="final validation MSE", title="Accuracy against privacy")  # fmt: skip
    errors.legend()
    payouts.plot(x, [r["mine_1_payout_eth_mean"] for r in noisy], marker="o", label="mine-1")
    if exact is not None:
        payouts.axhline(exact["mine_1_payout_eth_mean"], linestyle="--", label="mine-1, no noise")
    payouts.set(xscale="log", xlabel="epsilon", ylabel="ETH (of a 10 ETH bounty)",
                title="What one mine is paid")  # fmt: skip
    payouts.legend()
    figure.tight_layout()
    figure.savefig(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="privacy-benchmark", description=__doc__)
    parser.add_argument(
        "--epsilons",
        default="0.5,1,2,4,8,64,512,4096",
        help="comma-separated (0.5,1,2,4,8 and, to see where accuracy returns, 64,512,4096)",
    )
    parser.add_argument("--mines", type=int, default=10, help="as the demo's (10)")
    parser.add_argument("--seeds", type=int, default=2, help="demo runs per epsilon (2)")
    parser.add_argument("--max-seconds", type=float, default=30.0, help="per run's training")
    parser.add_argument("--output-dir", type=Path, default=Path("dist/benchmarks/privacy"))
    args = parser.parse_args(argv)
    epsilons: list[float | None] = [float(e) for e in args.epsilons.split(",")] + [None]
    runs = []
    for epsilon in epsilons:
        for seed in range(7, 7 + args.seeds):
            run = run_demo(epsilon, seed, args.max_seconds, args.mines)
            runs.append(run)
            print(
                f"epsilon {label(epsilon):>8}, seed {seed}: final MSE {run.final_mse:8.1f}, "
                f"{run.mines_paid} mines paid, mine-1 {run.mine_1_payout_eth:.3f} ETH "
                f"({run.stopped_because}; {run.seconds:.0f} s)",
                flush=True,
            )
    rows = table(runs, epsilons)
    print()
    print(f"{'epsilon':>9} {'final MSE':>10} {'sd':>7} {'/ pooled':>9} {'mines paid':>11} "
          f"{'mine-1 ETH':>11}")  # fmt: skip
    for row in rows:
        print(
            f"{row['epsilon']:>9} {row['final_mse_mean']:10.1f} {row['final_mse_sd']:7.1f} "
            f"{row['ratio_to_pooled']:9.3f} {row['mines_paid_mean']:11.1f} "
            f"{row['mine_1_payout_eth_mean']:11.3f}"
        )
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "privacy.json").write_text(
        json.dumps({"rows": rows, "runs": [asdict(r) for r in runs]}, indent=2) + "\n"
    )
    plot(rows, runs, args.output_dir / "privacy.png")
    print(f"\nTable and runs: {args.output_dir / 'privacy.json'}; plot: "
          f"{args.output_dir / 'privacy.png'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
