"""Every ModelRepository function's success path and every revert, on both backends."""

from __future__ import annotations

import pytest
from eth_account.signers.local import LocalAccount

from sonar.chain import LocalChain
from sonar.client import (
    EmptyCid,
    GradientAlreadyEvaluated,
    GradientAlreadySubmitted,
    GradientNotFound,
    GradientOfAnotherModel,
    GradientStatus,
    InvalidBatch,
    InvalidBounty,
    InvalidErrorRange,
    InvalidRecipient,
    ModelNotFound,
    ModelNotOpen,
    ModelRepository,
    NothingToWithdraw,
    NotModelOwner,
    SonarError,
    gradient_id_of,
)

ETH = 10**18
WEIGHTS = bytes.fromhex("11" * 32)
NEW_WEIGHTS = bytes.fromhex("22" * 32)
GRADIENT = bytes.fromhex("33" * 32)
ZERO = bytes(32)


@pytest.fixture
def owner(signers: list[LocalAccount]) -> LocalAccount:
    return signers[0]


@pytest.fixture
def mine(signers: list[LocalAccount]) -> LocalAccount:
    return signers[1]


@pytest.fixture
def stranger(signers: list[LocalAccount]) -> LocalAccount:
    return signers[2]


def post(
    repository: ModelRepository,
    owner: LocalAccount,
    *,
    bounty: int = ETH,
    initial: int = 1000,
    target: int = 200,
) -> int:
    return (
        repository.as_account(owner)
        .add_model(WEIGHTS, initial_error=initial, target_error=target, bounty=bounty)
        .model_id
    )


def submit(repository: ModelRepository, submitter: LocalAccount, model_id: int) -> int:
    return repository.as_account(submitter).add_gradient(model_id, GRADIENT).gradient_id


class TestAddModel:
    def test_escrows_the_bounty_and_announces_the_model(
        self, repository: ModelRepository, owner: LocalAccount
    ) -> None:
        added = repository.as_account(owner).add_model(
            WEIGHTS, initial_error=1000, target_error=200, bounty=3 * ETH
        )

        assert (added.model_id, added.owner, added.weights) == (0, owner.address, WEIGHTS)
        assert (added.bounty, added.initial_error, added.target_error) == (3 * ETH, 1000, 200)
        model = repository.get_model(0)
        assert (model.owner, model.weights, model.version, model.closed) == (
            owner.address,
            WEIGHTS,
            0,
            False,
        )
        assert (model.bounty, model.paid, model.remaining, model.refunded) == (
            3 * ETH,
            0,
            3 * ETH,
            0,
        )
        assert (model.initial_error, model.target_error, model.best_error) == (1000, 200, 1000)
        assert repository.balance() == 3 * ETH
        assert repository.model_count() == 1

    def test_gives_consecutive_ids(self, repository: ModelRepository, owner: LocalAccount) -> None:
        assert [post(repository, owner) for _ in range(3)] == [0, 1, 2]
        assert repository.model_count() == 3

    def test_refuses_a_model_without_bounty(
        self, repository: ModelRepository, owner: LocalAccount
    ) -> None:
        with pytest.raises(InvalidBounty) as refused:
            post(repository, owner, bounty=0)
        assert refused.value.value == 0

    def test_refuses_a_bounty_that_does_not_fit_96_bits(
        self, repository: ModelRepository, whale: LocalAccount
    ) -> None:
        with pytest.raises(InvalidBounty) as refused:
            post(repository, whale, bounty=2**96)
        assert refused.value.value == 2**96

    @pytest.mark.parametrize("initial, target", [(500, 500), (500, 900), (0, 0)])
    def test_refuses_a_target_not_below_the_initial_error(
        self, repository: ModelRepository, owner: LocalAccount, initial: int, target: int
    ) -> None:
        with pytest.raises(InvalidErrorRange) as refused:
            post(repository, owner, initial=initial, target=target)
        assert (refused.value.initial_error, refused.value.target_error) == (initial, target)

    def test_refuses_empty_weights(self, repository: ModelRepository, owner: LocalAccount) -> None:
        with pytest.raises(EmptyCid):
            repository.as_account(owner).add_model(
                ZERO, initial_error=10, target_error=1, bounty=ETH
            )


