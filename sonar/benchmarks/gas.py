"""Gas used by each ModelRepository function on anvil, case by case, against the goals.

`./pants run sonar/benchmarks:gas`. Gas is deterministic for a given compiler, settings
and hardfork, so one run suffices; the machine's load does not change it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from sonar.chain import AnvilChain
from sonar.chain.anvil_chain import HARDFORK
from sonar.client import ModelRepository

ETH = 10**18
CID = bytes.fromhex("66" * 32)
GOALS = {"addModel": 120_000, "addGradient": 60_000, "evalGradient": 70_000}
# The original OpenMined contract (solc 0.4.18, optimized) on anvil 1.7.1, as measured for
# the design brief: addModel 228k-245k, addGradient 109k-126k, a paying evalGradient 137k.
ORIGINAL = {"addModel": "228k-245k", "addGradient": "109k-126k", "evalGradient": "137k"}


@dataclass(frozen=True)
class Row:
    function: str
    case: str
    gas: int


def measure(chain: AnvilChain) -> list[Row]:
    signers = [account.signer() for account in chain.accounts]
    repository = ModelRepository(chain.w3)
    owner, mines = repository.as_account(signers[0]), [
        repository.as_account(s) for s in signers[1:]
    ]
    rows: list[Row] = []

    def record(function: str, case: str, event: object) -> None:
        rows.append(Row(function, case, repository.gas_used(event)))  # type: ignore[arg-type]

    first = owner.add_model(CID, initial_error=10_000, target_error=1_000, bounty=9 * ETH)
    record("addModel", "first model ever (model counter 0 -> 1)", first)
    model = owner.add_model(CID, initial_error=10_000, target_error=1_000, bounty=9 * ETH)
    record("addModel", "any later model", model)

    g1 = mines[0].add_gradient(model.model_id, CID)
    record("addGradient", "first gradient of the model", g1)
    g2 = mines[1].add_gradient(model.model_id, CID)
    record("addGradient", "later gradient, same version", g2)

    e1 = owner.eval_gradient(g1.gradient_id, new_error=9_000, weights=CID)
    record("evalGradient", "pays a submitter with no credit yet", e1.evaluated)
    e2 = owner.eval_gradient(g2.gradient_id, new_error=9_500, weights=CID)
    record("evalGradient", "no improvement: pays nothing", e2.evaluated)
    g3 = mines[0].add_gradient(model.model_id, CID)
    e3 = owner.eval_gradient(g3.gradient_id, new_error=8_000, weights=CID)
    record("evalGradient", "pays a submitter that holds credit", e3.evaluated)
    g4 = mines[2].add_gradient(model.model_id, CID)
    e4 = owner.eval_gradient(g4.gradient_id, new_error=500, weights=CID)
    record("evalGradient", "reaches the target: pays, closes, refunds", e4.evaluated)

    # A round of nine gradients in one transaction, as the demo evaluates them (4 pay, 5 do
    # not), per gradient, beside the same outcomes evaluated one transaction each.
    errors = [9_000, 9_500, 8_500, 9_000, 8_000, 8_200, 7_500, 7_900, 7_600]
    batch_model = owner.add_model(CID, initial_error=10_000, target_error=1_000, bounty=9 * ETH)
    ids = [m.add_gradient(batch_model.model_id, CID).gradient_id for m in mines]
    batch = owner.eval_gradients(batch_model.model_id, [(i, e, CID) for i, e in zip(ids, errors)])
    rows.append(Row("evalGradients", "9 gradients, 4 paying: per gradient", batch.gas_used // 9))
    single_model = owner.add_model(CID, initial_error=10_000, target_error=1_000, bounty=9 * ETH)
    single_ids = [m.add_gradient(single_model.model_id, CID).gradient_id for m in mines]
    single_gas = sum(
        repository.gas_used(owner.eval_gradient(i, new_error=e, weights=CID).evaluated)
        for i, e in zip(single_ids, errors)
    )
    rows.append(Row("evalGradient", "the same 9 one by one: per gradient", single_gas // 9))

    closed = owner.close_model(first.model_id)
    record("closeModel", "owner closes, refund credited", closed)
    record("withdraw", "pays out a credit", mines[0].withdraw())

    # Views: the original scanned every gradient ever stored (+2,486 gas per gradient).
    functions = repository.contract.functions
    before = functions.getModel(model.model_id).estimate_gas()
    third = owner.add_model(CID, initial_error=10_000, target_error=1_000, bounty=ETH)
    for mine in mines:
        mine.add_gradient(third.model_id, CID)
    after = functions.getModel(model.model_id).estimate_gas()
    rows.append(Row("getModel (view)", "before adding 9 more gradients", before))
    rows.append(Row("getModel (view)", "after", after))
    return rows


def table(rows: list[Row]) -> str:
    lines = [
        f"{'function':<17} {'case':<44} {'gas':>8}  {'goal':>8}  {'':<6} original",
        "-" * 100,
    ]
    for row in rows:
        goal = GOALS.get(row.function)
        verdict = "" if goal is None else ("met" if row.gas <= goal else "MISSED")
        lines.append(
            f"{row.function:<17} {row.case:<44} {row.gas:>8,}  "
            f"{f'{goal:,}' if goal else '':>8}  {verdict:<6} {ORIGINAL.get(row.function, '')}"
        )
    return "\n".join(lines)


def main() -> int:
    with AnvilChain() as chain:
        version = chain.w3.client_version
        rows = measure(chain)
    print(f"ModelRepository gas on {version}, hardfork {HARDFORK}, solc optimizer 200 runs\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
