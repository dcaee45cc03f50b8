"""Contract errors map to the same Python exceptions, whatever the backend reports."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector

from sonar.artifacts import load_contract
from sonar.client.errors import (
    REVERTS,
    GradientNotFound,
    NotModelOwner,
    RevertDecoder,
    UnknownRevert,
    revert_data,
)

ABI = load_contract("ModelRepository").abi


def test_every_contract_error_has_its_exception_with_its_arguments() -> None:
    errors = {entry["name"]: entry for entry in ABI if entry["type"] == "error"}

    assert set(errors) == set(REVERTS)
    for name, entry in errors.items():
        assert len(REVERTS[name].fields) == len(entry["inputs"]), name


def test_decodes_arguments_into_attributes() -> None:
    account = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    data = function_signature_to_4byte_selector("NotModelOwner(uint256,address)") + encode(
        ["uint256", "address"], [7, account]
    )

    error = RevertDecoder(ABI).decode(data)

    assert isinstance(error, NotModelOwner) and isinstance(error, PermissionError)
    assert (error.model_id, error.account) == (7, account)
    assert str(error) == f"NotModelOwner(model_id=7, account='{account}')"


def test_unknown_revert_data_is_kept() -> None:
    panic = function_signature_to_4byte_selector("Panic(uint256)") + encode(["uint256"], [0x11])

    error = RevertDecoder(ABI).decode(panic)

    assert isinstance(error, UnknownRevert) and error.data == panic


def test_reads_eth_testers_revert_message_without_evaluating_code() -> None:
    data = function_signature_to_4byte_selector("GradientNotFound(uint256)") + encode(
        ["uint256"], [5]
    )
    TransactionFailed = type("TransactionFailed", (Exception,), {"__module__": "eth_tester.x"})

    assert revert_data(TransactionFailed(f"execution reverted: {data!r}")) == data
    assert revert_data(TransactionFailed("__import__('os').system('true')")) is None
    decoded = RevertDecoder(ABI).from_call_error(TransactionFailed(repr(data)))
    assert isinstance(decoded, GradientNotFound) and decoded.gradient_id == 5


def test_other_failures_are_not_reverts() -> None:
    assert revert_data(ConnectionError("refused")) is None


@pytest.mark.parametrize("name", sorted(REVERTS))
def test_each_exception_needs_exactly_its_arguments(name: str) -> None:
    cls = REVERTS[name]
    with pytest.raises(TypeError):
        cls(*range(len(cls.fields) + 1))