class TestAddGradient:
    def test_records_the_submitter_and_the_version(
        self, repository: ModelRepository, owner: LocalAccount, mine: LocalAccount
    ) -> None:
        model_id = post(repository, owner)

        added = repository.as_account(mine).add_gradient(model_id, GRADIENT)

        assert added.gradient_id == gradient_id_of(model_id, 0, mine.address)
        assert (added.model_id, added.submitter, added.version, added.gradient) == (
            model_id,
            mine.address,
            0,
            GRADIENT,
        )
        gradient = repository.get_gradient(added.gradient_id)
        assert (gradient.model_id, gradient.version, gradient.submitter) == (0, 0, mine.address)
        assert (gradient.status, gradient.new_error, gradient.payout) == (
            GradientStatus.SUBMITTED,
            0,
            0,
        )
        assert repository.get_model(model_id).gradient_count == 1

    def test_allows_one_gradient_per_submitter_and_version(
        self, repository: ModelRepository, owner: LocalAccount, mine: LocalAccount
    ) -> None:
        model_id = post(repository, owner)
        gradient_id = submit(repository, mine, model_id)

        with pytest.raises(GradientAlreadySubmitted) as refused:
            submit(repository, mine, model_id)
        assert refused.value.gradient_id == gradient_id

    def test_allows_a_new_gradient_once_the_model_advanced(
        self, repository: ModelRepository, owner: LocalAccount, mine: LocalAccount
    ) -> None:
        model_id = post(repository, owner)
        first = submit(repository, mine, model_id)
        repository.as_account(owner).eval_gradient(first, new_error=900, weights=NEW_WEIGHTS)

        second = submit(repository, mine, model_id)

        assert second == gradient_id_of(model_id, 1, mine.address)
        assert repository.get_model(model_id).gradient_count == 2

    def test_refuses_an_unknown_model(
        self, repository: ModelRepository, mine: LocalAccount
    ) -> None:
        with pytest.raises(ModelNotFound) as refused:
            submit(repository, mine, 7)
        assert refused.value.model_id == 7

    def test_refuses_a_closed_model(
        self, repository: ModelRepository, owner: LocalAccount, mine: LocalAccount
    ) -> None:
        model_id = post(repository, owner)
        repository.as_account(owner).close_model(model_id)

        with pytest.raises(ModelNotOpen):
            submit(repository, mine, model_id)

    def test_refuses_an_empty_gradient(
        self, repository: ModelRepository, owner: LocalAccount, mine: LocalAccount
    ) -> None:
        model_id = post(repository, owner)
        with pytest.raises(EmptyCid):
            repository.as_account(mine).add_gradient(model_id, ZERO)


