"""Random sequences of calls from several accounts never break the escrow's invariants.

A Hypothesis state machine drives addModel / addGradient / evalGradient / evalGradients /
closeModel / withdraw from four accounts, predicting each outcome (the revert, or the payout to the
wei) with a reference model in Python. After every step it checks, against the chain:

- for every model, paid + remaining + refunded == bounty;
- the contract's balance == the sum of outstanding credits + the escrow of open models;
- every account's credit is what the reference model says: in particular no call path lets
  anyone but a model's owner evaluate it, close it or take its refund.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from sonar.chain import LocalChain
from sonar.client import (
    ContractRevert,
    GradientAlreadyEvaluated,
    GradientAlreadySubmitted,
    InvalidErrorRange,
    ModelNotOpen,
    ModelRepository,
    NothingToWithdraw,
    NotModelOwner,
    gradient_id_of,
)

ETH = 10**18
CID = bytes.fromhex("55" * 32)
ACCOUNTS = 4


@dataclass
class Model:
    owner: str
    bounty: int
    initial: int
    target: int
    best: int
    version: int = 0
    paid: int = 0
    closed: bool = False


@dataclass
class Reference:
    """What the contract's state must be, computed independently of it."""

    models: list[Model] = field(default_factory=list)
    gradients: dict[int, bool] = field(default_factory=dict)  # id -> evaluated
    credits: dict[str, int] = field(default_factory=dict)

    def credit(self, account: str, amount: int) -> None:
        self.credits[account] = self.credits.get(account, 0) + amount


