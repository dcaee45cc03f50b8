"""Events come in chain order from a block cursor that resumes where it stopped."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount

from sonar.client import (
    GradientAdded,
    GradientEvaluated,
    ModelAdded,
    ModelClosed,
    ModelRepository,
    Withdrawn,
)

ETH = 10**18
CID = bytes.fromhex("44" * 32)


def run_a_model_to_its_end(
    repository: ModelRepository, owner: LocalAccount, mine: LocalAccount
) -> None:
    as_owner, as_mine = repository.as_account(owner), repository.as_account(mine)
    model_id = as_owner.add_model(CID, initial_error=100, target_error=10, bounty=ETH).model_id
    gradient_id = as_mine.add_gradient(model_id, CID).gradient_id
    as_owner.eval_gradient(gradient_id, new_error=5, weights=CID)
    as_mine.withdraw()


def test_reads_every_kind_of_event_in_order(
    repository: ModelRepository, signers: list[LocalAccount]
) -> None:
    owner, mine = signers[0], signers[1]
    cursor = repository.events()

    run_a_model_to_its_end(repository, owner, mine)
    events = cursor.poll()

    assert [type(event) for event in events] == [
        ModelAdded,
        GradientAdded,
        GradientEvaluated,
        ModelClosed,
        Withdrawn,
    ]
    positions = [(e.position.block_number, e.position.log_index) for e in events]
    assert positions == sorted(positions)
    added, submitted, evaluated, closed, withdrawn = events
    assert isinstance(added, ModelAdded) and added.owner == owner.address
    assert isinstance(submitted, GradientAdded) and submitted.submitter == mine.address
    assert isinstance(evaluated, GradientEvaluated) and evaluated.payout == ETH
    assert isinstance(closed, ModelClosed) and closed.target_reached
    assert isinstance(withdrawn, Withdrawn) and withdrawn.amount == ETH
    assert (withdrawn.account, withdrawn.recipient) == (mine.address, mine.address)
    assert cursor.poll() == []


def test_a_cursor_resumes_from_its_saved_block_and_sees_each_event_once(
    repository: ModelRepository, signers: list[LocalAccount]
) -> None:
    as_owner = repository.as_account(signers[0])
    cursor = repository.events()
    as_owner.add_model(CID, initial_error=100, target_error=10, bounty=ETH)
    first = cursor.poll()
    saved = cursor.next_block  # what a restarted reader would persist

    as_owner.add_model(CID, initial_error=100, target_error=10, bounty=ETH)
    resumed = repository.events(next_block=saved).poll()

    assert [e.model_id for e in first] == [0]
    assert [e.model_id for e in resumed] == [1]


def test_reads_a_long_history_in_bounded_batches(
    repository: ModelRepository, signers: list[LocalAccount]
) -> None:
    as_owner = repository.as_account(signers[0])
    for _ in range(3):
        as_owner.add_model(CID, initial_error=100, target_error=10, bounty=ETH)
    cursor = repository.events(max_blocks=1)

    batches = [cursor.poll() for _ in range(5)]

    ids = [event.model_id for batch in batches for event in batch]
    assert ids == [0, 1, 2]
    assert all(len(batch) <= 1 for batch in batches)


def test_polls_to_the_head_in_bounded_batches(
    repository: ModelRepository, signers: list[LocalAccount]
) -> None:
    as_owner = repository.as_account(signers[0])
    for _ in range(3):
        as_owner.add_model(CID, initial_error=100, target_error=10, bounty=ETH)
    cursor = repository.events(max_blocks=1)

    assert [event.model_id for event in cursor.poll_to_head()] == [0, 1, 2]
    assert cursor.next_block == repository.w3.eth.block_number + 1
    assert cursor.poll_to_head() == []