class TestEvalGradient:
    def test_pays_the_share_of_the_error_removed_and_advances_the_model(
        self, repository: ModelRepository, owner: LocalAccount, mine: LocalAccount
    ) -> None:
        model_id = post(repository, owner, bounty=8 * ETH, initial=1000, target=200)
        gradient_id = submit(repository, mine, model_id)

        evaluation = repository.as_account(owner).eval_gradient(
            gradient_id, new_error=700, weights=NEW_WEIGHTS
        )

        payout = 8 * ETH * (1000 - 700) // (1000 - 200)
        assert evaluation.evaluated.payout == payout == 3 * ETH
        assert (evaluation.evaluated.weights, evaluation.evaluated.version) == (NEW_WEIGHTS, 1)
        assert evaluation.closed is None
        assert repository.credit_of(mine.address) == payout
        model = repository.get_model(model_id)
        assert (model.best_error, model.weights, model.version) == (700, NEW_WEIGHTS, 1)
        assert (model.paid, model.remaining) == (payout, 5 * ETH)
        gradient = repository.get_gradient(gradient_id)
        assert (gradient.status, gradient.new_error, gradient.payout) == (
            GradientStatus.EVALUATED,
            700,
            payout,
        )

    def test_pays_nothing_for_no_improvement_and_keeps_the_model(
        self, repository: ModelRepository, owner: LocalAccount, mine: LocalAccount
    ) -> None:
        model_id = post(repository, owner)
        gradient_id = submit(repository, mine, model_id)

        evaluation = repository.as_account(owner).eval_gradient(
            gradient_id, new_error=1000, weights=NEW_WEIGHTS
        )

        assert evaluation.evaluated.payout == 0
        model = repository.get_model(model_id)
        assert (model.best_error, model.weights, model.version, model.paid) == (1000, WEIGHTS, 0, 0)
        assert repository.get_gradient(gradient_id).status == GradientStatus.EVALUATED
        assert repository.credit_of(mine.address) == 0

    def test_reaching_the_target_pays_the_rest_of_the_bounty_and_closes(
        self, repository: ModelRepository, owner: LocalAccount, mine: LocalAccount
    ) -> None:
        model_id = post(repository, owner, bounty=10 * ETH, initial=1000, target=200)
        first = submit(repository, mine, model_id)
        repository.as_account(owner).eval_gradient(first, new_error=600, weights=NEW_WEIGHTS)
        second = submit(repository, mine, model_id)

        evaluation = repository.as_account(owner).eval_gradient(
            second, new_error=50, weights=WEIGHTS
        )

        # Paid for 600 -> 200 only: below the target earns nothing more.
        assert evaluation.evaluated.payout == 10 * ETH * (600 - 200) // 800 == 5 * ETH
        assert evaluation.closed is not None
        assert (evaluation.closed.refund, evaluation.closed.target_reached) == (0, True)
        model = repository.get_model(model_id)
        assert (model.closed, model.best_error, model.paid, model.remaining) == (
            True,
            50,
            10 * ETH,
            0,
        )
        assert repository.credit_of(mine.address) == 10 * ETH

    def test_reaching_the_target_also_pays_what_rounding_left(
        self, repository: ModelRepository, owner: LocalAccount, signers: list[LocalAccount]
    ) -> None:
        # 10 wei over an error range of 3: each step of 1 is worth 3 wei and 1/3, rounded
        # down; the step that reaches the target takes the dust, so nothing is refunded.
        model_id = post(repository, owner, bounty=10, initial=3, target=0)
        payouts = []
        for new_error, submitter in zip([2, 1, 0], signers[1:4]):
            gradient_id = submit(repository, submitter, model_id)
            evaluation = repository.as_account(owner).eval_gradient(
                gradient_id, new_error=new_error, weights=bytes([new_error + 1]) * 32
            )
            payouts.append(evaluation.evaluated.payout)

        assert payouts == [3, 3, 4]
        assert evaluation.closed is not None
        assert (evaluation.closed.refund, evaluation.closed.target_reached) == (0, True)
        model = repository.get_model(model_id)
        assert (model.paid, model.remaining, model.refunded) == (10, 0, 0)
        assert [repository.credit_of(s.address) for s in signers[1:4]] == [3, 3, 4]
        assert repository.credit_of(owner.address) == 0
        assert repository.balance() == 10

    def test_the_target_reaching_payout_is_the_remaining_escrow_not_the_share(
        self, repository: ModelRepository, owner: LocalAccount, mine: LocalAccount
    ) -> None:
        model_id = post(repository, owner, bounty=1000, initial=3, target=0)
        first = submit(repository, mine, model_id)
        repository.as_account(owner).eval_gradient(first, new_error=2, weights=NEW_WEIGHTS)
        second = submit(repository, mine, model_id)

        evaluation = repository.as_account(owner).eval_gradient(
            second, new_error=0, weights=WEIGHTS
        )

        # The share of 2 -> 0 would be 666; the escrow left after 333 is 667.
        assert evaluation.evaluated.payout == 1000 - 1000 // 3 == 667
        assert evaluation.closed is not None and evaluation.closed.refund == 0
        model = repository.get_model(model_id)
        assert model.paid + model.remaining + model.refunded == model.bounty == 1000
        assert (model.paid, model.refunded) == (1000, 0)
        assert repository.credit_of(mine.address) == 1000
        assert repository.credit_of(owner.address) == 0

    def test_a_model_never_pays_more_than_its_own_bounty(
        self, repository: ModelRepository, owner: LocalAccount, mine: LocalAccount
    ) -> None:
        # The original contract paid 10 ETH here, taken from the other model's escrow.
        other = post(repository, owner, bounty=5 * ETH)
        model_id = post(repository, owner, bounty=ETH, initial=100, target=90)
        gradient_id = submit(repository, mine, model_id)

        evaluation = repository.as_account(owner).eval_gradient(
            gradient_id, new_error=0, weights=NEW_WEIGHTS
        )

        assert evaluation.evaluated.payout == ETH
        assert repository.get_model(other).remaining == 5 * ETH
        assert repository.balance() == 5 * ETH + ETH

    def test_only_the_owner_evaluates(
        self,
        repository: ModelRepository,
        owner: LocalAccount,
        mine: LocalAccount,
        stranger: LocalAccount,
    ) -> None:
        model_id = post(repository, owner)
        gradient_id = submit(repository, mine, model_id)

        for intruder in (stranger, mine):
            with pytest.raises(NotModelOwner) as refused:
                repository.as_account(intruder).eval_gradient(
                    gradient_id, new_error=0, weights=NEW_WEIGHTS
                )
            assert (refused.value.model_id, refused.value.account) == (model_id, intruder.address)

    def test_evaluates_each_gradient_once(
        self, repository: ModelRepository, owner: LocalAccount, mine: LocalAccount
    ) -> None:
        gradient_id = submit(repository, mine, post(repository, owner))
        repository.as_account(owner).eval_gradient(gradient_id, new_error=900, weights=NEW_WEIGHTS)

        with pytest.raises(GradientAlreadyEvaluated) as refused:
            repository.as_account(owner).eval_gradient(
                gradient_id, new_error=800, weights=NEW_WEIGHTS
            )
        assert refused.value.gradient_id == gradient_id

    def test_refuses_an_unknown_gradient(
        self, repository: ModelRepository, owner: LocalAccount, mine: LocalAccount
    ) -> None:
        unknown = gradient_id_of(post(repository, owner), 0, mine.address)

        with pytest.raises(GradientNotFound) as refused:
            repository.as_account(owner).eval_gradient(unknown, new_error=1, weights=NEW_WEIGHTS)
        assert refused.value.gradient_id == unknown

    def test_refuses_gradients_of_a_closed_model(
        self, repository: ModelRepository, owner: LocalAccount, mine: LocalAccount
    ) -> None:
        model_id = post(repository, owner)
        gradient_id = submit(repository, mine, model_id)
        repository.as_account(owner).close_model(model_id)

        with pytest.raises(ModelNotOpen):
            repository.as_account(owner).eval_gradient(
                gradient_id, new_error=1, weights=NEW_WEIGHTS
            )

    def test_refuses_an_improvement_without_weights(
        self, repository: ModelRepository, owner: LocalAccount, mine: LocalAccount
    ) -> None:
        gradient_id = submit(repository, mine, post(repository, owner))

        with pytest.raises(EmptyCid):
            repository.as_account(owner).eval_gradient(gradient_id, new_error=500, weights=ZERO)


