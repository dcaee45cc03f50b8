"""Deals the diabetes rows and development accounts to the compose platform's parties.

The compose file's one-shot `deal` service runs this once, before any mine starts, with
one volume per party mounted under `--out`:

- `mine-<i>/rows.csv` and `mine-<i>/account.key`: mine i's own rows (never a validation
  row) and the key of development account i; each volume is mounted read-only by that
  mine alone;
- `scientist/validation.csv` and `scientist/account.key`: the data scientist's held-out
  rows and development account 0;
- `scientist/reference.json`: what least squares on the mines' pooled rows scores on the
  validation rows. Only a demo can know it (nobody holds the pooled rows); the notebook
  takes it as the target, the yardstick federated training is measured against.

The split is the demo's (`pysonar.diabetes.split`, seeded), so every run deals the same
rows; files are written atomically with mode 600 (`pysonar.private_file`) and, run as
root, handed to `--owner`, the uid:gid the other containers run as. The keys are
WELL-KNOWN DEVELOPMENT KEYS from anvil's test mnemonic: a real deployment gives each party
its own key instead.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pysonar import diabetes
from pysonar.demo.report import pooled_least_squares_mse
from pysonar.private_file import write_private_file
from pysonar.rows import csv_text
from sonar.chain import dev_accounts

VALIDATION_ROWS = 82
DEFAULT_SEED = 7
MAX_MINES = 30


@dataclass(frozen=True)
class Ownership:
    """Who the dealt files belong to (the uid and gid the services run as)."""

    uid: int
    gid: int

    @classmethod
    def parse(cls, text: str) -> Ownership:
        uid, _, gid = text.partition(":")
        try:
            return cls(int(uid), int(gid or uid))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not uid:gid") from None


def deal(out: Path, *, mines: int, seed: int, owner: Ownership | None = None) -> list[Path]:
    """Writes every party's files under `out`; returns the paths written, in order."""
    data = diabetes.load()
    rows = (data.row_count - VALIDATION_ROWS) // mines
    split = diabetes.split(
        data, validation_rows=VALIDATION_ROWS, shard_rows=[rows] * mines, seed=seed
    )
    accounts = dev_accounts(mines + 1)
    written: list[Path] = []

    def write(path: Path, text: str) -> None:
        # Created 0600 and renamed into place; handed over before any service starts.
        write_private_file(path, text.encode("utf-8"))
        if owner is not None:
            os.chown(path, owner.uid, owner.gid)
        written.append(path)

    for index, shard in enumerate(split.shards, start=1):
        directory = _directory(out / f"mine-{index}", owner)
        write(directory / "rows.csv", csv_text(shard, diabetes.FEATURE_NAMES))
        write(directory / "account.key", accounts[index].private_key + "\n")
    scientist = _directory(out / "scientist", owner)
    write(scientist / "validation.csv", csv_text(split.validation, diabetes.FEATURE_NAMES))
    write(scientist / "account.key", accounts[0].private_key + "\n")
    reference = {
        "pooled_least_squares_mse": pooled_least_squares_mse(split.shards, split.validation),
        "mines": mines,
        "rows_per_mine": rows,
        "validation_rows": VALIDATION_ROWS,
        "seed": seed,
    }
    write(scientist / "reference.json", json.dumps(reference, indent=2) + "\n")
    return written


def _directory(path: Path, owner: Ownership | None) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if owner is not None:
        os.chown(path, owner.uid, owner.gid)
    path.chmod(0o700)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="deal",
        description="Writes each mine's rows and key, and the data scientist's validation "
        "rows and key, for the compose platform (WELL-KNOWN DEVELOPMENT KEYS).",
    )
    parser.add_argument("--out", type=Path, required=True, help="one directory per party")
    parser.add_argument("--mines", type=int, default=10, help="data owners (default 10)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="of the split (7)")
    parser.add_argument(
        "--owner", type=Ownership.parse, default=None, help="uid:gid to give the files to"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.mines <= MAX_MINES:
        parser.error(f"--mines must be between 1 and {MAX_MINES}")
    for path in deal(args.out, mines=args.mines, seed=args.seed, owner=args.owner):
        print(f"wrote {path}", flush=True)
    accounts = dev_accounts(args.mines + 1)
    for index in range(1, args.mines + 1):
        print(f"mine-{index}: account {accounts[index].address}", flush=True)
    print(f"data scientist: account {accounts[0].address}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
