// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/**
 * @dev A market for training models on data nobody hands over.
 *
 * A data scientist posts a model (the IPFS CID of its encrypted weights) with a bounty
 * held in escrow for that model alone. Anyone may submit an encrypted gradient computed
 * against the model's current version; the model's owner evaluates it and, when it lowers
 * the best error without reaching the target error, credits its submitter with the bounty's
 * share of the error removed:
 *
 *     bounty * (bestError - newError) / (initialError - targetError)
 *
 * The evaluation that reaches the target error is credited the whole remaining escrow,
 * `bounty - paid`, and closes the model: a model that reaches its target spends its whole
 * bounty, rounding included. Its owner may also close it at any time; closing early
 * credits the unspent remainder back to the owner. Credits are paid out by {withdraw} or
 * {withdrawTo} (pull payments), so no recipient can block an evaluation.
 *
 * For every model, paid + remaining + refunded == bounty, to the wei. The contract's
 * balance is at least the sum of outstanding credits plus the remaining escrow of open
 * models: ether can reach it without any of its functions running (a `selfdestruct` that
 * names it, or naming it a block's fee recipient or a withdrawal address), and such ether
 * is nobody's credit. Nothing here reads the balance, so it changes nothing; it stays in
 * the contract.
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
     * @param refund the unspent bounty credited back to the owner, in wei (always zero when
     * the target was reached: the evaluation that reached it was credited the rest).
     * @param targetReached whether an evaluation reached the target error.
     */
    event ModelClosed(uint256 indexed modelId, uint256 refund, bool targetReached);

    /**
     * @dev Emitted when `account` withdraws `amount` wei of its credit to `recipient`.
     * @param account whose credit was withdrawn.
     * @param recipient who was sent the wei: `account` itself for {withdraw}.
     * @param amount wei sent.
     */
    event Withdrawn(address indexed account, address indexed recipient, uint256 amount);

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

    /// @dev Credit cannot be sent to this address (the zero address).
    error InvalidRecipient(address recipient);

    /// @dev Sending `account`'s credit to `recipient` failed; it stays credited.
    error WithdrawalFailed(address account, address recipient, uint256 amount);

    /// @dev A batch of evaluations must be non-empty, with one error and one digest per id.
    error InvalidBatch(uint256 gradients, uint256 errors, uint256 weights);

    /// @dev A batch evaluates gradients of one model; this one is another model's.
    error GradientOfAnotherModel(uint256 gradientId, uint256 modelId);

    // A model's storage: four slots, grouped by who writes them, so that an evaluation
    // writes two (its progress and its weights), reads one more (its terms), and reads the
    // fourth (its goal) only to pay a share short of the target.
    //
    // What the model was posted with, written by {addModel} only.
    struct Terms {
        address owner;
        uint96 bounty;
    }

    // What evaluations change, one slot written whole. The model is closed once its best
    // error is at or below `closingError`: its target error, or `type(uint64).max` once its
    // owner closed it (a target is always below the initial error, so never that value).
    // Reaching the target thus closes the model without writing anything more.
    struct Progress {
        uint96 paid;
        uint64 bestError;
        uint64 closingError;
        uint32 version;
    }

    // The error range as posted, and how many gradients were submitted ({addGradient}).
    struct Goal {
        uint64 initialError;
        uint64 targetError;
        uint32 gradientCount;
    }

    struct Model {
        Terms terms; // slot 0
        Progress progress; // slot 1
        bytes32 weights; // slot 2
        Goal goal; // slot 3
    }

    // One slot per gradient: who, which model and which version are in its id.
    struct Gradient {
        GradientStatus status;
        uint64 newError;
        uint96 payout;
    }

    // The number of models plus one. The variable initializer sets it to 1 at deployment,
    // so that the first {addModel} rewrites a non-zero slot (5,000 gas) instead of creating
    // one (22,100 gas): the trade OpenZeppelin's ReentrancyGuard makes with NOT_ENTERED = 1.
    // A chain that places this contract in its genesis must give it this storage too.
    uint256 private _modelCountPlusOne = 1;
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

        uint256 countPlusOne = _modelCountPlusOne;
        modelId = countPlusOne - 1;
        _modelCountPlusOne = countPlusOne + 1;
        Model storage model = _models[modelId];
        model.terms = Terms({owner: msg.sender, bounty: uint96(msg.value)});
        model.progress = Progress({
            paid: 0,
            bestError: initialError,
            closingError: targetError,
            version: 0
        });
        model.weights = weights;
        model.goal = Goal({initialError: initialError, targetError: targetError, gradientCount: 0});

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
        uint32 version = model.progress.version;
        gradientId = gradientIdOf(modelId, version, msg.sender);
        Gradient storage submitted = _gradients[gradientId];
        if (submitted.status != GradientStatus.None) revert GradientAlreadySubmitted(gradientId);

        submitted.status = GradientStatus.Submitted;
        ++model.goal.gradientCount;

        emit GradientAdded(gradientId, modelId, msg.sender, version, gradient);
    }

    /**
     * @dev Records the owner's evaluation of gradient `gradientId`: the model's error on the
     * owner's validation set after applying it is `newError`, and the resulting encrypted
     * weights are at `weights`. If `newError` improves on the best error, the submitter is
     * credited its share of the bounty and the model advances to a new version; if it also
     * reaches the target error, the submitter is credited the whole remaining escrow and
     * the model closes.
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
        payout = _evaluate(gradientId, newError, weights);
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
        for (uint256 i = 0; i < count; ++i) {
            uint256 gradientId = gradientIds[i];
            if (gradientId >> 192 != modelId) revert GradientOfAnotherModel(gradientId, modelId);
            paid += _evaluate(gradientId, newErrors[i], weights[i]);
        }
    }

    /**
     * @dev Closes model `modelId` before its target is reached and credits the unspent
     * bounty back to its owner, to withdraw with {withdraw} or {withdrawTo}.
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
        Model storage model = _openModel(modelId);
        Terms memory terms = model.terms;
        if (terms.owner != msg.sender) revert NotModelOwner(modelId, msg.sender);
        Progress memory progress = model.progress;
        uint256 refund;
        // paid <= bounty always (see _payout).
        unchecked {
            refund = terms.bounty - progress.paid;
        }
        progress.closingError = type(uint64).max;
        model.progress = progress;
        if (refund > 0) _credit(msg.sender, refund);
        emit ModelClosed(modelId, refund, false);
    }

    /**
     * @dev Sends `msg.sender` all of its credit: payouts for its gradients and refunds of
     * its closed models.
     *
     * Requirements:
     *
     * - `msg.sender` has credit.
     * - `msg.sender` accepts the transfer; otherwise the call reverts and the credit stays
     *   (see {withdrawTo} to have it sent elsewhere).
     *
     * Emits a {Withdrawn} event.
     *
     * @return amount the wei sent.
     */
    function withdraw() external nonReentrant returns (uint256 amount) {
        amount = _withdraw(payable(msg.sender));
    }

    /**
     * @dev Sends all of `msg.sender`'s credit to `to`: for an account that cannot receive
     * ether itself, such as a contract without a payable fallback.
     *
     * Requirements:
     *
     * - `to` is not the zero address.
     * - `msg.sender` has credit.
     * - `to` accepts the transfer; otherwise the call reverts and the credit stays.
     *
     * Emits a {Withdrawn} event.
     *
     * @param to the address the credit is sent to.
     * @return amount the wei sent.
     */
    function withdrawTo(address payable to) external nonReentrant returns (uint256 amount) {
        if (to == address(0)) revert InvalidRecipient(to);
        amount = _withdraw(to);
    }

    /**
     * @dev The number of models ever posted; ids run from 0 to `modelCount() - 1`.
     * @return the number of models.
     */
    function modelCount() external view returns (uint256) {
        return _modelCountPlusOne - 1;
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
        Terms memory terms = model.terms;
        Progress memory progress = model.progress;
        Goal memory goal = model.goal;
        bool closed = _isClosed(model);
        uint256 unspent = terms.bounty - progress.paid;
        return
            ModelView({
                owner: terms.owner,
                weights: model.weights,
                version: progress.version,
                gradientCount: goal.gradientCount,
                closed: closed,
                bounty: terms.bounty,
                paid: progress.paid,
                remaining: closed ? 0 : unspent,
                refunded: closed ? unspent : 0,
                initialError: goal.initialError,
                targetError: goal.targetError,
                bestError: progress.bestError
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
        Gradient memory gradient = _gradients[gradientId];
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

    /**
     * @dev Scores gradient `gradientId` after checking that it is pending and that its model
     * is open and is the caller's; records its evaluation, credits its submitter and, when the
     * error improves, advances the model (see {_payout}). Reaching the target closes the model:
     * its best error is then at or below its closing error.
     */
    function _evaluate(
        uint256 gradientId,
        uint64 newError,
        bytes32 weights
    ) private returns (uint256 payout) {
        Gradient storage gradient = _gradients[gradientId];
        GradientStatus status = gradient.status;
        if (status == GradientStatus.None) revert GradientNotFound(gradientId);
        if (status == GradientStatus.Evaluated) revert GradientAlreadyEvaluated(gradientId);
        uint256 modelId = gradientId >> 192;
        Model storage model = _models[modelId];
        Terms storage terms = model.terms;
        Progress storage progress = model.progress;
        uint64 bestError = progress.bestError;
        // While the model is open this is its target error.
        uint64 targetError = progress.closingError;
        // The model exists: addGradient checked that before the gradient was submitted.
        if (bestError <= targetError) revert ModelNotOpen(modelId);
        if (terms.owner != msg.sender) revert NotModelOwner(modelId, msg.sender);

        address submitter = address(uint160(gradientId));
        uint32 version = progress.version;
        bool reached = false;
        if (newError < bestError) {
            if (weights == bytes32(0)) revert EmptyCid();
            reached = newError <= targetError;
            uint96 paid = progress.paid;
            payout = _payout(model, terms.bounty, paid, bestError, newError, reached);
            // paid + payout <= bounty < 2^96 (see _payout).
            unchecked {
                paid += uint96(payout);
            }
            ++version;
            model.progress = Progress({
                paid: paid,
                bestError: newError,
                closingError: targetError,
                version: version
            });
            model.weights = weights;
        } else {
            weights = model.weights;
        }
        gradient.status = GradientStatus.Evaluated;
        gradient.newError = newError;
        gradient.payout = uint96(payout);
        if (payout > 0) _credit(submitter, payout);

        emit GradientEvaluated(gradientId, modelId, submitter, newError, payout, weights, version);
        if (reached) emit ModelClosed(modelId, 0, true);
    }

    /**
     * @dev What an improvement of open `model` from `bestError` to `newError` pays: the whole
     * remaining escrow, `bounty - paid`, if it `reached` the target; otherwise the bounty's
     * share of the error removed, `bounty * (bestError - newError) / (initialError -
     * targetError)`, rounded down.
     *
     * Never more than the remaining escrow: while a model is open its best error is above its
     * target, so the improvements that do not reach the target remove less than
     * `initialError - targetError` in all, and the sum of their rounded-down shares, `paid`,
     * stays below `bounty`.
     */
    function _payout(
        Model storage model,
        uint96 bounty,
        uint96 paid,
        uint64 bestError,
        uint64 newError,
        bool reached
    ) private view returns (uint256) {
        // Safe, as proven above: paid < bounty; short of the target bestError > newError and
        // initialError > targetError; a 96-bit bounty times a 64-bit difference fits 160 bits.
        unchecked {
            if (reached) return bounty - paid;
            Goal storage goal = model.goal;
            return
                (uint256(bounty) * (bestError - newError)) /
                (goal.initialError - goal.targetError);
        }
    }

    /// @dev Sends all of `msg.sender`'s credit to `to`: effects, event, then the transfer.
    function _withdraw(address payable to) private returns (uint256 amount) {
        amount = _credits[msg.sender];
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        _credits[msg.sender] = 0;
        emit Withdrawn(msg.sender, to, amount);
        (bool sent, ) = to.call{value: amount}("");
        if (!sent) revert WithdrawalFailed(msg.sender, to, amount);
    }

    function _credit(address account, uint256 amount) private {
        // Credits sum to at most the ether this contract received, far below 2^256.
        unchecked {
            _credits[account] += amount;
        }
    }

    function _existingModel(uint256 modelId) private view returns (Model storage model) {
        model = _models[modelId];
        if (model.terms.owner == address(0)) revert ModelNotFound(modelId);
    }

    /**
     * @dev Model `modelId`, after checking that it exists and is open. A model never posted
     * has all-zero storage, which reads as closed (best error 0 <= closing error 0), so only
     * a closed model costs the read of its owner that tells the two errors apart.
     */
    function _openModel(uint256 modelId) private view returns (Model storage model) {
        model = _models[modelId];
        if (_isClosed(model)) {
            if (model.terms.owner == address(0)) revert ModelNotFound(modelId);
            revert ModelNotOpen(modelId);
        }
    }

    /// @dev Whether `model` is closed: its best error reached the target, or its owner closed it.
    function _isClosed(Model storage model) private view returns (bool) {
        Progress storage progress = model.progress;
        return progress.bestError <= progress.closingError;
    }
}
