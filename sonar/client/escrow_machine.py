"""A Hypothesis state machine that checks ModelRepository's escrow against a reference model.

Test support, like `sonar.chain.fixtures`: `invariants_test.py` runs it briefly on every
test run, and `sonar/benchmarks:escrow` for ten thousand steps and more.

It drives addModel / addGradient / evalGradient / evalGradients / closeModel / withdraw /
withdrawTo from four accounts, and forces ether in by selfdestruct, predicting each outcome
(the revert, or the payout to the wei) with a reference model in Python. After every step
it checks, against the chain:

- for every model, paid + remaining + refunded == bounty, and bounty, paid and closed are
  what the reference says;
- the contract's balance >= the sum of outstanding credits + the escrow of open models,
  and what it holds beyond them is exactly the ether forced in;
- every account's credit is what the reference model says: in particular no call path lets
  anyone but a model's owner evaluate it, close it or take its refund.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from sonar.artifacts import load_contract
from sonar.chain import LocalChain
from sonar.client.errors import (
    ContractRevert,
    GradientAlreadyEvaluated,
    GradientAlreadySubmitted,
    InvalidErrorRange,
    InvalidRecipient,
    ModelNotOpen,
    NothingToWithdraw,
    NotModelOwner,
)
from sonar.client.repository import ModelRepository, gradient_id_of

ETH = 10**18
CID = bytes.fromhex("55" * 32)
ACCOUNTS = 4
ZERO_ADDRESS = "0x" + "00" * 20
# Receives withdrawals and nothing else, so its balance shows exactly what it was sent.
OUTSIDER = "0x000000000000000000000000000000000000dEaD"


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

    def improve(self, new_error: int) -> int:
        """Records an improvement to `new_error`; returns what it pays: the share of the
        error removed, rounded down, or all that is left once the target is reached."""
        if new_error <= self.target:
            payout = self.bounty - self.paid
        else:
            payout = self.bounty * (self.best - new_error) // (self.initial - self.target)
        self.paid += payout
        self.best = new_error
        self.version += 1
        return payout


@dataclass
class Reference:
    """What the contract's state must be, computed independently of it."""

    models: list[Model] = field(default_factory=list)
    gradients: dict[int, bool] = field(default_factory=dict)  # id -> evaluated
    credits: dict[str, int] = field(default_factory=dict)
    forced: int = 0  # wei forced in by selfdestruct: nobody's credit

    def credit(self, account: str, amount: int) -> None:
        self.credits[account] = self.credits.get(account, 0) + amount


@dataclass
class Stats:
    """What a run did: examples started, and contract calls made (one per step)."""

    examples: int = 0
    steps: int = 0


