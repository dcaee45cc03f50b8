// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ModelRepository} from "../ModelRepository.sol";

/**
 * @dev Test fixture: a gradient submitter that refuses every ether transfer, like a multisig
 * without a payable fallback, to show that such a recipient cannot block evaluations
 * (payouts are credited, not sent) and can still take its credit elsewhere.
 */
contract EtherRejecter {
    /// @dev Raised for every incoming transfer.
    error EtherRejected();

    ModelRepository private immutable REPOSITORY;

    /**
     * @dev Submits to `repository`.
     * @param repository the contract to submit to.
     */
    constructor(ModelRepository repository) {
        REPOSITORY = repository;
    }

    /**
     * @dev Submits a gradient as this contract.
     * @param modelId the model.
     * @param gradient the gradient's CID digest.
     * @return the gradient id.
     */
    function submit(uint256 modelId, bytes32 gradient) external returns (uint256) {
        return REPOSITORY.addGradient(modelId, gradient);
    }

    /**
     * @dev Withdraws this contract's credit, which it then refuses.
     */
    function withdraw() external {
        REPOSITORY.withdraw();
    }

    /**
     * @dev Withdraws this contract's credit to `to`.
     * @param to the address the credit is sent to.
     */
    function withdrawTo(address payable to) external {
        REPOSITORY.withdrawTo(to);
    }

    receive() external payable {
        revert EtherRejected();
    }
}
