// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ModelRepository} from "../ModelRepository.sol";

/**
 * @dev Test fixture: a gradient submitter whose `receive` re-enters
 * {ModelRepository-withdraw} (or {ModelRepository-withdrawTo}, to itself) while being paid.
 * In `Bubble` mode the re-entry's failure propagates; in `Record` mode it is caught and its
 * revert data kept, so that a test can see which check stopped it.
 */
contract ReentrancyAttacker {
    /// @dev What `receive` does with the failed re-entry.
    enum Mode {
        Bubble,
        Record
    }

    ModelRepository private immutable REPOSITORY;
    Mode private _mode;
    bool private _viaWithdrawTo;
    bytes private _reentryError;
    uint256 private _reentries;
    uint256 private _reentriesPaid;

    /**
     * @dev Attacks `repository`.
     * @param repository the contract under attack.
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
     * @dev Withdraws this contract's credit, re-entering from `receive`.
     * @param mode what to do when the re-entry fails.
     */
    function attack(Mode mode) external {
        _mode = mode;
        REPOSITORY.withdraw();
    }

    /**
     * @dev Withdraws this contract's credit to itself with `withdrawTo`, re-entering
     * `withdrawTo` from `receive`.
     * @param mode what to do when the re-entry fails.
     */
    function attackWithdrawTo(Mode mode) external {
        _mode = mode;
        _viaWithdrawTo = true;
        REPOSITORY.withdrawTo(payable(address(this)));
    }

    /**
     * @dev The revert data of the last failed re-entry (`Record` mode).
     * @return the raw revert data.
     */
    function reentryError() external view returns (bytes memory) {
        return _reentryError;
    }

    /**
     * @dev How many re-entries were attempted.
     * @return the count.
     */
    function reentries() external view returns (uint256) {
        return _reentries;
    }

    /**
     * @dev How many re-entries were paid: any at all means the guard failed.
     * @return the count.
     */
    function reentriesPaid() external view returns (uint256) {
        return _reentriesPaid;
    }

    // The attack is the point of this fixture: its receive is complex on purpose.
    // solhint-disable-next-line no-complex-fallback
    receive() external payable {
        ++_reentries;
        if (_mode == Mode.Bubble) {
            if (_viaWithdrawTo) REPOSITORY.withdrawTo(payable(address(this)));
            else REPOSITORY.withdraw();
        } else if (_viaWithdrawTo) {
            try REPOSITORY.withdrawTo(payable(address(this))) {
                ++_reentriesPaid;
            } catch (bytes memory reason) {
                _reentryError = reason;
            }
        } else {
            try REPOSITORY.withdraw() {
                ++_reentriesPaid;
            } catch (bytes memory reason) {
                _reentryError = reason;
            }
        }
    }
}