def machine_for(
    chain: LocalChain, signers: list[LocalAccount], stats: Stats | None = None
) -> type[RuleBasedStateMachine]:
    """The state machine class for `chain`, acting as the first four of `signers`; it counts
    what it does in `stats` if given."""
    repository = ModelRepository(chain.w3)
    clients = [repository.as_account(signer) for signer in signers[:ACCOUNTS]]
    addresses = [signer.address for signer in signers[:ACCOUNTS]]
    forcer = signers[ACCOUNTS]
    force_sender = load_contract("ForceSender", package="sonar.contracts.mocks")
    counts = stats or Stats()
    accounts = st.integers(0, ACCOUNTS - 1)
    # Mostly act on live objects (open models, pending gradients), sometimes on any, so
    # that the refusals of closed models and repeated calls are exercised too.
    live_bias = st.sampled_from([True, True, True, False])
    # Mostly an account of the machine, sometimes an outsider or the (refused) zero address.
    recipients = st.sampled_from([*range(ACCOUNTS), OUTSIDER, OUTSIDER, ZERO_ADDRESS])

    base = [chain.snapshot()]

    class EscrowMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            # Every example, replays of a failing one included, starts from the same state,
            # whether or not the previous example got to its teardown.
            chain.revert(base[0])
            base[0] = chain.snapshot()
            self.reference = Reference()
            counts.examples += 1

        def teardown(self) -> None:
            chain.revert(base[0])
            base[0] = chain.snapshot()

        def act(self, error: type[ContractRevert] | None, call: Callable[[], Any]) -> Any:
            """Makes one contract call, expecting it to raise `error` (None: to succeed)."""
            counts.steps += 1
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
            # Small bounties too: shares then round to nothing, and dust is left.
            bounty=st.integers(1, 100) | st.integers(1, 3 * ETH),
            initial=st.integers(0, 10**6),
            # Mostly a target below the initial error, sometimes (and then refused) not.
            target_ratio=st.floats(0, 1.1),
        )
        def add_model(self, owner: int, bounty: int, initial: int, target_ratio: float) -> None:
            target = int(initial * target_ratio)
            refused = target >= initial
            added = self.act(
                InvalidErrorRange if refused else None,
                lambda: clients[owner].add_model(
                    CID, initial_error=initial, target_error=target, bounty=bounty
                ),
            )
            if refused:
                return
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
            self.act(error, lambda: clients[submitter].add_gradient(model_id, CID))
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
            evaluation = self.act(
                error,
                lambda: clients[caller].eval_gradient(
                    gradient_id, new_error=new_error, weights=CID
                ),
            )
            if error is not None:
                return
            payout = model.improve(new_error) if new_error < model.best else 0
            self.reference.gradients[gradient_id] = True
            self.reference.credit(submitter_of(gradient_id), payout)
            assert evaluation.evaluated.payout == payout
            if new_error <= model.target:
                model.closed = True
                assert evaluation.closed is not None and evaluation.closed.refund == 0
            else:
                assert evaluation.closed is None

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
            best, items = model.best, []
            for gradient_id, fraction in zip(batch, fractions):
                new_error = int(best * fraction)
                items.append((gradient_id, new_error, CID))
                best = min(best, new_error)
            # Refused if the model is closed, or an item follows one that reaches the target.
            refused = model.closed or any(
                new_error <= model.target for _, new_error, _ in items[:-1]
            )
            evaluated = self.act(
                ModelNotOpen if refused else None,
                lambda: clients[caller].eval_gradients(model_id, items),
            )
            if refused:
                return
            for (gradient_id, new_error, _), event in zip(items, evaluated.evaluated):
                payout = model.improve(new_error) if new_error < model.best else 0
                assert event.payout == payout
                self.reference.gradients[gradient_id] = True
                self.reference.credit(submitter_of(gradient_id), payout)
            model.closed = model.best <= model.target
            assert (evaluated.closed is not None) == model.closed

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
            closed = self.act(error, lambda: clients[caller].close_model(model_id))
            if error is None:
                model.closed = True
                assert closed.refund == model.bounty - model.paid
                self.reference.credit(model.owner.lower(), model.bounty - model.paid)

        @precondition(lambda self: any(self.reference.credits.values()))
        @rule(caller=accounts)
        def withdraw(self, caller: int) -> None:
            owed = self.reference.credits.get(addresses[caller].lower(), 0)
            withdrawn = self.act(
                None if owed else NothingToWithdraw, lambda: clients[caller].withdraw()
            )
            if owed:
                assert withdrawn.amount == owed
                self.reference.credits[addresses[caller].lower()] = 0

        @precondition(lambda self: any(self.reference.credits.values()))
        @rule(caller=accounts, to=recipients)
        def withdraw_to(self, caller: int, to: int | str) -> None:
            recipient = addresses[to] if isinstance(to, int) else to
            owed = self.reference.credits.get(addresses[caller].lower(), 0)
            before = chain.w3.eth.get_balance(OUTSIDER)
            error = (
                InvalidRecipient
                if recipient == ZERO_ADDRESS
                else None if owed else NothingToWithdraw
            )
            withdrawn = self.act(error, lambda: clients[caller].withdraw_to(recipient))
            if error is None:
                assert (withdrawn.recipient, withdrawn.amount) == (recipient, owed)
                self.reference.credits[addresses[caller].lower()] = 0
                if recipient == OUTSIDER:
                    assert chain.w3.eth.get_balance(OUTSIDER) == before + owed

        @rule(value=st.integers(1, ETH))
        def force_ether(self, value: int) -> None:
            """Ether arrives without a call: a contract self-destructs to the repository."""
            factory = chain.w3.eth.contract(abi=force_sender.abi, bytecode=force_sender.bytecode)
            transaction = factory.constructor(repository.address).build_transaction(
                {
                    "from": forcer.address,
                    "value": value,
                    "nonce": chain.w3.eth.get_transaction_count(forcer.address),
                    "gas": 200_000,
                }
            )
            signed = forcer.sign_transaction(transaction)
            receipt = self.act(
                None,
                lambda: chain.w3.eth.wait_for_transaction_receipt(
                    chain.w3.eth.send_raw_transaction(signed.raw_transaction)
                ),
            )
            assert receipt["status"] == 1
            self.reference.forced += value

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
                if model.closed and model.best_error <= model.target_error:
                    assert (model.paid, model.refunded) == (model.bounty, 0)  # no dust left

        @invariant()
        def the_balance_covers_credits_and_open_escrow(self) -> None:
            credits = [repository.credit_of(address) for address in addresses]
            escrow = sum(
                model.bounty - model.paid for model in self.reference.models if not model.closed
            )
            balance = repository.balance()
            assert balance >= sum(credits) + escrow
            assert balance - (sum(credits) + escrow) == self.reference.forced
            assert credits == [self.reference.credits.get(a.lower(), 0) for a in addresses]

    return EscrowMachine


def submitter_of(gradient_id: int) -> str:
    """The submitter in a gradient id, in lower case (as the reference keys credits)."""
    return "0x" + format(gradient_id & (2**160 - 1), "040x")
