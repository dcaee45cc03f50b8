"""The default demo's wall time and memory: `./pants run pysonar/benchmarks:demo`.

Runs the demo command (10 mines, 2048-bit keys, the defaults) as a child process and
samples the resident memory of its whole process tree (the demo, anvil, the IPFS host and
the mines) every 100 ms; prints the peak of the sum, each kind of process's share at that
peak, and the demo's own breakdown of its wall time, against the goals (60 s, 4 GiB).
Timings on a shared machine vary from run to run; memory much less.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import psutil

from pysonar.demo import cli as demo_cli
from sonar.supervisor import python_environment

GOAL_SECONDS = 60.0
GOAL_BYTES = 4 * 2**30
SAMPLE_SECONDS = 0.1


def kind_of(process: psutil.Process) -> str:
    """Which component a process of the demo's tree is."""
    try:
        command = " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return "gone"
    if "anvil" in command:
        return "anvil"
    if "ipfs_host.mjs" in command:
        return "IPFS host"
    if "-m mine" in command:
        return "mines"
    return "other"


def measure(arguments: list[str]) -> dict[str, object]:
    """Runs the demo once; returns its wall time, peak memory and its own summary."""
    environment = python_environment()
    with tempfile.TemporaryDirectory(prefix="hydrogen-demo-benchmark-") as output:
        # -P: not the working directory first on the path (it may be a checkout).
        command = [
            sys.executable,
            "-P",
            "-m",
            demo_cli.__name__,
            "--output-dir",
            output,
            *arguments,
        ]
        began = time.monotonic()
        with subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=environment, text=True
        ) as demo:
            lines: list[str] = []
            assert demo.stdout is not None
            reader = threading.Thread(target=lambda: lines.extend(demo.stdout), daemon=True)
            reader.start()
            root = psutil.Process(demo.pid)
            peak, peak_by_kind = 0, Counter[str]()
            while demo.poll() is None:
                by_kind: Counter[str] = Counter()
                try:
                    processes = [root, *root.children(recursive=True)]
                except psutil.NoSuchProcess:
                    break
                for process in processes:
                    try:
                        rss = process.memory_info().rss
                    except psutil.NoSuchProcess:
                        continue
                    by_kind["demo" if process.pid == demo.pid else kind_of(process)] += rss
                if sum(by_kind.values()) > peak:
                    peak, peak_by_kind = sum(by_kind.values()), by_kind
                time.sleep(SAMPLE_SECONDS)
            reader.join(timeout=10)
        wall = time.monotonic() - began
        if demo.returncode != 0:
            sys.stdout.write("".join(lines))
            raise SystemExit(f"the demo failed with exit code {demo.returncode}")
        summary = json.loads(Path(output, "summary.json").read_text())
    return {"wall": wall, "peak": peak, "peak_by_kind": dict(peak_by_kind), "summary": summary}


def report(result: dict[str, object]) -> str:
    summary = result["summary"]
    assert isinstance(summary, dict)
    wall, peak = float(result["wall"]), int(result["peak"])  # type: ignore[arg-type]
    lines = [
        "Hydrogen demo benchmark (defaults: "
        f"{summary['mines']} mines, {summary['key_bits']}-bit keys, seed {summary['seed']})",
        f"  Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
        + ", ".join(f"{x:.2f}" for x in os.getloadavg()),
        "",
        "Wall time, as the demo measured it",
    ]
    for name, seconds in summary["timings"].items():
        lines.append(f"  {name:<22} {seconds:6.1f} s")
    lines.append(f"  {'the demo in all':<22} {summary['wall_seconds']:6.1f} s")
    lines.append(f"  {'the process, from exec':<22} {wall:6.1f} s")
    lines += ["", "Resident memory at the peak of the sum over the process tree"]
    for kind, rss in sorted(result["peak_by_kind"].items()):  # type: ignore[union-attr]
        lines.append(f"  {kind:<22} {rss / 2**20:8.0f} MiB")
    lines.append(f"  {'all':<22} {peak / 2**20:8.0f} MiB")
    lines += [
        "",
        f"Training: {summary['rounds']} rounds, {summary['gradients_evaluated']} gradients, "
        f"final validation MSE {summary['final_mse']:.1f} against "
        f"{summary['pooled_least_squares_mse']:.1f} for pooled least squares "
        f"(ratio {summary['final_mse'] / summary['pooled_least_squares_mse']:.3f}); "
        f"stopped: {summary['stopped_because']}",
        "",
        "Goals",
        f"  wall time <= {GOAL_SECONDS:.0f} s          "
        f"{'met' if wall <= GOAL_SECONDS else 'MISSED':<7} {wall:.1f} s",
        f"  memory <= {GOAL_BYTES / 2**30:.0f} GiB            "
        f"{'met' if peak <= GOAL_BYTES else 'MISSED':<7} {peak / 2**30:.2f} GiB",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("demo_arguments", nargs="*", help="passed to the demo (after --)")
    args = parser.parse_args(argv)
    print(report(measure(args.demo_arguments)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
