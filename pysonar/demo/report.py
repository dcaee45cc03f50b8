"""The demo's report: payouts per mine, error per version, gas and time; a JSON file and a plot.

Everything about money and gradients is read back from the chain (events and receipts),
not from the data scientist's memory. Two references are computed beside the training:

- the plaintext replay: the same gradients, computed in plaintext from each mine's rows at
  the weights of the version they answered, applied by the same update rule in the same
  order. Its validation error per version must match the encrypted path's to 1e-9
  (relative): the encryption changes nothing but who can read the numbers;
- centralised training: least squares fitted on the mines' rows pooled (the same fit as
  scikit-learn's `LinearRegression`), scored on the same validation rows: the accuracy
  federated training aims for.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from web3 import Web3

from pysonar.demo.training import TrainingResult
from pysonar.model.error_scale import contract_to_mse
from pysonar.model.linear_regression import (
    least_squares,
    mean_squared_error,
    plaintext_gradient,
)
from pysonar.model.optimizer import UpdateRule
from pysonar.rows import Shard
from sonar.client import GradientAdded, ModelRepository, Withdrawn

WEI_PER_ETH = 10**18


@dataclass(frozen=True)
class MineRow:
    """One mine's part: what it submitted, what it was paid, what it withdrew."""

    name: str
    address: str
    rows: int
    submitted: int
    paid_gradients: int
    payout_wei: int
    withdrawn_wei: int


@dataclass(frozen=True)
class VersionRow:
    """One version of the weights: its validation error, encrypted and replayed in plaintext."""

    version: int
    round: int
    mse: float
    plaintext_mse: float
    mine: str
    payout_wei: int


@dataclass(frozen=True)
class Summary:
    """Everything the demo reports, as written to summary.json."""

    seed: int
    mines: int
    key_bits: int
    validation_rows: int
    bounty_wei: int
    paid_wei: int
    refund_wei: int
    initial_mse: float
    target_mse: float
    final_mse: float
    pooled_least_squares_mse: float
    stopped_because: str
    rounds: int
    gradients_submitted: int
    gradients_evaluated: int
    max_plaintext_relative_difference: float
    versions: list[VersionRow]
    mine_rows: list[MineRow]
    gas_by_function: dict[str, int]
    total_gas: int
    timings: dict[str, float]
    wall_seconds: float
    final_weights: list[float]


def summarise(
    *,
    repository: ModelRepository,
    training: TrainingResult,
    mines: Mapping[str, tuple[str, Shard]],
    validation: Shard,
    rule: UpdateRule,
    seed: int,
    key_bits: int,
    bounty_wei: int,
    timings: Mapping[str, float],
    wall_seconds: float,
    final_weights: np.ndarray,
) -> Summary:
    """Builds the summary from the chain and the training's reviews.

    Parameters:
        mines: each mine's address mapped to its name and its rows.
    """
    events = repository.events(next_block=0).poll_to_head()
    submitted = Counter(e.submitter for e in events if isinstance(e, GradientAdded))
    withdrawn = Counter()
    for event in events:
        if isinstance(event, Withdrawn):
            withdrawn[event.account] += event.amount
    reviews = training.reviews
    names = {address: name for address, (name, _) in mines.items()}
    mine_rows = [
        MineRow(
            name=name,
            address=address,
            rows=shard.row_count,
            submitted=submitted[address],
            paid_gradients=sum(1 for r in reviews if r.submitter == address and r.payout > 0),
            payout_wei=sum(r.payout for r in reviews if r.submitter == address),
            withdrawn_wei=withdrawn[address],
        )
        for address, (name, shard) in mines.items()
    ]
    versions = _versions(training, {a: s for a, (_, s) in mines.items()}, validation, rule, names)
    differences = [
        abs(v.mse - v.plaintext_mse) / v.plaintext_mse for v in versions if v.plaintext_mse
    ]
    pooled = pooled_least_squares_mse([shard for _, shard in mines.values()], validation)
    gas = _gas_by_function(repository)
    return Summary(
        seed=seed,
        mines=len(mines),
        key_bits=key_bits,
        validation_rows=validation.row_count,
        bounty_wei=bounty_wei,
        paid_wei=training.paid_wei,
        refund_wei=training.refund_wei,
        initial_mse=training.initial_mse,
        target_mse=training.target_mse,
        final_mse=versions[-1].mse if versions else training.initial_mse,
        pooled_least_squares_mse=pooled,
        stopped_because=training.stopped_because,
        rounds=len(training.rounds),
        gradients_submitted=sum(submitted.values()),
        gradients_evaluated=len(reviews),
        max_plaintext_relative_difference=max(differences, default=0.0),
        versions=versions,
        mine_rows=mine_rows,
        gas_by_function=gas,
        total_gas=sum(gas.values()),
        timings=dict(timings),
        wall_seconds=wall_seconds,
        final_weights=[float(w) for w in final_weights],
    )


