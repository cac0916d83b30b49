// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {RLPReader} from "../rlp/RLPReader.sol";

/// @title MerkleTrie
/// @notice Verifies Merkle-Patricia trie proofs (Ethereum Yellow Paper,
///         appendix D) against a root hash: the L1 portal proves a withdrawal
///         by the storage proof of the L2ToL1MessagePasser's `sentMessages`
///         slot, taken with `eth_getProof` from L2.
/// @dev A proof is the list of RLP-encoded nodes on the key's path, root
///      first, as `eth_getProof` returns it: each node that its parent
///      references by hash (the root, and every node whose encoding is 32 bytes
///      or longer) is the next element of the proof; a node whose encoding is
///      shorter than 32 bytes is embedded in its parent and is not a separate
///      element. Every element must be used, in order.
///
///      Nodes are branches (17 items: 16 children by nibble, then the value of
///      the key that ends at the branch) or leaves and extensions (2 items: a
///      hex-prefix encoded path, then the value or the child). Only what a
///      canonical trie contains is accepted: an extension has a non-empty path
///      and leads to a branch, a leaf holds a non-empty value, a child is an
///      empty string, a 32-byte hash or an embedded node shorter than 32 bytes.
///
///      A key that is not in the trie reverts (PathMismatch or KeyNotFound)
///      even when the proof of its absence is valid: the portal only proves
///      inclusion, and a revert can never be mistaken for a value.
library MerkleTrie {
    /// @notice Children of a branch node, one per nibble, before its value.
    uint256 private constant BRANCH_WIDTH = 16;

    /// @notice Items in a branch node.
    uint256 private constant BRANCH_NODE_LENGTH = BRANCH_WIDTH + 1;

    /// @notice Items in a leaf or extension node.
    uint256 private constant PAIR_NODE_LENGTH = 2;

    /// @notice Hex-prefix flags (first nibble of a leaf or extension path).
    uint256 private constant PREFIX_EXTENSION_EVEN = 0;
    uint256 private constant PREFIX_EXTENSION_ODD = 1;
    uint256 private constant PREFIX_LEAF_EVEN = 2;
    uint256 private constant PREFIX_LEAF_ODD = 3;

    /// @notice The key is empty. No trie this library serves stores a value
    ///         under the empty key, and its path would end at the root.
    error EmptyKey();

    /// @notice The proof has no nodes.
    error EmptyProof();

    /// @notice The key's path needs another node but the proof has ended.
    error ProofTooShort();

    /// @notice The key's path ended before the last node of the proof.
    error ProofTooLong();

    /// @notice `proof[index]` does not hash to the reference its parent (or the
    ///         root, for index 0) holds.
    error InvalidNodeHash(uint256 index);

    /// @notice `proof[index]`, or a node embedded in it, is not a node a
    ///         canonical trie can contain.
    error InvalidNode(uint256 index);

    /// @notice The key is not in the trie: a leaf or extension path diverges
    ///         from it, or the key ends inside one.
    error PathMismatch();

    /// @notice The key is not in the trie: its branch slot is empty, or the key
    ///         ends at a branch that holds no value.
    error KeyNotFound();

    /// @notice Whether `_value` is stored under `_key` in the trie `_root`.
    /// @dev Reverts, like `get`, when the proof is invalid or the key is absent;
    ///      false means the proof is valid and the key holds another value.
    /// @param _key   Key, as stored in the trie (not hashed here).
    /// @param _value Expected value.
    /// @param _proof Encoded nodes on the key's path, root first.
    /// @param _root  Root hash of the trie.
    /// @return valid_ True when the proven value equals `_value`.
    function verifyInclusionProof(bytes memory _key, bytes memory _value, bytes[] memory _proof, bytes32 _root)
        internal
        pure
        returns (bool valid_)
    {
        valid_ = keccak256(get(_key, _proof, _root)) == keccak256(_value);
    }

    /// @notice The value stored under `_key` in the trie `_root`, proven by
    ///         `_proof`.
    /// @param _key   Key, as stored in the trie (not hashed here).
    /// @param _proof Encoded nodes on the key's path, root first.
    /// @param _root  Root hash of the trie.
    /// @return value_ The value (never empty).
    function get(bytes memory _key, bytes[] memory _proof, bytes32 _root) internal pure returns (bytes memory value_) {
        if (_key.length == 0) revert EmptyKey();
        if (_proof.length == 0) revert EmptyProof();

        uint256 depth; // nibbles of the key consumed so far
        uint256 used = 1; // proof elements consumed so far
        RLPReader.RLPItem[] memory node = _hashedNode(_proof[0], _root, 0);
        bool mustBeBranch; // the node is an extension's child, which is always a branch

        while (true) {
            // Index of the proof element that holds this node, for errors.
            uint256 at = used - 1;
            RLPReader.RLPItem memory child;
            if (node.length == BRANCH_NODE_LENGTH) {
                if (depth == _key.length * 2) {
                    value_ = _string(node[BRANCH_WIDTH], at);
                    if (value_.length == 0) revert KeyNotFound();
                    break;
                }
                child = node[_nibble(_key, depth)];
                depth += 1;
                mustBeBranch = false;
            } else if (node.length == PAIR_NODE_LENGTH && !mustBeBranch) {
                bool leaf;
                (leaf, depth) = _followPath(_string(node[0], at), _key, depth, at);
                if (leaf) {
                    if (depth != _key.length * 2) revert PathMismatch();
                    value_ = _string(node[1], at);
                    if (value_.length == 0) revert InvalidNode(at);
                    break;
                }
                child = node[1];
                mustBeBranch = true;
            } else {
                revert InvalidNode(at);
            }

            if (RLPReader.isList(child)) {
                // Embedded only when shorter than a hash; anything longer is
                // referenced by hash.
                if (child.length >= 32) revert InvalidNode(at);
                node = RLPReader.readList(child);
            } else {
                bytes memory ref = RLPReader.readBytes(child);
                // An empty slot of a branch proves the key absent; an
                // extension always has a child.
                if (ref.length == 0 && node.length == BRANCH_NODE_LENGTH) revert KeyNotFound();
                if (ref.length != 32) revert InvalidNode(at);
                if (used == _proof.length) revert ProofTooShort();
                node = _hashedNode(_proof[used], bytes32(ref), used);
                used += 1;
            }
        }

        if (used != _proof.length) revert ProofTooLong();
    }

    /// @notice Decodes `_encoded`, proof element `_index`, after checking that
    ///         it hashes to `_hash`.
    function _hashedNode(bytes memory _encoded, bytes32 _hash, uint256 _index)
        private
        pure
        returns (RLPReader.RLPItem[] memory)
    {
        if (keccak256(_encoded) != _hash) revert InvalidNodeHash(_index);
        // Below the root, a node shorter than a hash is embedded in its parent,
        // never referenced by hash.
        if (_index > 0 && _encoded.length < 32) revert InvalidNode(_index);
        return RLPReader.readList(_encoded);
    }

    /// @notice The payload of `_item`, which must be a string, of a node in
    ///         proof element `_at`.
    function _string(RLPReader.RLPItem memory _item, uint256 _at) private pure returns (bytes memory) {
        if (RLPReader.isList(_item)) revert InvalidNode(_at);
        return RLPReader.readBytes(_item);
    }

    /// @notice Follows the hex-prefix path `_path` of a leaf or extension from
    ///         nibble `_depth` of the key; reverts with PathMismatch when the
    ///         key does not continue with all of it.
    /// @return leaf_  Whether the path is a leaf's (else an extension's).
    /// @return depth_ The depth in the key after the path.
    function _followPath(bytes memory _path, bytes memory _key, uint256 _depth, uint256 _at)
        private
        pure
        returns (bool leaf_, uint256 depth_)
    {
        if (_path.length == 0) revert InvalidNode(_at);
        uint256 first = uint8(_path[0]);
        uint256 flag = first >> 4;
        uint256 start; // nibble index in `_path` where the path begins
        if (flag == PREFIX_EXTENSION_EVEN || flag == PREFIX_LEAF_EVEN) {
            // The padding nibble of an even path must be zero.
            if (first & 0x0f != 0) revert InvalidNode(_at);
            start = 2;
        } else if (flag == PREFIX_EXTENSION_ODD || flag == PREFIX_LEAF_ODD) {
            start = 1;
        } else {
            revert InvalidNode(_at);
        }
        leaf_ = flag >= PREFIX_LEAF_EVEN;
        uint256 pathNibbles = _path.length * 2 - start;
        // An extension skips at least one nibble, or it would be no node at all.
        if (!leaf_ && pathNibbles == 0) revert InvalidNode(_at);

        if (_depth + pathNibbles > _key.length * 2) revert PathMismatch();
        if (!_nibblesEqual(_path, start, _key, _depth, pathNibbles)) revert PathMismatch();
        depth_ = _depth + pathNibbles;
    }

    /// @notice Whether the `_count` nibbles of `_a` from nibble `_aStart` on
    ///         equal those of `_b` from `_bStart` on. Both ranges must lie
    ///         inside their arrays.
    /// @dev Compares up to 62 nibbles per step: a word is loaded from the byte
    ///      holding the first nibble and shifted left by a nibble when that
    ///      nibble is the low one, which leaves 63 valid nibbles; bytes read
    ///      past an array's end are shifted out of the comparison.
    function _nibblesEqual(bytes memory _a, uint256 _aStart, bytes memory _b, uint256 _bStart, uint256 _count)
        private
        pure
        returns (bool equal_)
    {
        equal_ = true;
        assembly ("memory-safe") {
            let a := add(_a, 32)
            let b := add(_b, 32)
            for {} gt(_count, 0) {} {
                let n := _count
                if gt(n, 62) { n := 62 }
                let wordA := shl(shl(2, and(_aStart, 1)), mload(add(a, shr(1, _aStart))))
                let wordB := shl(shl(2, and(_bStart, 1)), mload(add(b, shr(1, _bStart))))
                if shr(sub(256, shl(2, n)), xor(wordA, wordB)) {
                    equal_ := 0
                    break
                }
                _aStart := add(_aStart, n)
                _bStart := add(_bStart, n)
                _count := sub(_count, n)
            }
        }
    }

    /// @notice Nibble `_index` of `_data`, high nibble of each byte first.
    /// @dev The caller keeps `_index` below `_data.length * 2`.
    function _nibble(bytes memory _data, uint256 _index) private pure returns (uint256 nibble_) {
        assembly ("memory-safe") {
            let b := byte(0, mload(add(add(_data, 32), shr(1, _index))))
            // The high nibble for an even index, the low one for an odd index.
            nibble_ := and(shr(shl(2, iszero(and(_index, 1))), b), 0x0f)
        }
    }
}
