"""Where ModelRepository lives on every chain Hydrogen starts: one address, fixed in advance.

It is derived from a name, not from any key and nonce, so no account can ever deploy
something else there, and every component can be configured with it before any chain
runs. The local chains put the contract's code there in their genesis (`sonar.chain`).
"""

from __future__ import annotations

from eth_utils import keccak, to_checksum_address

CONTRACT_ADDRESS = to_checksum_address(keccak(text="hydrogen.sonar.ModelRepository")[-20:])
