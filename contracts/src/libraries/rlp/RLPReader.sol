// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title RLPReader
/// @notice Decodes Recursive Length Prefix items (Ethereum Yellow Paper,
///         appendix B) from `bytes` in memory, for the Merkle-Patricia proof
///         verifier that the L1 portal uses to prove withdrawals.
/// @dev Only canonical encodings are accepted, so that every item has exactly
///      one encoding: a byte below 0x80 must be its own encoding, a length
///      prefix must not start with a zero byte, and the long form is only for
///      payloads of more than 55 bytes. An item must fit in the bytes it was
///      read from, and a top-level input or a list payload must be used up
///      exactly, with no bytes left over.
///
///      Decoding is lazy: `readList` checks the header of every item of the
///      list and that the items fill its payload exactly, but the inside of a
///      nested item is checked only when that item is read. Nesting therefore
///      costs nothing until it is used, and the caller bounds the depth by how
///      far it descends. A list may hold at most `MAX_LIST_ITEMS` items, which
///      is enough for trie nodes (17) and bounds the memory one call can use.
library RLPReader {
    /// @notice A view of one RLP item in memory, not a copy.
    /// @param length Bytes available to the item: for an item from `toRLPItem`,
    ///               the whole input (its own length is checked when it is
    ///               read); for an item from `readList`, exactly its encoding.
    /// @param ptr    Memory address of the item's first byte (its prefix).
    struct RLPItem {
        uint256 length;
        uint256 ptr;
    }

    /// @notice The most items `readList` accepts in one list.
    uint256 internal constant MAX_LIST_ITEMS = 32;

    /// @notice Failure codes of `_decode`, one per error.
    uint256 private constant FAIL_EMPTY = 1;
    uint256 private constant FAIL_OUT_OF_BOUNDS = 2;
    uint256 private constant FAIL_SINGLE_BYTE = 3;
    uint256 private constant FAIL_LONG_FORM = 4;
    uint256 private constant FAIL_LEADING_ZERO = 5;
    uint256 private constant FAIL_TRAILING = 6;
    uint256 private constant FAIL_TOO_MANY = 7;

    /// @notice The input, or the space left for an item, is empty.
    error EmptyItem();

    /// @notice A length in a prefix runs past the end of the input or of the
    ///         enclosing list.
    error ItemOutOfBounds();

    /// @notice A single byte below 0x80 encoded as a one-byte string (0x81 xx);
    ///         it must be encoded as itself.
    error NonCanonicalSingleByte();

    /// @notice The long form (0xb8..0xbf, 0xf8..0xff) used for a payload of 55
    ///         bytes or fewer.
    error NonCanonicalLongForm();

    /// @notice A long-form length that starts with a zero byte.
    error LeadingZeroLength();

    /// @notice Bytes left after the item in the bytes it was read from.
    error TrailingBytes();

    /// @notice A list where a string was expected.
    error UnexpectedList();

    /// @notice A string where a list was expected.
    error UnexpectedString();

    /// @notice A list with more than `MAX_LIST_ITEMS` items.
    error TooManyListItems();

    /// @notice Wraps `_in` as an item without copying it.
    /// @param _in RLP-encoded bytes.
    /// @return The item covering all of `_in`.
    function toRLPItem(bytes memory _in) internal pure returns (RLPItem memory) {
        if (_in.length == 0) revert EmptyItem();
        uint256 ptr;
        assembly ("memory-safe") {
            ptr := add(_in, 32)
        }
        return RLPItem({length: _in.length, ptr: ptr});
    }

    /// @notice Whether `_item` is a list. Only its prefix is looked at.
    /// @param _item The item.
    /// @return True for a list, false for a string.
    function isList(RLPItem memory _item) internal pure returns (bool) {
        if (_item.length == 0) revert EmptyItem();
        uint256 prefix;
        uint256 ptr = _item.ptr;
        assembly ("memory-safe") {
            prefix := byte(0, mload(ptr))
        }
        return prefix >= 0xc0;
    }

    /// @notice Decodes `_item` as a list, one level deep.
    /// @param _item The item; its encoding must use up all of `_item.length`.
    /// @return items_ Views of the list's items, each covering exactly its
    ///                own encoding.
    function readList(RLPItem memory _item) internal pure returns (RLPItem[] memory items_) {
        // Room for MAX_LIST_ITEMS item pointers, not initialised (`new` would
        // allocate a zeroed struct for every slot): `_decode` writes the first
        // `count`, and the length is then cut down to `count`.
        assembly ("memory-safe") {
            items_ := mload(0x40)
            mstore(items_, MAX_LIST_ITEMS)
            mstore(0x40, add(items_, mul(add(MAX_LIST_ITEMS, 1), 32)))
        }
        (,, bool list, uint256 count) = _decode(_item, items_);
        if (!list) revert UnexpectedString();
        assembly ("memory-safe") {
            mstore(items_, count)
        }
    }

    /// @notice Decodes `_in` as a list, one level deep.
    /// @param _in RLP-encoded list, with no trailing bytes.
    /// @return The list's items.
    function readList(bytes memory _in) internal pure returns (RLPItem[] memory) {
        return readList(toRLPItem(_in));
    }

    /// @notice Decodes `_item` as a string.
    /// @param _item The item; its encoding must use up all of `_item.length`.
    /// @return A copy of the string's payload.
    function readBytes(RLPItem memory _item) internal pure returns (bytes memory) {
        RLPItem[] memory none;
        (uint256 offset, uint256 payloadLength, bool list,) = _decode(_item, none);
        if (list) revert UnexpectedList();
        return _copy(_item.ptr + offset, payloadLength);
    }

    /// @notice Decodes `_in` as a string.
    /// @param _in RLP-encoded string, with no trailing bytes.
    /// @return A copy of the string's payload.
    function readBytes(bytes memory _in) internal pure returns (bytes memory) {
        return readBytes(toRLPItem(_in));
    }

    /// @notice The encoding of `_item`, prefix included, as a copy.
    /// @dev Nothing is validated: for an item from `readList` the header was
    ///      checked when the list was read; for one from `toRLPItem` this is
    ///      the whole input.
    /// @param _item The item.
    /// @return A copy of the item's bytes.
    function readRawBytes(RLPItem memory _item) internal pure returns (bytes memory) {
        return _copy(_item.ptr, _item.length);
    }

    /// @notice Decodes the header of `_item`, which must use up all of
    ///         `_item.length`, and checks that it is canonical. When the item is
    ///         a list and `_items` has room (its length, read as a capacity),
    ///         the header of each of the list's items is decoded too, an
    ///         RLPItem is allocated for each, and its pointer is written to
    ///         `_items` in order; more items than room is TooManyListItems.
    /// @dev Every item of every proof node passes here, so this is assembly;
    ///      a failure is reported as a code and turned into its error below.
    /// @return offset_        Bytes before the payload (0 for a single byte,
    ///                        which is its own payload).
    /// @return payloadLength_ Length of the payload.
    /// @return isList_        Whether the item is a list.
    /// @return count_         Items written to `_items`.
    function _decode(RLPItem memory _item, RLPItem[] memory _items)
        private
        pure
        returns (uint256 offset_, uint256 payloadLength_, bool isList_, uint256 count_)
    {
        uint256 failure;
        assembly ("memory-safe") {
            // Header of the item at `ptr`, within the `available` bytes from there.
            function header(ptr, available) -> offset, length, list, fail {
                if iszero(available) {
                    fail := FAIL_EMPTY
                    leave
                }
                let word := mload(ptr)
                let prefix := byte(0, word)
                if lt(prefix, 0x80) {
                    // A byte below 0x80 is its own encoding.
                    length := 1
                    leave
                }
                list := iszero(lt(prefix, 0xc0))
                // 0..55: the short form, the length itself; 56..63: the long
                // form, 55 + the number of length bytes that follow.
                let short := sub(prefix, add(0x80, shl(6, list)))
                if lt(short, 56) {
                    offset := 1
                    length := short
                    if gt(add(1, short), available) {
                        fail := FAIL_OUT_OF_BOUNDS
                        leave
                    }
                    if and(and(eq(short, 1), iszero(list)), lt(byte(1, word), 0x80)) {
                        fail := FAIL_SINGLE_BYTE
                    }
                    leave
                }
                let lengthOfLength := sub(short, 55)
                offset := add(1, lengthOfLength)
                if gt(offset, available) {
                    fail := FAIL_OUT_OF_BOUNDS
                    leave
                }
                if iszero(byte(1, word)) {
                    fail := FAIL_LEADING_ZERO
                    leave
                }
                // At most 8 length bytes, so no overflow below.
                length := shr(sub(256, shl(3, lengthOfLength)), shl(8, word))
                if lt(length, 56) {
                    fail := FAIL_LONG_FORM
                    leave
                }
                if gt(add(offset, length), available) { fail := FAIL_OUT_OF_BOUNDS }
            }

            let ptr := mload(add(_item, 32))
            let available := mload(_item)
            offset_, payloadLength_, isList_, failure := header(ptr, available)
            if and(iszero(failure), iszero(eq(add(offset_, payloadLength_), available))) { failure := FAIL_TRAILING }

            let capacity := mload(_items)
            if and(iszero(failure), and(isList_, gt(capacity, 0))) {
                // Each item is decoded against the space left in the payload,
                // so a length running past the list's end fails as out of bounds.
                let end := add(add(ptr, offset_), payloadLength_)
                for { let p := add(ptr, offset_) } lt(p, end) {} {
                    if eq(count_, capacity) {
                        failure := FAIL_TOO_MANY
                        break
                    }
                    // Fast paths for what most items of a branch node are: an
                    // empty string (0x80) and a 32-byte hash (0xa0 ...).
                    let encodedLength := 1
                    let prefix := byte(0, mload(p))
                    if iszero(eq(prefix, 0x80)) {
                        switch eq(prefix, 0xa0)
                        case 1 {
                            encodedLength := 33
                            if gt(33, sub(end, p)) {
                                failure := FAIL_OUT_OF_BOUNDS
                                break
                            }
                        }
                        default {
                            let itemOffset, itemLength, itemList, itemFailure := header(p, sub(end, p))
                            if itemFailure {
                                failure := itemFailure
                                break
                            }
                            encodedLength := add(itemOffset, itemLength)
                        }
                    }
                    count_ := add(count_, 1)
                    let item := mload(0x40)
                    mstore(item, encodedLength)
                    mstore(add(item, 32), p)
                    mstore(0x40, add(item, 64))
                    mstore(add(_items, shl(5, count_)), item)
                    p := add(p, encodedLength)
                }
            }
        }
        if (failure != 0) _fail(failure);
    }

    /// @notice Reverts with the error that a failure code of `_decode` stands for.
    function _fail(uint256 _failure) private pure {
        if (_failure == FAIL_EMPTY) revert EmptyItem();
        if (_failure == FAIL_OUT_OF_BOUNDS) revert ItemOutOfBounds();
        if (_failure == FAIL_SINGLE_BYTE) revert NonCanonicalSingleByte();
        if (_failure == FAIL_LONG_FORM) revert NonCanonicalLongForm();
        if (_failure == FAIL_LEADING_ZERO) revert LeadingZeroLength();
        if (_failure == FAIL_TRAILING) revert TrailingBytes();
        revert TooManyListItems();
    }

    function _copy(uint256 _src, uint256 _length) private pure returns (bytes memory out_) {
        out_ = new bytes(_length);
        assembly ("memory-safe") {
            mcopy(add(out_, 32), _src, _length)
        }
    }
}