def _versions(
    training: TrainingResult,
    shards: Mapping[str, Shard],
    validation: Shard,
    rule: UpdateRule,
    names: Mapping[str, str],
) -> list[VersionRow]:
    """Replays the accepted gradients in plaintext beside the encrypted path's errors."""
    features, targets = validation.features, validation.targets
    plain = {0: np.asarray(training.initial_weights, dtype=np.float64)}
    current = plain[0]
    rows = [
        VersionRow(
            0, -1, training.initial_mse, mean_squared_error(current, features, targets), "", 0
        )
    ]
    for record in training.rounds:
        for review in record.reviews:
            if not review.improved:
                continue
            shard = shards[review.submitter]
            against = plain[review.computed_against]
            step = plaintext_gradient(against, shard.features, shard.targets)
            current = rule.step(current, step, against)
            plain[review.version] = current
            rows.append(
                VersionRow(
                    version=review.version,
                    round=record.index,
                    mse=contract_to_mse(review.error),
                    plaintext_mse=mean_squared_error(current, features, targets),
                    mine=names.get(review.submitter, review.submitter),
                    payout_wei=review.payout,
                )
            )
    return rows


def pooled_least_squares_mse(shards: Sequence[Shard], validation: Shard) -> float:
    """The validation MSE of least squares fitted on the shards' rows pooled: centralised
    training, which federated training aims to match."""
    pooled_x = np.vstack([shard.features for shard in shards])
    pooled_y = np.concatenate([shard.targets for shard in shards])
    weights = least_squares(pooled_x, pooled_y)
    return mean_squared_error(weights, validation.features, validation.targets)


def _gas_by_function(repository: ModelRepository) -> dict[str, int]:
    """Gas of every transaction on the chain (all of them the demo's), by function called."""
    w3: Web3 = repository.w3
    selectors = {
        bytes(Web3.keccak(text=_signature(entry))[:4]): entry["name"]
        for entry in repository.artifact.abi
        if entry.get("type") == "function"
    }
    gas: Counter[str] = Counter()
    for number in range(1, w3.eth.block_number + 1):
        block = w3.eth.get_block(number, full_transactions=True)
        for transaction in block["transactions"]:
            receipt = w3.eth.get_transaction_receipt(transaction["hash"])
            name = selectors.get(bytes(transaction["input"][:4]), "other")
            gas[name] += receipt["gasUsed"]
    return dict(sorted(gas.items()))


def _signature(entry: Mapping) -> str:
    return f"{entry['name']}({','.join(argument['type'] for argument in entry['inputs'])})"


def _unevaluated(summary: Summary) -> str:
    if summary.gradients_evaluated == summary.gradients_submitted:
        return ""
    if summary.stopped_because == "target reached":
        return " (the others came after the gradient that reached the target, which closed it)"
    return " (the others were still pending when training stopped)"


def write_json(summary: Summary, path: Path) -> None:
    path.write_text(json.dumps(asdict(summary), indent=2) + "\n")