def machine_for(chain: LocalChain, signers: list[LocalAccount]) -> type[RuleBasedStateMachine]:
    repository = ModelRepository(chain.w3)
    clients = [repository.as_account(signer) for signer in signers[:ACCOUNTS]]
    addresses = [signer.address for signer in signers[:ACCOUNTS]]
    accounts = st.integers(0, ACCOUNTS - 1)
    # Mostly act on live objects (open models, pending gradients), sometimes on any, so
    # that the refusals of closed models and repeated calls are exercised too.
    live_bias = st.sampled_from([True, True, True, False])

    base = [chain.snapshot()]

    class EscrowMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            # Every example, replays of a failing one included, starts from the same state,
            # whether or not the previous example got to its teardown.
            chain.revert(base[0])
            base[0] = chain.snapshot()
            self.reference = Reference()

        def teardown(self) -> None:
            chain.revert(base[0])
            base[0] = chain.snapshot()

        def expect(self, error: type[ContractRevert] | None, call) -> object:  # noqa: ANN001
            if error is None:
                return call()
            with pytest.raises(error):
                call()
            return None

        @initialize(
            owner=accounts,
            bounty=st.integers(1, 3 * ETH),
            initial=st.integers(1, 10**6),
            target_ratio=st.floats(0, 0.95),
        )
        def first_model(self, owner: int, bounty: int, initial: int, target_ratio: float) -> None:
            self.add_model(owner, bounty, initial, target_ratio)

        @rule(
            owner=accounts,
            bounty=st.integers(1, 3 * ETH),
            initial=st.integers(0, 10**6),
            # Mostly a target below the initial error, sometimes (and then refused) not.
            target_ratio=st.floats(0, 1.1),
        )
        def add_model(self, owner: int, bounty: int, initial: int, target_ratio: float) -> None:
            target = int(initial * target_ratio)
            if target >= initial:
                self.expect(
                    InvalidErrorRange,
                    lambda: clients[owner].add_model(
                        CID, initial_error=initial, target_error=target, bounty=bounty
                    ),
                )
                return
            added = clients[owner].add_model(
                CID, initial_error=initial, target_error=target, bounty=bounty
            )
            assert added.model_id == len(self.reference.models)
            self.reference.models.append(Model(addresses[owner], bounty, initial, target, initial))

        def pick_model(self, pick: int, live: bool) -> int:
            """A model by `pick`: among the open ones if `live` and there are any."""
            candidates = [i for i, m in enumerate(self.reference.models) if not (live and m.closed)]
            candidates = candidates or list(range(len(self.reference.models)))
            return candidates[pick % len(candidates)]

        @rule(submitter=accounts, pick=st.integers(0, 2**16), live=live_bias)
        def add_gradient(self, submitter: int, pick: int, live: bool) -> None:
            model_id = self.pick_model(pick, live)
            model = self.reference.models[model_id]
            if live:  # prefer someone who has not submitted for this version yet
                fresh = [
                    i
                    for i in range(ACCOUNTS)
                    if gradient_id_of(model_id, model.version, addresses[i])
                    not in self.reference.gradients
                ]
                submitter = fresh[submitter % len(fresh)] if fresh else submitter
            gradient_id = gradient_id_of(model_id, model.version, addresses[submitter])
            error = (
                ModelNotOpen
                if model.closed
                else GradientAlreadySubmitted if gradient_id in self.reference.gradients else None
            )
            self.expect(error, lambda: clients[submitter].add_gradient(model_id, CID))
            if error is None:
                self.reference.gradients[gradient_id] = False

        @precondition(lambda self: not all(self.reference.gradients.values()))
        @rule(
            intruder=st.none() | accounts,
            pick=st.integers(0, 2**16),
            fraction=st.floats(0, 1.2),
            live=live_bias,
        )
        def eval_gradient(
            self, intruder: int | None, pick: int, fraction: float, live: bool
        ) -> None:
            """The owner evaluates, or `intruder` tries to (who may happen to be the owner)."""
            pending = sorted(g for g, done in self.reference.gradients.items() if not done)
            everything = sorted(self.reference.gradients)
            candidates = pending if live else everything
            gradient_id = candidates[pick % len(candidates)]
            model_id = gradient_id >> 192
            submitter = "0x" + format(gradient_id & (2**160 - 1), "040x")  # lower case
            model = self.reference.models[model_id]
            caller = addresses.index(model.owner) if intruder is None else intruder
            new_error = int(model.best * fraction)
            error = (
                GradientAlreadyEvaluated
                if self.reference.gradients[gradient_id]
                else (
                    ModelNotOpen
                    if model.closed
                    else NotModelOwner if addresses[caller] != model.owner else None
                )
            )
            evaluation = self.expect(
                error,
                lambda: clients[caller].eval_gradient(
                    gradient_id, new_error=new_error, weights=CID
                ),
            )
            if error is not None:
                return
            payout = 0
            if new_error < model.best:
                reached = max(new_error, model.target)
                share = model.bounty * (model.best - reached) // (model.initial - model.target)
                payout = min(share, model.bounty - model.paid)
                model.paid += payout
                model.best = new_error
                model.version += 1
            self.reference.gradients[gradient_id] = True
            self.reference.credit(submitter, payout)
            assert evaluation.evaluated.payout == payout  # type: ignore[attr-defined]
            if new_error <= model.target:
                model.closed = True
                self.reference.credit(model.owner.lower(), model.bounty - model.paid)

        @precondition(lambda self: not all(self.reference.gradients.values()))
        @rule(pick=st.integers(0, 2**16), fractions=st.lists(st.floats(0, 1.2), max_size=4))
        def eval_gradients(self, pick: int, fractions: list[float]) -> None:
            """The owner evaluates a batch of one model's pending gradients."""
            pending = sorted(g for g, done in self.reference.gradients.items() if not done)
            model_id = pending[pick % len(pending)] >> 192
            batch = [g for g in pending if g >> 192 == model_id][: max(len(fractions), 1)]
            fractions = (fractions + [1.0] * len(batch))[: len(batch)]
            model = self.reference.models[model_id]
            caller = addresses.index(model.owner)
            best, closed, items = model.best, model.closed, []
            for gradient_id, fraction in zip(batch, fractions):
                new_error = int(best * fraction)
                items.append((gradient_id, new_error, CID))
                closed = closed or new_error <= model.target
                best = min(best, new_error)
            # Refused if the model is closed, or an item follows one that reaches the target.
            refused = model.closed or any(
                new_error <= model.target for _, new_error, _ in items[:-1]
            )
            evaluated = self.expect(
                ModelNotOpen if refused else None,
                lambda: clients[caller].eval_gradients(model_id, items),
            )
            if refused:
                return
            for (gradient_id, new_error, _), event in zip(
                items, evaluated.evaluated  # type: ignore[attr-defined]
            ):
                payout = 0
                if new_error < model.best:
                    reached = max(new_error, model.target)
                    share = model.bounty * (model.best - reached) // (model.initial - model.target)
                    payout = min(share, model.bounty - model.paid)
                    model.paid += payout
                    model.best = new_error
                    model.version += 1
                assert event.payout == payout
                self.reference.gradients[gradient_id] = True
                self.reference.credit("0x" + format(gradient_id & (2**160 - 1), "040x"), payout)
            if closed:
                model.closed = True
                self.reference.credit(model.owner.lower(), model.bounty - model.paid)

        @rule(caller=st.none() | accounts, pick=st.integers(0, 2**16), live=live_bias)
        def close_model(self, caller: int | None, pick: int, live: bool) -> None:
            """The owner closes, or `caller` tries to (who may happen to be the owner)."""
            model_id = self.pick_model(pick, live)
            model = self.reference.models[model_id]
            caller = addresses.index(model.owner) if caller is None else caller
            error = (
                ModelNotOpen
                if model.closed
                else NotModelOwner if addresses[caller] != model.owner else None
            )
            closed = self.expect(error, lambda: clients[caller].close_model(model_id))
            if error is None:
                model.closed = True
                assert closed.refund == model.bounty - model.paid  # type: ignore[attr-defined]
                self.reference.credit(model.owner.lower(), model.bounty - model.paid)

        @precondition(lambda self: any(self.reference.credits.values()))
        @rule(caller=accounts)
        def withdraw(self, caller: int) -> None:
            owed = self.reference.credits.get(addresses[caller].lower(), 0)
            withdrawn = self.expect(
                None if owed else NothingToWithdraw, lambda: clients[caller].withdraw()
            )
            if owed:
                assert withdrawn.amount == owed  # type: ignore[attr-defined]
                self.reference.credits[addresses[caller].lower()] = 0

        @invariant()
        def every_model_accounts_for_its_whole_bounty(self) -> None:
            for model_id, expected in enumerate(self.reference.models):
                model = repository.get_model(model_id)
                assert model.paid + model.remaining + model.refunded == model.bounty
                assert (model.bounty, model.paid, model.closed) == (
                    expected.bounty,
                    expected.paid,
                    expected.closed,
                )

        @invariant()
        def the_balance_is_credits_plus_open_escrow(self) -> None:
            credits = [repository.credit_of(address) for address in addresses]
            escrow = sum(
                model.bounty - model.paid for model in self.reference.models if not model.closed
            )
            assert repository.balance() == sum(credits) + escrow
            assert credits == [self.reference.credits.get(a.lower(), 0) for a in addresses]

    return EscrowMachine


def test_random_call_sequences_keep_the_escrow_invariants(
    chain: LocalChain, signers: list[LocalAccount]
) -> None:
    run_state_machine_as_test(
        machine_for(chain, signers),
        settings=settings(
            max_examples=12,
            stateful_step_count=25,
            deadline=None,
            derandomize=True,  # the same sequences on every run: CI is reproducible
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
