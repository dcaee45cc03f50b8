"""The development accounts every local chain funds: anvil's well-known test mnemonic.

WELL-KNOWN DEVELOPMENT KEYS, published by Foundry and Hardhat. Anyone can spend from them
on any chain: use them only on local chains and never send real value to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from eth_account import Account
from eth_account.signers.local import LocalAccount

DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_HD_PATH = "m/44'/60'/0'/0"
DEV_ACCOUNT_COUNT = 10
DEV_BALANCE_WEI = 10_000 * 10**18


@dataclass(frozen=True)
class DevAccount:
    """A funded development account and its (public, well-known) private key."""

    index: int
    address: str
    private_key: str

    def signer(self) -> LocalAccount:
        return Account.from_key(self.private_key)


@cache
def dev_accounts(count: int = DEV_ACCOUNT_COUNT) -> tuple[DevAccount, ...]:
    """The first `count` accounts of the development mnemonic, as anvil derives them."""
    Account.enable_unaudited_hdwallet_features()
    accounts = []
    for index in range(count):
        account = Account.from_mnemonic(DEV_MNEMONIC, account_path=f"{DEV_HD_PATH}/{index}")
        accounts.append(DevAccount(index, account.address, account.key.to_0x_hex()))
    return tuple(accounts)
