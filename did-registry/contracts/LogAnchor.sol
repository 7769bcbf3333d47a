// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// The part of the ERC-1056 registry (EthereumDIDRegistry) that LogAnchor reads.
interface IERC1056Anchor {
    function identityOwner(address identity) external view returns (address);
    function validDelegate(address identity, bytes32 delegateType, address delegate) external view returns (bool);
}

/// @title LogAnchor — tree heads of append-only logs, anchored so that no one can rewrite them
/// @notice A gateway keeps its decisions in a transparency log: an RFC 9162 Merkle tree (leaf
///         hash SHA-256(0x00 || entry), node hash SHA-256(0x01 || left || right)) stored as
///         C2SP tlog-tiles. A log is named by the gateway's ERC-1056 identity (the address of
///         its did:ethr) and a `logId` (SHA-256 of the log's checkpoint origin line).
///
///         `anchor` records a tree head (size, root hash) only if it extends the last one
///         anchored for that log: a larger size must come with an RFC 9162 §2.1.4
///         consistency proof from the last anchored head, checked here. So once a head is
///         anchored, the log's history up to it cannot be replaced — not even by whoever
///         holds the gateway's keys — and anyone can check a copy of the log against the
///         chain. A head may be anchored by the identity's current owner in the ERC-1056
///         registry or by one of its unexpired `sigAuth` or `veriKey` delegates.
///
///         Every anchor emits `Anchored` with `previousChange`, the block of the identity's
///         previous anchor, and records the current block in `changed[identity]`, so an
///         identity's anchors can be walked backwards like its ERC-1056 history.
///         Refusals: `bad_actor` (not the owner or a delegate), `empty` (size 0),
///         `shrinks` (smaller than the anchored size), `inconsistent` (another root at the
///         same size, or a proof that does not verify).
contract LogAnchor {
    bytes32 private constant SIG_AUTH = "sigAuth";
    bytes32 private constant VERI_KEY = "veriKey";

    /// The ERC-1056 registry that says who may act for an identity.
    IERC1056Anchor public immutable didRegistry;

    /// The latest anchored tree head of one log.
    struct Head {
        uint64 size;
        bytes32 root;
    }

    /// identity => logId => latest anchored head
    mapping(address => mapping(bytes32 => Head)) public heads;
    /// identity => block number of the identity's latest anchor
    mapping(address => uint256) public changed;

    event Anchored(
        address indexed identity,
        bytes32 indexed logId,
        uint64 size,
        bytes32 root,
        uint256 previousChange
    );

    constructor(address didRegistry_) {
        require(didRegistry_ != address(0), "no_registry");
        didRegistry = IERC1056Anchor(didRegistry_);
    }

    /// @notice Whether `actor` may anchor `identity`'s logs.
    function canAnchor(address identity, address actor) public view returns (bool) {
        return actor == didRegistry.identityOwner(identity)
            || didRegistry.validDelegate(identity, SIG_AUTH, actor)
            || didRegistry.validDelegate(identity, VERI_KEY, actor);
    }

    /// @notice Anchors the head (`size`, `root`) of `identity`'s log `logId`. `proof` is the
    ///         consistency proof from the head anchored last (empty for the first anchor).
    ///         Anchoring the head already anchored changes nothing.
    function anchor(address identity, bytes32 logId, uint64 size, bytes32 root, bytes32[] calldata proof)
        external
    {
        require(canAnchor(identity, msg.sender), "bad_actor");
        require(size > 0, "empty");
        Head storage last = heads[identity][logId];
        require(size >= last.size, "shrinks");
        if (size == last.size) {
            require(root == last.root, "inconsistent");
            return;
        }
        require(consistent(last.size, size, last.root, root, proof), "inconsistent");
        last.size = size;
        last.root = root;
        emit Anchored(identity, logId, size, root, changed[identity]);
        changed[identity] = block.number;
    }

    /// @notice RFC 9162 §2.1.4.2: whether `proof` shows that the tree of size `second` with
    ///         root `secondRoot` extends the tree of size `first` with root `firstRoot`.
    ///         Every tree extends the empty one.
    function consistent(uint64 first, uint64 second, bytes32 firstRoot, bytes32 secondRoot, bytes32[] calldata proof)
        public
        pure
        returns (bool)
    {
        if (first == 0) return proof.length == 0;
        if (first == second) return proof.length == 0 && firstRoot == secondRoot;
        if (first > second || proof.length == 0) return false;
        uint256 fn_ = first - 1;
        uint256 sn = second - 1;
        bytes32 fr;
        bytes32 sr;
        uint256 i;
        if ((first & (first - 1)) == 0) {
            // A power of two: the proof leaves out the first tree's root.
            fr = firstRoot;
            sr = firstRoot;
        } else {
            fr = proof[0];
            sr = proof[0];
            i = 1;
        }
        while ((fn_ & 1) == 1) {
            fn_ >>= 1;
            sn >>= 1;
        }
        for (; i < proof.length; i++) {
            if (sn == 0) return false;
            bytes32 c = proof[i];
            if ((fn_ & 1) == 1 || fn_ == sn) {
                fr = node(c, fr);
                sr = node(c, sr);
                while ((fn_ & 1) == 0 && fn_ != 0) {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            } else {
                sr = node(sr, c);
            }
            fn_ >>= 1;
            sn >>= 1;
        }
        return sn == 0 && fr == firstRoot && sr == secondRoot;
    }

    function node(bytes32 left, bytes32 right) private pure returns (bytes32) {
        return sha256(abi.encodePacked(bytes1(0x01), left, right));
    }
}
