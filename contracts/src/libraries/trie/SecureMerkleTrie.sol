// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {MerkleTrie} from "./MerkleTrie.sol";

/// @title SecureMerkleTrie
/// @notice Proofs against a "secure" trie, one that stores each value under the
///         keccak256 of its key: Ethereum's state trie (key: address) and
///         storage tries (key: the 32-byte slot). The L1 portal proves a
///         withdrawal with
///         `verifyInclusionProof(abi.encode(slot), hex"01", proof, storageRoot)`,
///         the value being the RLP encoding of the slot's trimmed big-endian
///         value (`true` is 0x01).
/// @dev Errors are MerkleTrie's.
library SecureMerkleTrie {
    /// @notice Whether `_value` is stored under keccak256(`_key`) in the trie
    ///         `_root`; reverts when the proof is invalid or the key is absent.
    /// @param _key   Key before hashing (an address, or a slot as 32 bytes).
    /// @param _value Expected value.
    /// @param _proof Encoded nodes on the key's path, root first.
    /// @param _root  Root hash of the trie.
    /// @return True when the proven value equals `_value`.
    function verifyInclusionProof(bytes memory _key, bytes memory _value, bytes[] memory _proof, bytes32 _root)
        internal
        pure
        returns (bool)
    {
        return MerkleTrie.verifyInclusionProof(_hashedKey(_key), _value, _proof, _root);
    }

    /// @notice The value stored under keccak256(`_key`) in the trie `_root`;
    ///         reverts when the proof is invalid or the key is absent.
    /// @param _key   Key before hashing (an address, or a slot as 32 bytes).
    /// @param _proof Encoded nodes on the key's path, root first.
    /// @param _root  Root hash of the trie.
    /// @return The value (never empty).
    function get(bytes memory _key, bytes[] memory _proof, bytes32 _root) internal pure returns (bytes memory) {
        return MerkleTrie.get(_hashedKey(_key), _proof, _root);
    }

    function _hashedKey(bytes memory _key) private pure returns (bytes memory) {
        return abi.encodePacked(keccak256(_key));
    }
}
