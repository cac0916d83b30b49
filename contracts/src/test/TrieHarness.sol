// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {RLPReader} from "src/libraries/rlp/RLPReader.sol";
import {MerkleTrie} from "src/libraries/trie/MerkleTrie.sol";
import {SecureMerkleTrie} from "src/libraries/trie/SecureMerkleTrie.sol";

/// @title TrieHarness
/// @notice Exposes RLPReader, MerkleTrie and SecureMerkleTrie (internal
///         libraries) as external functions for tests. Not deployed in any
///         network's genesis.
contract TrieHarness {
    /// @notice RLPReader.readList(bytes), with each item's encoding copied out.
    /// @param _in RLP-encoded list.
    /// @return items_ The encoding of every item of the list.
    function readList(bytes memory _in) external pure returns (bytes[] memory items_) {
        RLPReader.RLPItem[] memory items = RLPReader.readList(_in);
        items_ = new bytes[](items.length);
        for (uint256 i = 0; i < items.length; i++) {
            items_[i] = RLPReader.readRawBytes(items[i]);
        }
    }

    /// @notice RLPReader.readBytes(bytes).
    /// @param _in RLP-encoded string.
    /// @return The string's payload.
    function readBytes(bytes memory _in) external pure returns (bytes memory) {
        return RLPReader.readBytes(_in);
    }

    /// @notice RLPReader.isList on the item covering `_in`.
    /// @param _in RLP-encoded item.
    /// @return Whether it is a list.
    function isList(bytes memory _in) external pure returns (bool) {
        return RLPReader.isList(RLPReader.toRLPItem(_in));
    }

    /// @notice RLPReader.readRawBytes of item `_index` of the list `_in`.
    /// @param _in    RLP-encoded list.
    /// @param _index Item to copy.
    /// @return The item's encoding.
    function readRawItem(bytes memory _in, uint256 _index) external pure returns (bytes memory) {
        return RLPReader.readRawBytes(RLPReader.readList(_in)[_index]);
    }

    /// @notice MerkleTrie.get.
    /// @param _key   Trie key.
    /// @param _proof Encoded nodes, root first.
    /// @param _root  Trie root.
    /// @return The value under `_key`.
    function get(bytes memory _key, bytes[] memory _proof, bytes32 _root) external pure returns (bytes memory) {
        return MerkleTrie.get(_key, _proof, _root);
    }

    /// @notice MerkleTrie.verifyInclusionProof.
    /// @param _key   Trie key.
    /// @param _value Expected value.
    /// @param _proof Encoded nodes, root first.
    /// @param _root  Trie root.
    /// @return Whether `_value` is stored under `_key`.
    function verifyInclusionProof(bytes memory _key, bytes memory _value, bytes[] memory _proof, bytes32 _root)
        external
        pure
        returns (bool)
    {
        return MerkleTrie.verifyInclusionProof(_key, _value, _proof, _root);
    }

    /// @notice SecureMerkleTrie.get.
    /// @param _key   Key before hashing.
    /// @param _proof Encoded nodes, root first.
    /// @param _root  Trie root.
    /// @return The value under keccak256(`_key`).
    function secureGet(bytes memory _key, bytes[] memory _proof, bytes32 _root) external pure returns (bytes memory) {
        return SecureMerkleTrie.get(_key, _proof, _root);
    }

    /// @notice SecureMerkleTrie.verifyInclusionProof.
    /// @param _key   Key before hashing.
    /// @param _value Expected value.
    /// @param _proof Encoded nodes, root first.
    /// @param _root  Trie root.
    /// @return Whether `_value` is stored under keccak256(`_key`).
    function secureVerifyInclusionProof(bytes memory _key, bytes memory _value, bytes[] memory _proof, bytes32 _root)
        external
        pure
        returns (bool)
    {
        return SecureMerkleTrie.verifyInclusionProof(_key, _value, _proof, _root);
    }

    /// @notice SecureMerkleTrie.verifyInclusionProof with the gas it used,
    ///         arguments already in memory (calldata decoding excluded).
    /// @param _key   Key before hashing.
    /// @param _value Expected value.
    /// @param _proof Encoded nodes, root first.
    /// @param _root  Trie root.
    /// @return valid_   Whether `_value` is stored under keccak256(`_key`).
    /// @return gasUsed_ Gas spent in the library call.
    function measureSecureVerifyInclusionProof(
        bytes memory _key,
        bytes memory _value,
        bytes[] memory _proof,
        bytes32 _root
    ) external view returns (bool valid_, uint256 gasUsed_) {
        uint256 before = gasleft();
        valid_ = SecureMerkleTrie.verifyInclusionProof(_key, _value, _proof, _root);
        gasUsed_ = before - gasleft();
    }
}