def plot(summary: Summary, path: Path) -> None:
    """Validation error per version, and each mine's cumulative payout, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display: write files only
    from matplotlib import pyplot

    figure, (errors, payouts) = pyplot.subplots(1, 2, figsize=(13, 5), dpi=110)
    versions = [v.version for v in summary.versions]
    errors.plot(versions, [v.plaintext_mse for v in summary.versions], "-", color="0.6",
                label="plaintext replay")  # fmt: skip
    errors.plot(versions, [v.mse for v in summary.versions], "o", color="tab:blue",
                label="encrypted training (mines' gradients)")  # fmt: skip
    errors.axhline(summary.target_mse, color="tab:red", linestyle="--", label="target")
    errors.axhline(summary.pooled_least_squares_mse, color="tab:green", linestyle=":",
                   label="least squares on the pooled rows")  # fmt: skip
    errors.set_yscale("log")
    errors.set_xlabel("model version")
    errors.set_ylabel("validation MSE")
    errors.set_title(f"Validation error per version ({summary.validation_rows} rows)")
    errors.legend()
    for row in summary.mine_rows:
        paid = np.cumsum(
            [v.payout_wei / WEI_PER_ETH if v.mine == row.name else 0.0 for v in summary.versions]
        )
        payouts.step(versions, paid, where="post", label=row.name)
    # The first improvements from zero weights earn most: a log scale keeps the rest visible.
    payouts.set_yscale("symlog", linthresh=1e-3)
    payouts.set_xlabel("model version")
    payouts.set_ylabel("cumulative payout (ETH)")
    payouts.set_title(f"Payout per mine (bounty {summary.bounty_wei / WEI_PER_ETH:g} ETH)")
    payouts.legend(fontsize="small", ncol=2)
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)


def print_report(console: Console, summary: Summary) -> None:
    """The payout table, the error per version, the comparison, gas and time."""
    mines = Table(title="Mines")
    for column in ("mine", "address", "rows", "gradients", "paid", "payout (ETH)", "withdrawn"):
        mines.add_column(column, justify="left" if column in ("mine", "address") else "right")
    for row in summary.mine_rows:
        mines.add_row(
            row.name,
            row.address,
            str(row.rows),
            str(row.submitted),
            str(row.paid_gradients),
            f"{row.payout_wei / WEI_PER_ETH:.6f}",
            f"{row.withdrawn_wei / WEI_PER_ETH:.6f}",
        )
    mines.add_section()
    mines.add_row(
        "all",
        "",
        str(sum(r.rows for r in summary.mine_rows)),
        str(sum(r.submitted for r in summary.mine_rows)),
        str(sum(r.paid_gradients for r in summary.mine_rows)),
        f"{summary.paid_wei / WEI_PER_ETH:.6f}",
        f"{sum(r.withdrawn_wei for r in summary.mine_rows) / WEI_PER_ETH:.6f}",
    )
    console.print(mines)

    versions = Table(title="Validation error per version")
    for column in (
        "version",
        "round",
        "mine",
        "MSE (encrypted)",
        "MSE (plaintext)",
        "payout (ETH)",
    ):
        versions.add_column(column, justify="right")
    for v in summary.versions:
        versions.add_row(
            str(v.version),
            "" if v.round < 0 else str(v.round),
            v.mine,
            f"{v.mse:,.3f}",
            f"{v.plaintext_mse:,.3f}",
            f"{v.payout_wei / WEI_PER_ETH:.6f}",
        )
    console.print(versions)

    ratio = summary.final_mse / summary.pooled_least_squares_mse
    console.print(
        f"Final validation MSE {summary.final_mse:,.1f} (encrypted, federated) against "
        f"{summary.pooled_least_squares_mse:,.1f} for least squares on the pooled rows "
        f"(centralised): ratio {ratio:.3f}. Target {summary.target_mse:,.1f}; "
        f"stopped: {summary.stopped_because}, after {summary.rounds} round(s); "
        f"{summary.gradients_evaluated} of the {summary.gradients_submitted} gradients "
        f"submitted were evaluated{_unevaluated(summary)}."
    )
    console.print(
        f"Plaintext replay: largest relative difference of the validation MSE per version "
        f"{summary.max_plaintext_relative_difference:.1e}."
    )
    balanced = summary.paid_wei + summary.refund_wei == summary.bounty_wei
    console.print(
        f"Bounty {summary.bounty_wei / WEI_PER_ETH:g} ETH = paid {summary.paid_wei} wei + "
        f"refund {summary.refund_wei} wei ({'exact' if balanced else 'MISMATCH'})."
    )
    gas = ", ".join(f"{name} {used:,}" for name, used in summary.gas_by_function.items())
    console.print(f"Gas: {summary.total_gas:,} in all ({gas}).")
    times = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in summary.timings.items())
    console.print(f"Wall time {summary.wall_seconds:.1f} s: {times}.")