class TestEvalGradients:
    def test_a_batch_evaluates_in_order_exactly_as_single_evaluations_would(
        self, repository: ModelRepository, owner: LocalAccount, signers: list[LocalAccount]
    ) -> None:
        model_id = post(repository, owner, bounty=8 * ETH, initial=1000, target=200)
        ids = [submit(repository, signer, model_id) for signer in signers[1:5]]
        digests = [bytes([i + 1]) * 32 for i in range(4)]

        batch = repository.as_account(owner).eval_gradients(
            model_id, list(zip(ids, [900, 950, 700, 700], digests))
        )

        payouts = [8 * ETH * 100 // 800, 0, 8 * ETH * 200 // 800, 0]
        assert [e.payout for e in batch.evaluated] == payouts
        assert [e.gradient_id for e in batch.evaluated] == ids
        assert [e.version for e in batch.evaluated] == [1, 1, 2, 2]
        assert [e.weights for e in batch.evaluated] == [digests[0]] * 2 + [digests[2]] * 2
        assert batch.closed is None
        model = repository.get_model(model_id)
        assert (model.version, model.best_error, model.weights, model.paid) == (
            2,
            700,
            digests[2],
            sum(payouts),
        )
        for signer, payout in zip(signers[1:5], payouts):
            assert repository.credit_of(signer.address) == payout
        assert all(repository.get_gradient(i).status == GradientStatus.EVALUATED for i in ids)

    def test_the_last_gradient_of_a_batch_may_reach_the_target_and_close_the_model(
        self, repository: ModelRepository, owner: LocalAccount, signers: list[LocalAccount]
    ) -> None:
        model_id = post(repository, owner, bounty=10 * ETH, initial=1000, target=200)
        ids = [submit(repository, signer, model_id) for signer in signers[1:3]]

        batch = repository.as_account(owner).eval_gradients(
            model_id, [(ids[0], 600, NEW_WEIGHTS), (ids[1], 100, WEIGHTS)]
        )

        assert [e.payout for e in batch.evaluated] == [5 * ETH, 5 * ETH]
        assert batch.closed is not None and batch.closed.target_reached
        assert repository.get_model(model_id).closed

    def test_nothing_may_follow_the_gradient_that_reaches_the_target(
        self, repository: ModelRepository, owner: LocalAccount, signers: list[LocalAccount]
    ) -> None:
        model_id = post(repository, owner, bounty=10 * ETH, initial=1000, target=200)
        ids = [submit(repository, signer, model_id) for signer in signers[1:3]]

        with pytest.raises(ModelNotOpen) as raised:
            repository.as_account(owner).eval_gradients(
                model_id, [(ids[0], 100, NEW_WEIGHTS), (ids[1], 900, WEIGHTS)]
            )

        assert raised.value.model_id == model_id
        model = repository.get_model(model_id)  # the whole batch reverted
        assert (model.closed, model.version, model.paid) == (False, 0, 0)

    @pytest.mark.parametrize(
        ("errors", "weights"), [([], []), ([900], []), ([900, 800], [NEW_WEIGHTS])]
    )
    def test_refuses_an_empty_or_uneven_batch(
        self,
        repository: ModelRepository,
        owner: LocalAccount,
        mine: LocalAccount,
        errors: list[int],
        weights: list[bytes],
    ) -> None:
        model_id = post(repository, owner)
        ids = [submit(repository, mine, model_id)] if errors else []
        call = repository.as_account(owner).contract.functions.evalGradients(
            model_id, ids, errors, weights
        )
        with pytest.raises(InvalidBatch) as raised:
            repository.as_account(owner)._transact(call)
        assert (raised.value.gradients, raised.value.errors, raised.value.weights) == (
            len(ids),
            len(errors),
            len(weights),
        )

    def test_refuses_a_gradient_of_another_model(
        self, repository: ModelRepository, owner: LocalAccount, mine: LocalAccount
    ) -> None:
        first, second = post(repository, owner), post(repository, owner)
        ours, theirs = submit(repository, mine, first), submit(repository, mine, second)

        with pytest.raises(GradientOfAnotherModel) as raised:
            repository.as_account(owner).eval_gradients(
                first, [(ours, 900, NEW_WEIGHTS), (theirs, 800, NEW_WEIGHTS)]
            )

        assert (raised.value.gradient_id, raised.value.model_id) == (theirs, first)

    def test_a_gradient_twice_in_one_batch_is_refused_as_evaluated(
        self, repository: ModelRepository, owner: LocalAccount, mine: LocalAccount
    ) -> None:
        model_id = post(repository, owner)
        gradient_id = submit(repository, mine, model_id)

        with pytest.raises(GradientAlreadyEvaluated):
            repository.as_account(owner).eval_gradients(
                model_id, [(gradient_id, 900, NEW_WEIGHTS), (gradient_id, 800, NEW_WEIGHTS)]
            )

    def test_only_the_owner_may_evaluate_a_batch(
        self, repository: ModelRepository, owner: LocalAccount, mine: LocalAccount
    ) -> None:
        model_id = post(repository, owner)
        gradient_id = submit(repository, mine, model_id)

        with pytest.raises(NotModelOwner):
            repository.as_account(mine).eval_gradients(model_id, [(gradient_id, 1, NEW_WEIGHTS)])

    def test_an_improving_gradient_needs_a_weights_digest(
        self, repository: ModelRepository, owner: LocalAccount, mine: LocalAccount
    ) -> None:
        model_id = post(repository, owner)
        gradient_id = submit(repository, mine, model_id)

        with pytest.raises(EmptyCid):
            repository.as_account(owner).eval_gradients(model_id, [(gradient_id, 500, ZERO)])


class TestCloseModel:
    def test_refunds_the_unspent_bounty_to_the_owner(
        self, repository: ModelRepository, owner: LocalAccount, mine: LocalAccount
    ) -> None:
        model_id = post(repository, owner, bounty=4 * ETH, initial=1000, target=200)
        gradient_id = submit(repository, mine, model_id)
        repository.as_account(owner).eval_gradient(gradient_id, new_error=800, weights=NEW_WEIGHTS)

        closed = repository.as_account(owner).close_model(model_id)

        assert (closed.model_id, closed.refund, closed.target_reached) == (model_id, 3 * ETH, False)
        model = repository.get_model(model_id)
        assert (model.closed, model.paid, model.remaining, model.refunded) == (
            True,
            ETH,
            0,
            3 * ETH,
        )
        # Closing early leaves the errors as they were: the target is still the posted one.
        assert (model.initial_error, model.target_error, model.best_error) == (1000, 200, 800)
        assert repository.credit_of(owner.address) == 3 * ETH

    def test_only_the_owner_closes(
        self, repository: ModelRepository, owner: LocalAccount, stranger: LocalAccount
    ) -> None:
        model_id = post(repository, owner)

        with pytest.raises(NotModelOwner) as refused:
            repository.as_account(stranger).close_model(model_id)
        assert refused.value.account == stranger.address
        assert repository.credit_of(stranger.address) == 0

    def test_closes_once(self, repository: ModelRepository, owner: LocalAccount) -> None:
        model_id = post(repository, owner)
        repository.as_account(owner).close_model(model_id)

        with pytest.raises(ModelNotOpen) as refused:
            repository.as_account(owner).close_model(model_id)
        assert refused.value.model_id == model_id
        assert repository.credit_of(owner.address) == ETH  # refunded once

    def test_refuses_an_unknown_model(
        self, repository: ModelRepository, owner: LocalAccount
    ) -> None:
        with pytest.raises(ModelNotFound):
            repository.as_account(owner).close_model(3)


class TestWithdraw:
    def test_pays_out_the_whole_credit(
        self,
        chain: LocalChain,
        repository: ModelRepository,
        owner: LocalAccount,
        mine: LocalAccount,
    ) -> None:
        model_id = post(repository, owner, bounty=8 * ETH, initial=1000, target=200)
        gradient_id = submit(repository, mine, model_id)
        repository.as_account(owner).eval_gradient(gradient_id, new_error=600, weights=NEW_WEIGHTS)
        before = chain.w3.eth.get_balance(mine.address)

        withdrawn = repository.as_account(mine).withdraw()

        receipt = chain.w3.eth.get_transaction_receipt(withdrawn.position.transaction_hash)
        fee = receipt["gasUsed"] * receipt["effectiveGasPrice"]
        assert (withdrawn.account, withdrawn.recipient, withdrawn.amount) == (
            mine.address,
            mine.address,
            4 * ETH,
        )
        assert chain.w3.eth.get_balance(mine.address) == before + 4 * ETH - fee
        assert repository.credit_of(mine.address) == 0
        assert repository.balance() == 4 * ETH  # the rest of the escrow

    def test_refuses_when_there_is_no_credit(
        self, repository: ModelRepository, stranger: LocalAccount
    ) -> None:
        with pytest.raises(NothingToWithdraw) as refused:
            repository.as_account(stranger).withdraw()
        assert refused.value.account == stranger.address


class TestWithdrawTo:
    def test_sends_the_callers_whole_credit_to_another_address(
        self,
        chain: LocalChain,
        repository: ModelRepository,
        owner: LocalAccount,
        mine: LocalAccount,
        stranger: LocalAccount,
    ) -> None:
        model_id = post(repository, owner, bounty=8 * ETH, initial=1000, target=200)
        gradient_id = submit(repository, mine, model_id)
        repository.as_account(owner).eval_gradient(gradient_id, new_error=600, weights=NEW_WEIGHTS)
        before = chain.w3.eth.get_balance(stranger.address)

        withdrawn = repository.as_account(mine).withdraw_to(stranger.address)

        assert (withdrawn.account, withdrawn.recipient, withdrawn.amount) == (
            mine.address,
            stranger.address,
            4 * ETH,
        )
        assert chain.w3.eth.get_balance(stranger.address) == before + 4 * ETH
        assert repository.credit_of(mine.address) == 0
        assert repository.credit_of(stranger.address) == 0  # sent, not credited
        assert repository.balance() == 4 * ETH

    def test_refuses_the_zero_address_and_keeps_the_credit(
        self, repository: ModelRepository, owner: LocalAccount
    ) -> None:
        repository.as_account(owner).close_model(post(repository, owner))

        with pytest.raises(InvalidRecipient) as refused:
            repository.as_account(owner).withdraw_to("0x" + "00" * 20)

        assert refused.value.recipient == "0x" + "00" * 20
        assert repository.credit_of(owner.address) == ETH

    def test_refuses_when_there_is_no_credit(
        self, repository: ModelRepository, mine: LocalAccount, stranger: LocalAccount
    ) -> None:
        with pytest.raises(NothingToWithdraw) as refused:
            repository.as_account(stranger).withdraw_to(mine.address)
        assert refused.value.account == stranger.address


class TestViews:
    def test_unknown_ids_raise(self, repository: ModelRepository) -> None:
        with pytest.raises(ModelNotFound):
            repository.get_model(0)
        with pytest.raises(GradientNotFound):
            repository.get_gradient(1)

    def test_gradient_ids_are_computed_like_the_contract(
        self, repository: ModelRepository, mine: LocalAccount
    ) -> None:
        for model_id, version in [(0, 0), (5, 3), (2**64 - 1, 2**32 - 1)]:
            on_chain = repository.contract.functions.gradientIdOf(
                model_id, version, mine.address
            ).call()
            assert on_chain == gradient_id_of(model_id, version, mine.address)

    def test_views_cost_the_same_however_many_gradients_exist(
        self, repository: ModelRepository, owner: LocalAccount, signers: list[LocalAccount]
    ) -> None:
        model_id = post(repository, owner)
        first = submit(repository, signers[1], model_id)
        functions = repository.contract.functions
        before = (
            functions.getModel(model_id).estimate_gas(),
            functions.getGradient(first).estimate_gas(),
        )

        for submitter in signers[2:]:
            submit(repository, submitter, model_id)

        after = (
            functions.getModel(model_id).estimate_gas(),
            functions.getGradient(first).estimate_gas(),
        )
        assert after == before

    def test_a_read_only_client_cannot_send(self, repository: ModelRepository) -> None:
        with pytest.raises(SonarError, match="no account to send transactions from"):
            repository.withdraw()


def test_no_function_but_these_changes_state(repository: ModelRepository) -> None:
    # An early version of the original left a transfer function public.
    mutating = {
        entry["name"]
        for entry in repository.artifact.abi
        if entry["type"] == "function" and entry["stateMutability"] in ("nonpayable", "payable")
    }
    assert mutating == {
        "addModel",
        "addGradient",
        "evalGradient",
        "evalGradients",
        "closeModel",
        "withdraw",
        "withdrawTo",
    }
