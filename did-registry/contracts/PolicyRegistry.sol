// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// The part of the ERC-1056 registry (EthereumDIDRegistry) that PolicyRegistry reads.
interface IERC1056 {
    function identityOwner(address identity) external view returns (address);
    function validDelegate(address identity, bytes32 delegateType, address delegate) external view returns (bool);
}

/// @title PolicyRegistry — M-of-N governance of the Cedar policy bundles a deployment runs
/// @notice A deployment (a group of gateways that enforce the same policies) is named by a
///         bytes32 `deployment`: an ASCII name right-padded with zeros, as ERC-1056 encodes
///         names (`"prod"`). It has a set of administrators — ERC-1056 identities, i.e. the
///         addresses of did:ethr DIDs, at most 32 — and a threshold M: a change needs the
///         approvals of M distinct administrators. The change that matters most is the
///         active policy bundle, named by its SHA-256; the others change the administrators
///         and the threshold themselves.
///
///         A change is a proposal of one of four kinds, with a 32-byte payload:
///         - 0 `Bundle`: activate the bundle whose SHA-256 is the payload. Rolling back is a
///           new Bundle proposal of an earlier bundle's hash.
///         - 1 `AddAdmin`: add the identity in the payload (an address, right-aligned).
///         - 2 `RemoveAdmin`: remove the identity in the payload (same encoding).
///         - 3 `Threshold`: set the threshold to the payload (a uint256).
///         Proposals of a deployment are numbered from 1. A proposal is pending (1) until it
///         is executed (2) or cancelled (3); state 0 means there is no such proposal.
///         Proposing counts as the proposer's approval; the approval that reaches the
///         threshold executes the proposal in the same transaction.
///
///         The administrator set and the threshold form an epoch, numbered from 1 and
///         increased by every change to either. A proposal can only be approved in the
///         epoch it was made in: after a change it is `stale`, and must be proposed again
///         to be approved by the new set. So approvals given under an old set never count
///         under a new one. Two pending proposals of one epoch never have the same kind and
///         payload (`pendingProposal` finds the one there is).
///
///         Every write names the administrator identity it acts for; the sender must be that
///         identity's current owner in the ERC-1056 registry, or one of its unexpired
///         `sigAuth` or `veriKey` delegates there (`canAct`). Keys are thus rotated and
///         delegated in the ERC-1056 registry, and a revoked delegate or an owner key rotated
///         away is refused. Approvals count identities, not keys.
///
///         Refusals (the revert reason): `no_name`, `exists`, `bad_admins`, `bad_threshold`
///         (`create`); `unknown_deployment`, `bad_actor`, `not_admin` (every write);
///         `bad_kind`, `empty`, `already_active`, `bad_admin`, `is_admin`, `no_such_admin`,
///         `below_threshold`, `duplicate` (`propose`); `unknown_proposal`, `not_pending`,
///         `stale`, `already_approved` (`approve`); `not_proposer` (`cancel`).
contract PolicyRegistry {
    bytes32 private constant SIG_AUTH = "sigAuth";
    bytes32 private constant VERI_KEY = "veriKey";

    /// The most administrators a deployment may have.
    uint256 private constant MAX_ADMINS = 32;

    uint8 private constant BUNDLE = 0;
    uint8 private constant ADD_ADMIN = 1;
    uint8 private constant REMOVE_ADMIN = 2;
    uint8 private constant THRESHOLD = 3;

    uint8 private constant PENDING = 1;
    uint8 private constant EXECUTED = 2;
    uint8 private constant CANCELLED = 3;

    /// The ERC-1056 registry that says who may act for an administrator identity.
    IERC1056 public immutable didRegistry;

    struct Proposal {
        address proposer;
        uint8 kind;
        uint8 state;
        uint32 approvals;
        uint64 epoch;
        uint64 proposedAt;
        bytes32 payload;
        mapping(address => bool) approved;
    }

    struct Deployment {
        uint32 threshold;
        /// 0: no such deployment.
        uint64 epoch;
        uint64 activeSince;
        bytes32 active;
        uint256 activeProposal;
        uint256 proposalCount;
        address[] admins;
        /// identity => its index in `admins` + 1 (0: not an administrator)
        mapping(address => uint256) position;
        mapping(uint256 => Proposal) proposals;
    }

    mapping(bytes32 => Deployment) private deployments;
    /// keccak256(deployment, epoch, kind, payload) => the pending proposal's id
    mapping(bytes32 => uint256) private pending;

    /// A deployment was created with its administrators and threshold, by `creator`.
    event Created(bytes32 indexed deployment, address[] admins, uint32 threshold, address creator);
    /// Administrator `admin` proposed `id` (of `kind`, with `payload`); its approval follows.
    event Proposed(bytes32 indexed deployment, uint256 indexed id, uint8 kind, bytes32 payload, address admin);
    /// Administrator `admin` approved `id`, which now has `approvals` approvals.
    event Approved(bytes32 indexed deployment, uint256 indexed id, address admin, uint32 approvals);
    /// Administrator `admin`, its proposer, withdrew `id`.
    event Cancelled(bytes32 indexed deployment, uint256 indexed id, address admin);
    /// Proposal `id` made `bundle` the active bundle in place of `previous` (zero: none).
    event Activated(bytes32 indexed deployment, bytes32 indexed bundle, bytes32 previous, uint256 id);
    /// Proposal `id` changed the administrators or the threshold: the new set, threshold and
    /// epoch.
    event AdminsChanged(bytes32 indexed deployment, address[] admins, uint32 threshold, uint64 epoch, uint256 id);

    /// @param didRegistry_ the ERC-1056 registry (refused when zero: `no_registry`).
    constructor(address didRegistry_) {
        require(didRegistry_ != address(0), "no_registry");
        didRegistry = IERC1056(didRegistry_);
    }

    /// @notice Whether `actor` may act for `identity`: it is the identity's owner, or one of
    ///         its unexpired `sigAuth` or `veriKey` delegates, in the ERC-1056 registry.
    function canAct(address identity, address actor) public view returns (bool) {
        return actor == didRegistry.identityOwner(identity)
            || didRegistry.validDelegate(identity, SIG_AUTH, actor)
            || didRegistry.validDelegate(identity, VERI_KEY, actor);
    }

    /// @notice Creates the deployment `deployment` (anyone may, once per name) with the
    ///         administrators `admins` and the threshold `threshold`, in epoch 1, with no
    ///         active bundle. Refusals: `no_name` (zero name), `exists`, `bad_admins` (none,
    ///         more than 32, a zero address or one listed twice), `bad_threshold` (0 or more
    ///         than the administrators).
    function create(bytes32 deployment, address[] calldata admins, uint32 threshold) external {
        require(deployment != bytes32(0), "no_name");
        Deployment storage d = deployments[deployment];
        require(d.epoch == 0, "exists");
        require(admins.length > 0 && admins.length <= MAX_ADMINS, "bad_admins");
        require(threshold > 0 && threshold <= admins.length, "bad_threshold");
        for (uint256 i = 0; i < admins.length; i++) {
            address a = admins[i];
            require(a != address(0) && d.position[a] == 0, "bad_admins");
            d.admins.push(a);
            d.position[a] = i + 1;
        }
        d.threshold = threshold;
        d.epoch = 1;
        emit Created(deployment, admins, threshold, msg.sender);
    }

    /// @notice Proposes a change of `kind` with `payload` to `deployment`, for the
    ///         administrator `admin`, and approves it: with a threshold of 1 it is executed
    ///         at once. Returns the proposal's id. Refusals besides those of every write:
    ///         `bad_kind` (above 3); for a bundle `empty` (zero hash) and `already_active`;
    ///         for adding or removing an administrator `bad_admin` (zero, or a payload that is
    ///         not a right-aligned address), then `is_admin` and `bad_admins` (the set is
    ///         full) when adding, `no_such_admin` and `below_threshold` (fewer administrators
    ///         than the threshold would remain) when removing; for a threshold
    ///         `bad_threshold` (0 or more than the administrators); `duplicate` when a
    ///         proposal of the same kind and payload is pending in the current epoch.
    function propose(bytes32 deployment, address admin, uint8 kind, bytes32 payload)
        external
        returns (uint256 id)
    {
        Deployment storage d = acting(deployment, admin);
        require(kind <= THRESHOLD, "bad_kind");
        uint256 n = d.admins.length;
        if (kind == BUNDLE) {
            require(payload != bytes32(0), "empty");
            require(payload != d.active, "already_active");
        } else if (kind == THRESHOLD) {
            require(uint256(payload) > 0 && uint256(payload) <= n, "bad_threshold");
        } else {
            require(uint256(payload) >> 160 == 0 && payload != bytes32(0), "bad_admin");
            address target = address(uint160(uint256(payload)));
            if (kind == ADD_ADMIN) {
                require(d.position[target] == 0, "is_admin");
                require(n < MAX_ADMINS, "bad_admins");
            } else {
                require(d.position[target] != 0, "no_such_admin");
                require(n - 1 >= d.threshold, "below_threshold");
            }
        }
        bytes32 key = pendingKey(deployment, d.epoch, kind, payload);
        require(pending[key] == 0, "duplicate");

        id = ++d.proposalCount;
        pending[key] = id;
        Proposal storage p = d.proposals[id];
        p.proposer = admin;
        p.kind = kind;
        p.state = PENDING;
        p.epoch = d.epoch;
        p.proposedAt = uint64(block.number);
        p.payload = payload;
        emit Proposed(deployment, id, kind, payload, admin);
        record(deployment, d, id, p, admin);
    }

    /// @notice Approves proposal `id` of `deployment` for the administrator `admin`; the
    ///         approval that reaches the threshold executes it. Refusals besides those of
    ///         every write: `unknown_proposal`, `not_pending` (executed or cancelled), `stale`
    ///         (proposed in an earlier epoch: propose it again), `already_approved`.
    function approve(bytes32 deployment, address admin, uint256 id) external {
        Deployment storage d = acting(deployment, admin);
        Proposal storage p = proposal(d, id);
        require(p.state == PENDING, "not_pending");
        require(p.epoch == d.epoch, "stale");
        require(!p.approved[admin], "already_approved");
        record(deployment, d, id, p, admin);
    }

    /// @notice Withdraws the pending proposal `id` of `deployment`; only its proposer
    ///         `admin` may. Refusals besides those of every write: `unknown_proposal`,
    ///         `not_proposer`, `not_pending`.
    function cancel(bytes32 deployment, address admin, uint256 id) external {
        Deployment storage d = acting(deployment, admin);
        Proposal storage p = proposal(d, id);
        require(p.proposer == admin, "not_proposer");
        require(p.state == PENDING, "not_pending");
        p.state = CANCELLED;
        delete pending[pendingKey(deployment, p.epoch, p.kind, p.payload)];
        emit Cancelled(deployment, id, admin);
    }

    /// @notice A deployment's threshold, epoch (0: no such deployment), active bundle (zero:
    ///         none yet), the block it was activated in and the proposal that activated it,
    ///         and how many proposals were made (the last id).
    function deploymentInfo(bytes32 deployment)
        external
        view
        returns (
            uint32 threshold,
            uint64 epoch,
            bytes32 active,
            uint64 activeSince,
            uint256 activeProposal,
            uint256 proposalCount
        )
    {
        Deployment storage d = deployments[deployment];
        return (d.threshold, d.epoch, d.active, d.activeSince, d.activeProposal, d.proposalCount);
    }

    /// @notice A deployment's administrators (empty: no such deployment), in no fixed order.
    function adminsOf(bytes32 deployment) external view returns (address[] memory) {
        return deployments[deployment].admins;
    }

    /// @notice Whether `identity` is one of the deployment's administrators.
    function isAdmin(bytes32 deployment, address identity) public view returns (bool) {
        return deployments[deployment].position[identity] != 0;
    }

    /// @notice Proposal `id` of a deployment: its kind, state (0: no such proposal), number
    ///         of approvals, the epoch it was made in, its proposer, payload and the block it
    ///         was made in.
    function proposalInfo(bytes32 deployment, uint256 id)
        external
        view
        returns (
            uint8 kind,
            uint8 state,
            uint32 approvals,
            uint64 epoch,
            address proposer,
            bytes32 payload,
            uint64 proposedAt
        )
    {
        Proposal storage p = deployments[deployment].proposals[id];
        return (p.kind, p.state, p.approvals, p.epoch, p.proposer, p.payload, p.proposedAt);
    }

    /// @notice Whether the administrator `admin` approved proposal `id` (its proposer did).
    function hasApproved(bytes32 deployment, uint256 id, address admin) external view returns (bool) {
        return deployments[deployment].proposals[id].approved[admin];
    }

    /// @notice The id of the proposal of `kind` and `payload` pending in the deployment's
    ///         current epoch, or 0 when there is none.
    function pendingProposal(bytes32 deployment, uint8 kind, bytes32 payload) external view returns (uint256 id) {
        return pending[pendingKey(deployment, deployments[deployment].epoch, kind, payload)];
    }

    /// The deployment, when `msg.sender` may act for `admin` and `admin` administers it.
    function acting(bytes32 deployment, address admin) private view returns (Deployment storage d) {
        d = deployments[deployment];
        require(d.epoch != 0, "unknown_deployment");
        require(canAct(admin, msg.sender), "bad_actor");
        require(d.position[admin] != 0, "not_admin");
    }

    /// Proposal `id` of `d`, which must exist.
    function proposal(Deployment storage d, uint256 id) private view returns (Proposal storage) {
        require(id != 0 && id <= d.proposalCount, "unknown_proposal");
        return d.proposals[id];
    }

    function pendingKey(bytes32 deployment, uint64 epoch, uint8 kind, bytes32 payload)
        private
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(deployment, epoch, kind, payload));
    }

    /// Counts `admin`'s approval of the pending, current proposal `p`; executes it when the
    /// approvals reach the threshold.
    function record(bytes32 deployment, Deployment storage d, uint256 id, Proposal storage p, address admin)
        private
    {
        p.approved[admin] = true;
        uint32 approvals = ++p.approvals;
        emit Approved(deployment, id, admin, approvals);
        if (approvals < d.threshold) return;

        p.state = EXECUTED;
        delete pending[pendingKey(deployment, p.epoch, p.kind, p.payload)];
        if (p.kind == BUNDLE) {
            bytes32 previous = d.active;
            d.active = p.payload;
            d.activeSince = uint64(block.number);
            d.activeProposal = id;
            emit Activated(deployment, p.payload, previous, id);
            return;
        }
        address target = address(uint160(uint256(p.payload)));
        if (p.kind == ADD_ADMIN) {
            d.admins.push(target);
            d.position[target] = d.admins.length;
        } else if (p.kind == REMOVE_ADMIN) {
            // Swap-and-pop: the last administrator takes the removed one's place.
            uint256 i = d.position[target] - 1;
            address last = d.admins[d.admins.length - 1];
            d.admins[i] = last;
            d.position[last] = i + 1;
            d.admins.pop();
            delete d.position[target];
        } else {
            d.threshold = uint32(uint256(p.payload));
        }
        d.epoch += 1;
        emit AdminsChanged(deployment, d.admins, d.threshold, d.epoch, id);
    }
}
