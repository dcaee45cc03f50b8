"""Python exceptions for ModelRepository's custom errors, the same on every backend.

Each Solidity custom error maps to one class here, named alike, carrying the error's
arguments as attributes. `decode_revert` turns the revert data of a failed call (whatever
shape the backend reported it in) into that exception.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from eth_abi import decode as abi_decode
from eth_utils import function_signature_to_4byte_selector, to_checksum_address
from hexbytes import HexBytes
from web3.exceptions import ContractLogicError

from sonar.errors import SonarError


class ContractRevert(SonarError):
    """A call reverted with one of the contract's custom errors."""

    fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *values: Any) -> None:
        if len(values) != len(self.fields):
            raise TypeError(f"{type(self).__name__} takes {self.fields}, got {values}")
        super().__init__(*values)
        for name, value in zip(self.fields, values):
            setattr(self, name, value)

    def __str__(self) -> str:
        arguments = ", ".join(f"{name}={value!r}" for name, value in zip(self.fields, self.args))
        return f"{type(self).__name__}({arguments})"


class InvalidBounty(ContractRevert, ValueError):
    """The bounty must be positive and below 2^96 wei."""

    fields = ("value",)


class InvalidErrorRange(ContractRevert, ValueError):
    """The target error must be below the initial error."""

    fields = ("initial_error", "target_error")


class EmptyCid(ContractRevert, ValueError):
    """A CID digest of zero names nothing."""


class ModelNotFound(ContractRevert, LookupError):
    fields = ("model_id",)


class ModelNotOpen(ContractRevert):
    """The model is closed: no more gradients, evaluations or refunds."""

    fields = ("model_id",)


class NotModelOwner(ContractRevert, PermissionError):
    """Only the model's owner may evaluate its gradients or close it."""

    fields = ("model_id", "account")


class GradientAlreadySubmitted(ContractRevert):
    """One gradient per submitter per model version."""

    fields = ("gradient_id",)


class GradientNotFound(ContractRevert, LookupError):
    fields = ("gradient_id",)


class GradientAlreadyEvaluated(ContractRevert):
    fields = ("gradient_id",)


class NothingToWithdraw(ContractRevert):
    fields = ("account",)


class InvalidRecipient(ContractRevert, ValueError):
    """Credit cannot be sent to the zero address."""

    fields = ("recipient",)


class WithdrawalFailed(ContractRevert):
    """The recipient refused the transfer; the account's credit stays."""

    fields = ("account", "recipient", "amount")


class InvalidBatch(ContractRevert, ValueError):
    """A batch of evaluations needs one error and one digest per gradient, and at least one."""

    fields = ("gradients", "errors", "weights")


class GradientOfAnotherModel(ContractRevert, ValueError):
    """A batch evaluates the gradients of one model only."""

    fields = ("gradient_id", "model_id")


class ReentrancyGuardReentrantCall(ContractRevert):
    """A guarded function was entered again before it returned."""


class UnknownRevert(SonarError):
    """A call reverted with data that is not one of the contract's errors."""

    def __init__(self, data: bytes) -> None:
        super().__init__(f"reverted with unrecognised data 0x{data.hex()}")
        self.data = data


class TransactionReverted(SonarError):
    """A mined transaction failed although its simulation succeeded (the state changed)."""

    def __init__(self, transaction_hash: str, gas_used: int) -> None:
        super().__init__(f"transaction {transaction_hash} reverted (gas used {gas_used})")
        self.transaction_hash = transaction_hash
        self.gas_used = gas_used


REVERTS: Mapping[str, type[ContractRevert]] = {
    cls.__name__: cls for cls in ContractRevert.__subclasses__()
}

# eth-tester reports a revert as the repr of its raw bytes, e.g. "execution reverted: b'..'".
_ETH_TESTER_REVERT = re.compile(r"^(?:execution reverted: )?(b'.*'|b\".*\")$", re.DOTALL)


class RevertDecoder:
    """Maps revert data to exceptions using the contract ABI's error entries."""

    def __init__(self, abi: Sequence[Mapping[str, Any]]) -> None:
        self._errors: dict[bytes, tuple[type[ContractRevert], list[str]]] = {}
        for entry in abi:
            if entry.get("type") != "error":
                continue
            types = [argument["type"] for argument in entry["inputs"]]
            selector = function_signature_to_4byte_selector(f"{entry['name']}({','.join(types)})")
            self._errors[selector] = (REVERTS[entry["name"]], types)

    def decode(self, data: bytes) -> SonarError:
        known = self._errors.get(data[:4])
        if known is None:
            return UnknownRevert(data)
        cls, types = known
        values = abi_decode(types, data[4:])
        return cls(
            *(
                to_checksum_address(value) if kind == "address" else value
                for kind, value in zip(types, values)
            )
        )

    def from_call_error(self, error: Exception) -> SonarError | None:
        """The exception for a failed call or gas estimate, or None if it was no revert."""
        data = revert_data(error)
        return None if data is None else self.decode(data)


def revert_data(error: Exception) -> bytes | None:
    """The raw revert data in a backend's exception, or None if it is not a revert."""
    if isinstance(error, ContractLogicError):
        return bytes(HexBytes(error.data)) if isinstance(error.data, str) else None
    if type(error).__module__.startswith("eth_tester") and type(error).__name__ == (
        "TransactionFailed"
    ):
        match = _ETH_TESTER_REVERT.match(str(error.args[0]) if error.args else "")
        if match:
            # A bytes literal, nothing else: literal_eval evaluates no code.
            return ast.literal_eval(match.group(1))
    return None
