// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// The part of the ERC-1056 registry (EthereumDIDRegistry) that StatusRegistry reads.
interface IERC1056 {
    function identityOwner(address identity) external view returns (address);
    function validDelegate(address identity, bytes32 delegateType, address delegate) external view returns (bool);
}

/// @title StatusRegistry — on-chain credential revocation, Bitstring-Status-List style
/// @notice Each issuer (an ERC-1056 identity, i.e. the address of a did:ethr) owns any number
///         of status lists, named by a bytes32 `listId`. A list is a bitstring: bit `index`
///         set means the credential holding that index is revoked. Bits are packed 256 to a
///         storage word (word index / 256, bit index % 256, least significant bit first).
///         A bit may be changed by the issuer's current owner in the ERC-1056 registry or by
///         one of the issuer's unexpired `sigAuth` or `veriKey` delegates there
///         (delegateType = the ASCII name right-padded to bytes32, as did:ethr encodes it).
///         Every change emits `StatusChanged` with `previousChange`, the block of the
///         issuer's previous change, and records the current block in `changed[issuer]`, so
///         an issuer's history can be walked backwards like an ERC-1056 identity's.
contract StatusRegistry {
    bytes32 private constant SIG_AUTH = "sigAuth";
    bytes32 private constant VERI_KEY = "veriKey";

    /// The ERC-1056 registry that says who may act for an issuer.
    IERC1056 public immutable didRegistry;

    /// issuer => listId => word index (bit index / 256) => 256 status bits
    mapping(address => mapping(bytes32 => mapping(uint256 => uint256))) public statusWords;
    /// issuer => block number of the issuer's latest status change
    mapping(address => uint256) public changed;

    event StatusChanged(
        address indexed issuer,
        bytes32 indexed listId,
        uint256 index,
        bool revoked,
        uint256 previousChange
    );

    constructor(address didRegistry_) {
        require(didRegistry_ != address(0), "no_registry");
        didRegistry = IERC1056(didRegistry_);
    }

    /// @notice Whether `actor` may change `issuer`'s status lists.
    function canUpdate(address issuer, address actor) public view returns (bool) {
        return actor == didRegistry.identityOwner(issuer)
            || didRegistry.validDelegate(issuer, SIG_AUTH, actor)
            || didRegistry.validDelegate(issuer, VERI_KEY, actor);
    }

    /// @notice Sets (`revoked` = true) or clears bit `index` of `issuer`'s list `listId`.
    function setStatus(address issuer, bytes32 listId, uint256 index, bool revoked) external {
        require(canUpdate(issuer, msg.sender), "bad_actor");
        uint256 mask = uint256(1) << (index % 256);
        mapping(uint256 => uint256) storage words = statusWords[issuer][listId];
        uint256 word = words[index / 256];
        words[index / 256] = revoked ? word | mask : word & ~mask;
        emit StatusChanged(issuer, listId, index, revoked, changed[issuer]);
        changed[issuer] = block.number;
    }

    /// @notice Whether bit `index` of `issuer`'s list `listId` is set.
    function isRevoked(address issuer, bytes32 listId, uint256 index) external view returns (bool) {
        return (statusWords[issuer][listId][index / 256] >> (index % 256)) & 1 == 1;
    }
}
