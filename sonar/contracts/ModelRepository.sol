// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/**
 * @dev A market for training models on data nobody hands over.
 *
 * A data scientist posts a model (the IPFS CID of its encrypted weights) with a bounty
 * held in escrow for that model alone. Anyone may submit an encrypted gradient computed
 * against the model's current version; the model's owner evaluates it and, when it lowers
 * the best error, credits its submitter with the bounty's share of the error removed:
 *
 *     bounty * (bestError - max(newError, targetError)) / (initialError - targetError)
 *
 * never more than what remains in that model's escrow. Reaching the target error closes the
 * model; so can its owner at any time. Closing credits the unspent remainder back to the
 * owner. Credits are paid out by {withdraw} (pull payments), so no recipient can block an
 * evaluation.
 *
 * For every model, paid + remaining + refunded == bounty, and the contract's balance is the
 * sum of outstanding credits plus the remaining escrow of open models.
 *
 * CIDs are stored as the 32-byte sha256 digest of a CIDv0 multihash. A gradient's id
 * encodes the model, the version and the submitter it belongs to (see {gradientIdOf}), so
 * that "one gradient per submitter per model version" costs no extra storage.
 */
contract ModelRepository is ReentrancyGuardTransient {
    /// @dev Lifecycle of a gradient. `None` means it was never submitted.
    enum GradientStatus {
        None,
        Submitted,
        Evaluated
    }

    /// @dev What {getModel} returns.
    struct ModelView {
        address owner;
        bytes32 weights;
        uint32 version;
        uint32 gradientCount;
        bool closed;
        uint256 bounty;
        uint256 paid;
        uint256 remaining;
        uint256 refunded;
        uint64 initialError;
        uint64 targetError;
        uint64 bestError;
    }

    /// @dev What {getGradient} returns.
    struct GradientView {
        uint256 modelId;
        uint32 version;
        address submitter;
        GradientStatus status;
        uint64 newError;
        uint256 payout;
    }

    /**
     * @dev Emitted when `owner` posts model `modelId` with `bounty` wei in escrow.
     * @param modelId the new model's id.
     * @param owner the data scientist who posted it.
     * @param weights CID digest of the encrypted initial weights.
     * @param bounty wei escrowed for this model.
     * @param initialError error of the initial weights.
     * @param targetError error at which the model closes.
     */
    event ModelAdded(
        uint256 indexed modelId,
        address indexed owner,
        bytes32 weights,
        uint256 bounty,
        uint64 initialError,
        uint64 targetError
    );

    /**
     * @dev Emitted when `submitter` submits gradient `gradient` against `version` of `modelId`.
     * @param gradientId the gradient's id, see {gradientIdOf}.
     * @param modelId the model it is for.
     * @param submitter who submitted it, and is paid for it.
     * @param version the model version it was computed against.
     * @param gradient CID digest of the encrypted gradient.
     */
    event GradientAdded(
        uint256 indexed gradientId,
        uint256 indexed modelId,
        address indexed submitter,
        uint32 version,
        bytes32 gradient
    );

    /**
     * @dev Emitted when the owner evaluates a gradient. `payout` wei were credited to its
     * submitter; if the error improved, the model moved to `weights` at `version`.
     * @param gradientId the gradient evaluated.
     * @param modelId its model.
     * @param submitter its submitter.
     * @param newError the model's error with the gradient applied.
     * @param payout wei credited to the submitter.
     * @param weights CID digest of the model's weights after the evaluation.
     * @param version the model's version after the evaluation.
     */
    event GradientEvaluated(
        uint256 indexed gradientId,
        uint256 indexed modelId,
        address indexed submitter,
        uint64 newError,
        uint256 payout,
        bytes32 weights,
        uint32 version
    );

    /**
     * @dev Emitted when a model closes, by its owner or at its target error.
     * @param modelId the model closed.
     * @param refund the unspent bounty credited back to the owner, in wei.
     * @param targetReached whether an evaluation reached the target error.
     */
    event ModelClosed(uint256 indexed modelId, uint256 refund, bool targetReached);

    /**
     * @dev Emitted when `account` withdraws `amount` wei of credit.
     * @param account who withdrew.
     * @param amount wei sent.
     */
    event Withdrawn(address indexed account, uint256 amount);

    /// @dev A model must carry a bounty (at most 2^96 - 1 wei).
    error InvalidBounty(uint256 value);

    /// @dev The target error must be below the initial error.
    error InvalidErrorRange(uint64 initialError, uint64 targetError);

    /// @dev A CID digest of zero does not name any object.
    error EmptyCid();

    /// @dev No model has this id.
    error ModelNotFound(uint256 modelId);

    /// @dev The model is closed: no more gradients, evaluations or refunds.
    error ModelNotOpen(uint256 modelId);

    /// @dev Only the model's owner may evaluate its gradients or close it.
    error NotModelOwner(uint256 modelId, address account);

    /// @dev The submitter already submitted a gradient for this model version.
    error GradientAlreadySubmitted(uint256 gradientId);

    /// @dev No gradient has this id.
    error GradientNotFound(uint256 gradientId);

    /// @dev Each gradient is evaluated once.
    error GradientAlreadyEvaluated(uint256 gradientId);

    /// @dev The account has no credit to withdraw.
    error NothingToWithdraw(address account);

    /// @dev Sending the credit failed; it stays credited.
    error WithdrawalFailed(address account, uint256 amount);

    /// @dev A batch of evaluations must be non-empty, with one error and one digest per id.
    error InvalidBatch(uint256 gradients, uint256 errors, uint256 weights);

    /// @dev A batch evaluates gradients of one model; this one is another model's.
    error GradientOfAnotherModel(uint256 gradientId, uint256 modelId);

    // Four slots per model, laid out so that an evaluation touches as few as possible.
    struct Model {
        // slot 0
        address owner;
        uint32 version;
        uint32 gradientCount;
        bool closed;
        // slot 1
        bytes32 weights;
        // slot 2
        uint96 bounty;
        uint96 paid;
        uint64 bestError;
        // slot 3
        uint64 initialError;
        uint64 targetError;
    }

    // One slot per gradient: who, which model and which version are in its id.
    struct Gradient {
        GradientStatus status;
        uint64 newError;
        uint96 payout;
    }

    uint256 private _modelCount;
    mapping(uint256 modelId => Model) private _models;
    mapping(uint256 gradientId => Gradient) private _gradients;
    mapping(address account => uint256) private _credits;

    /**
     * @dev Posts a model whose encrypted weights are at `weights`, escrowing `msg.value` as
     * its bounty. Errors are integers on a scale the clients agree on (see PySonar).
     *
     * Requirements:
     *
     * - `msg.value` is positive and below 2^96.
     * - `targetError` is below `initialError`.
     * - `weights` is not zero.
     *
     * Emits a {ModelAdded} event.
     *
     * @param weights sha256 digest of the CIDv0 of the encrypted initial weights.
     * @param initialError the error of the initial weights on the owner's validation set.
     * @param targetError the error at which the model closes and the bounty is spent.
     * @return modelId the new model's id.
     */
    function addModel(
        bytes32 weights,
        uint64 initialError,
        uint64 targetError
    ) external payable returns (uint256 modelId) {
        if (msg.value == 0 || msg.value > type(uint96).max) revert InvalidBounty(msg.value);
        if (targetError >= initialError) revert InvalidErrorRange(initialError, targetError);
        if (weights == bytes32(0)) revert EmptyCid();

        modelId = _modelCount;
        ++_modelCount;
        Model storage model = _models[modelId];
        model.owner = msg.sender;
        model.weights = weights;
        model.bounty = uint96(msg.value);
        model.bestError = initialError;
        model.initialError = initialError;
        model.targetError = targetError;

        emit ModelAdded(modelId, msg.sender, weights, msg.value, initialError, targetError);
    }

    /**
     * @dev Submits the encrypted gradient at `gradient`, computed against the model's current
     * version, on behalf of `msg.sender`.
     *
     * Requirements:
     *
     * - model `modelId` exists and is open.
     * - `msg.sender` has not submitted a gradient for this version of the model.
     * - `gradient` is not zero.
     *
     * Emits a {GradientAdded} event.
     *
     * @param modelId the model the gradient is for.
     * @param gradient sha256 digest of the CIDv0 of the encrypted gradient.
     * @return gradientId the gradient's id, see {gradientIdOf}.
     */
    function addGradient(uint256 modelId, bytes32 gradient) external returns (uint256 gradientId) {
        Model storage model = _openModel(modelId);
        if (gradient == bytes32(0)) revert EmptyCid();
        uint32 version = model.version;
        gradientId = gradientIdOf(modelId, version, msg.sender);
        if (_gradients[gradientId].status != GradientStatus.None) {
            revert GradientAlreadySubmitted(gradientId);
        }

        _gradients[gradientId].status = GradientStatus.Submitted;
        ++model.gradientCount;

        emit GradientAdded(gradientId, modelId, msg.sender, version, gradient);
    }

    /**
     * @dev Records the owner's evaluation of gradient `gradientId`: the model's error on the
     * owner's validation set after applying it is `newError`, and the resulting encrypted
     * weights are at `weights`. If `newError` improves on the best error, the submitter is
     * credited its share of the bounty and the model advances to a new version; reaching the
     * target error closes the model and credits the unspent remainder to the owner.
     *
     * Requirements:
     *
     * - the gradient exists and was not evaluated yet.
     * - its model is open and `msg.sender` owns it.
     * - `weights` is not zero when `newError` improves on the best error.
     *
     * Emits a {GradientEvaluated} event, and a {ModelClosed} event when the target is reached.
     *
     * @param gradientId the gradient, as returned by {addGradient}.
     * @param newError the model's error with the gradient applied.
     * @param weights sha256 digest of the CIDv0 of the new encrypted weights.
     * @return payout the wei credited to the gradient's submitter.
     */
    function evalGradient(
        uint256 gradientId,
        uint64 newError,
        bytes32 weights
    ) external returns (uint256 payout) {
        Gradient storage gradient = _pendingGradient(gradientId);
        uint256 modelId = gradientId >> 192;
        Model storage model = _ownedOpenModel(modelId);
        payout = _evaluate(modelId, model, gradient, gradientId, newError, weights);
    }

    /**
     * @dev Records the owner's evaluations of several gradients of model `modelId` at once,
     * in order, exactly as that many {evalGradient} calls would: each is scored against the
     * best error left by the ones before it. One transaction moves the model through all
     * the versions, so no one ever sees the versions in between; the owner evaluates a
     * round of gradients together.
     *
     * Requirements:
     *
     * - the three arrays have the same, non-zero length.
     * - every gradient is of model `modelId`, exists, was not evaluated yet and appears once.
     * - the model is open (also before each item: none may follow one that reaches the
     *   target) and `msg.sender` owns it.
     * - `weights[i]` is not zero when `newErrors[i]` improves on the best error.
     *
     * Emits a {GradientEvaluated} event per gradient, and a {ModelClosed} event when the
     * target is reached.
     *
     * @param modelId the model the gradients are for.
     * @param gradientIds the gradients, in the order they are evaluated.
     * @param newErrors the model's error with each gradient applied.
     * @param weights sha256 digests of the CIDv0 of the weights after each gradient.
     * @return paid the wei credited to the submitters in all.
     */
    function evalGradients(
        uint256 modelId,
        uint256[] calldata gradientIds,
        uint64[] calldata newErrors,
        bytes32[] calldata weights
    ) external returns (uint256 paid) {
        uint256 count = gradientIds.length;
        if (count == 0 || newErrors.length != count || weights.length != count) {
            revert InvalidBatch(count, newErrors.length, weights.length);
        }
        Model storage model = _ownedOpenModel(modelId);
        for (uint256 i = 0; i < count; ++i) {
            uint256 gradientId = gradientIds[i];
            if (gradientId >> 192 != modelId) revert GradientOfAnotherModel(gradientId, modelId);
            if (model.closed) revert ModelNotOpen(modelId);
            Gradient storage gradient = _pendingGradient(gradientId);
            paid += _evaluate(modelId, model, gradient, gradientId, newErrors[i], weights[i]);
        }
    }

    /**
     * @dev Closes model `modelId` before its target is reached and credits the unspent
     * bounty back to its owner, to withdraw with {withdraw}.
     *
     * Requirements:
     *
     * - the model exists, is open, and `msg.sender` owns it.
     *
     * Emits a {ModelClosed} event.
     *
     * @param modelId the model to close.
     */
    function closeModel(uint256 modelId) external {
        _close(modelId, _ownedOpenModel(modelId), false);
    }

    /**
     * @dev Sends `msg.sender` all of its credit: payouts for its gradients and refunds of
     * its closed models.
     *
     * Requirements:
     *
     * - `msg.sender` has credit.
     * - `msg.sender` accepts the transfer; otherwise the call reverts and the credit stays.
     *
     * Emits a {Withdrawn} event.
     *
     * @return amount the wei sent.
     */
    function withdraw() external nonReentrant returns (uint256 amount) {
        amount = _credits[msg.sender];
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        _credits[msg.sender] = 0;
        emit Withdrawn(msg.sender, amount);
        (bool sent, ) = payable(msg.sender).call{value: amount}("");
        if (!sent) revert WithdrawalFailed(msg.sender, amount);
    }

    /**
     * @dev The number of models ever posted; ids run from 0 to `modelCount() - 1`.
     * @return the number of models.
     */
    function modelCount() external view returns (uint256) {
        return _modelCount;
    }

    /**
     * @dev The state of model `modelId`.
     *
     * Requirements:
     *
     * - the model exists.
     *
     * @param modelId the model.
     * @return the model's owner, weights, version, escrow and errors.
     */
    function getModel(uint256 modelId) external view returns (ModelView memory) {
        Model storage model = _existingModel(modelId);
        uint256 unspent = model.bounty - model.paid;
        return
            ModelView({
                owner: model.owner,
                weights: model.weights,
                version: model.version,
                gradientCount: model.gradientCount,
                closed: model.closed,
                bounty: model.bounty,
                paid: model.paid,
                remaining: model.closed ? 0 : unspent,
                refunded: model.closed ? unspent : 0,
                initialError: model.initialError,
                targetError: model.targetError,
                bestError: model.bestError
            });
    }

    /**
     * @dev The state of gradient `gradientId`.
     *
     * Requirements:
     *
     * - the gradient exists.
     *
     * @param gradientId the gradient.
     * @return the gradient's model, version, submitter, status and evaluation.
     */
    function getGradient(uint256 gradientId) external view returns (GradientView memory) {
        Gradient storage gradient = _gradients[gradientId];
        if (gradient.status == GradientStatus.None) revert GradientNotFound(gradientId);
        return
            GradientView({
                modelId: gradientId >> 192,
                version: uint32(gradientId >> 160),
                submitter: address(uint160(gradientId)),
                status: gradient.status,
                newError: gradient.newError,
                payout: gradient.payout
            });
    }

    /**
     * @dev The wei `account` can withdraw.
     * @param account the account.
     * @return its credit in wei.
     */
    function creditOf(address account) external view returns (uint256) {
        return _credits[account];
    }

    /**
     * @dev The id of the gradient `submitter` submits for `version` of `modelId`: the
     * model id, the version and the submitter's address packed into 64, 32 and 160 bits.
     * @param modelId the model.
     * @param version the model version the gradient is computed against.
     * @param submitter the gradient's submitter.
     * @return the gradient id.
     */
    function gradientIdOf(
        uint256 modelId,
        uint32 version,
        address submitter
    ) public pure returns (uint256) {
        return (modelId << 192) | (uint256(version) << 160) | uint256(uint160(submitter));
    }

    function _evaluate(
        uint256 modelId,
        Model storage model,
        Gradient storage gradient,
        uint256 gradientId,
        uint64 newError,
        bytes32 weights
    ) private returns (uint256 payout) {
        address submitter = address(uint160(gradientId));
        bool improved = newError < model.bestError;
        bool targetReached = newError <= model.targetError;
        if (improved) {
            if (weights == bytes32(0)) revert EmptyCid();
            payout = _payoutFor(model, newError);
            model.paid += uint96(payout);
            model.bestError = newError;
            model.weights = weights;
            ++model.version;
        }
        gradient.status = GradientStatus.Evaluated;
        gradient.newError = newError;
        gradient.payout = uint96(payout);
        if (payout > 0) _credits[submitter] += payout;

        emit GradientEvaluated(
            gradientId,
            modelId,
            submitter,
            newError,
            payout,
            model.weights,
            model.version
        );
        if (targetReached) _close(modelId, model, true);
    }

    function _pendingGradient(uint256 gradientId) private view returns (Gradient storage gradient) {
        gradient = _gradients[gradientId];
        if (gradient.status == GradientStatus.None) revert GradientNotFound(gradientId);
        if (gradient.status == GradientStatus.Evaluated) {
            revert GradientAlreadyEvaluated(gradientId);
        }
    }

    function _payoutFor(Model storage model, uint64 newError) private view returns (uint256) {
        uint64 reached = newError > model.targetError ? newError : model.targetError;
        uint256 share = (uint256(model.bounty) * (model.bestError - reached)) /
            (model.initialError - model.targetError);
        uint256 unspent = model.bounty - model.paid;
        return share < unspent ? share : unspent;
    }

    function _close(uint256 modelId, Model storage model, bool targetReached) private {
        uint256 refund = model.bounty - model.paid;
        model.closed = true;
        if (refund > 0) _credits[model.owner] += refund;
        emit ModelClosed(modelId, refund, targetReached);
    }

    function _existingModel(uint256 modelId) private view returns (Model storage model) {
        model = _models[modelId];
        if (model.owner == address(0)) revert ModelNotFound(modelId);
    }

    function _openModel(uint256 modelId) private view returns (Model storage model) {
        model = _existingModel(modelId);
        if (model.closed) revert ModelNotOpen(modelId);
    }

    function _ownedOpenModel(uint256 modelId) private view returns (Model storage model) {
        model = _openModel(modelId);
        if (model.owner != msg.sender) revert NotModelOwner(modelId, msg.sender);
    }
}
