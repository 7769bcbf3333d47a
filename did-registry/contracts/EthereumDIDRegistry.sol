// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title EthereumDIDRegistry — ERC-1056 lightweight identity registry (did:ethr)
/// @notice didgate's implementation of the registry behind the did:ethr method, written from
///         EIP-1056 and the did:ethr method specification. Its external interface is
///         ABI-compatible with the canonical deployment, so `ethr-did` and `ethr-did-resolver`
///         work against it unchanged:
///   - the same functions, argument names, public mappings (`owners`, `delegates`,
///     `changed`, `nonce`) and events (names, field names and `indexed` flags, hence the
///     same topic hashes);
///   - `delegates` is keyed by keccak256(abi.encode(delegateType)), as the original;
///   - the *Signed variants take (sigV, sigR, sigS) over
///     keccak256(0x19 ‖ 0x00 ‖ registry ‖ nonce[identityOwner(identity)] ‖ identity ‖
///     "<functionName>" ‖ args…) (abi.encodePacked), and bump the signer's nonce;
///   - every change emits an event carrying `previousChange`, the block of the identity's
///     previous change, and records the current block in `changed[identity]`, so a resolver
///     can walk an identity's history backwards log by log.
///   Beyond the original it only rejects signatures that recover to the zero address.
contract EthereumDIDRegistry {
    /// identity => owner (the zero address means the identity owns itself)
    mapping(address => address) public owners;
    /// identity => keccak256(abi.encode(delegateType)) => delegate => valid until (unix time)
    mapping(address => mapping(bytes32 => mapping(address => uint256))) public delegates;
    /// identity => block number of the identity's latest change
    mapping(address => uint256) public changed;
    /// owner => number of meta-transactions that owner has signed
    mapping(address => uint256) public nonce;

    event DIDOwnerChanged(address indexed identity, address owner, uint256 previousChange);

    event DIDDelegateChanged(
        address indexed identity,
        bytes32 delegateType,
        address delegate,
        uint256 validTo,
        uint256 previousChange
    );

    event DIDAttributeChanged(
        address indexed identity,
        bytes32 name,
        bytes value,
        uint256 validTo,
        uint256 previousChange
    );

    modifier onlyOwner(address identity, address actor) {
        require(actor == identityOwner(identity), "bad_actor");
        _;
    }

    /// @notice The current owner of `identity`: itself unless ownership was transferred.
    function identityOwner(address identity) public view returns (address) {
        address owner = owners[identity];
        return owner == address(0) ? identity : owner;
    }

    /// @notice Whether `delegate` is an unexpired delegate of `identity` for `delegateType`.
    function validDelegate(address identity, bytes32 delegateType, address delegate)
        public
        view
        returns (bool)
    {
        return delegates[identity][_delegateKey(delegateType)][delegate] > block.timestamp;
    }

    // ---------------------------------------------------------------- owner

    function changeOwner(address identity, address newOwner) public {
        _changeOwner(identity, msg.sender, newOwner);
    }

    function changeOwnerSigned(address identity, uint8 sigV, bytes32 sigR, bytes32 sigS, address newOwner)
        public
    {
        bytes32 hash = keccak256(
            abi.encodePacked(
                bytes1(0x19), bytes1(0), address(this), nonce[identityOwner(identity)], identity,
                "changeOwner", newOwner
            )
        );
        _changeOwner(identity, _checkSignature(identity, sigV, sigR, sigS, hash), newOwner);
    }

    // ------------------------------------------------------------- delegates

    function addDelegate(address identity, bytes32 delegateType, address delegate, uint256 validity) public {
        _addDelegate(identity, msg.sender, delegateType, delegate, validity);
    }

    function addDelegateSigned(
        address identity,
        uint8 sigV,
        bytes32 sigR,
        bytes32 sigS,
        bytes32 delegateType,
        address delegate,
        uint256 validity
    ) public {
        bytes32 hash = keccak256(
            abi.encodePacked(
                bytes1(0x19), bytes1(0), address(this), nonce[identityOwner(identity)], identity,
                "addDelegate", delegateType, delegate, validity
            )
        );
        _addDelegate(identity, _checkSignature(identity, sigV, sigR, sigS, hash), delegateType, delegate, validity);
    }

    function revokeDelegate(address identity, bytes32 delegateType, address delegate) public {
        _revokeDelegate(identity, msg.sender, delegateType, delegate);
    }

    function revokeDelegateSigned(
        address identity,
        uint8 sigV,
        bytes32 sigR,
        bytes32 sigS,
        bytes32 delegateType,
        address delegate
    ) public {
        bytes32 hash = keccak256(
            abi.encodePacked(
                bytes1(0x19), bytes1(0), address(this), nonce[identityOwner(identity)], identity,
                "revokeDelegate", delegateType, delegate
            )
        );
        _revokeDelegate(identity, _checkSignature(identity, sigV, sigR, sigS, hash), delegateType, delegate);
    }

    // ------------------------------------------------------------ attributes

    function setAttribute(address identity, bytes32 name, bytes memory value, uint256 validity) public {
        _setAttribute(identity, msg.sender, name, value, validity);
    }

    function setAttributeSigned(
        address identity,
        uint8 sigV,
        bytes32 sigR,
        bytes32 sigS,
        bytes32 name,
        bytes memory value,
        uint256 validity
    ) public {
        bytes32 hash = keccak256(
            abi.encodePacked(
                bytes1(0x19), bytes1(0), address(this), nonce[identityOwner(identity)], identity,
                "setAttribute", name, value, validity
            )
        );
        _setAttribute(identity, _checkSignature(identity, sigV, sigR, sigS, hash), name, value, validity);
    }

    function revokeAttribute(address identity, bytes32 name, bytes memory value) public {
        _revokeAttribute(identity, msg.sender, name, value);
    }

    function revokeAttributeSigned(
        address identity,
        uint8 sigV,
        bytes32 sigR,
        bytes32 sigS,
        bytes32 name,
        bytes memory value
    ) public {
        bytes32 hash = keccak256(
            abi.encodePacked(
                bytes1(0x19), bytes1(0), address(this), nonce[identityOwner(identity)], identity,
                "revokeAttribute", name, value
            )
        );
        _revokeAttribute(identity, _checkSignature(identity, sigV, sigR, sigS, hash), name, value);
    }

    // -------------------------------------------------------------- internal

    function _delegateKey(bytes32 delegateType) private pure returns (bytes32) {
        return keccak256(abi.encode(delegateType));
    }

    /// Recovers the signer of `hash`, requires it to be the identity's owner, and consumes
    /// one nonce of that owner (so a signed message cannot be replayed).
    function _checkSignature(address identity, uint8 sigV, bytes32 sigR, bytes32 sigS, bytes32 hash)
        private
        returns (address)
    {
        address signer = ecrecover(hash, sigV, sigR, sigS);
        require(signer != address(0) && signer == identityOwner(identity), "bad_signature");
        nonce[signer]++;
        return signer;
    }

    function _changeOwner(address identity, address actor, address newOwner)
        private
        onlyOwner(identity, actor)
    {
        owners[identity] = newOwner;
        emit DIDOwnerChanged(identity, newOwner, changed[identity]);
        changed[identity] = block.number;
    }

    function _addDelegate(address identity, address actor, bytes32 delegateType, address delegate, uint256 validity)
        private
        onlyOwner(identity, actor)
    {
        uint256 validTo = block.timestamp + validity;
        delegates[identity][_delegateKey(delegateType)][delegate] = validTo;
        emit DIDDelegateChanged(identity, delegateType, delegate, validTo, changed[identity]);
        changed[identity] = block.number;
    }

    function _revokeDelegate(address identity, address actor, bytes32 delegateType, address delegate)
        private
        onlyOwner(identity, actor)
    {
        delegates[identity][_delegateKey(delegateType)][delegate] = block.timestamp;
        emit DIDDelegateChanged(identity, delegateType, delegate, block.timestamp, changed[identity]);
        changed[identity] = block.number;
    }

    function _setAttribute(address identity, address actor, bytes32 name, bytes memory value, uint256 validity)
        private
        onlyOwner(identity, actor)
    {
        emit DIDAttributeChanged(identity, name, value, block.timestamp + validity, changed[identity]);
        changed[identity] = block.number;
    }

    function _revokeAttribute(address identity, address actor, bytes32 name, bytes memory value)
        private
        onlyOwner(identity, actor)
    {
        emit DIDAttributeChanged(identity, name, value, 0, changed[identity]);
        changed[identity] = block.number;
    }
}
