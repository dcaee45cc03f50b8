// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/**
 * @dev Test fixture: sends its whole value to `recipient` without calling it, by
 * self-destructing in its own constructor. Since Cancun (EIP-6780) `selfdestruct` deletes
 * only a contract created in the same transaction, but it still transfers the balance, and
 * no code of the recipient runs: this is how ether reaches a contract that has no payable
 * function, such as ModelRepository.
 */
contract ForceSender {
    /**
     * @dev Sends `msg.value` to `recipient` and leaves no contract behind.
     * @param recipient the address credited with the ether.
     */
    constructor(address payable recipient) payable {
        selfdestruct(recipient);
    }
}
