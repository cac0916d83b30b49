// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title Encoding
/// @notice Encodings shared by L2 and L1 contracts.
library Encoding {
    /// @notice Packs a message version into the top two bytes of a nonce, as the
    ///         OP Stack does: `version << 240 | nonce`.
    /// @param _nonce   Sequence number of the message (240 bits).
    /// @param _version Message version (16 bits).
    /// @return The versioned nonce.
    function encodeVersionedNonce(uint240 _nonce, uint16 _version) internal pure returns (uint256) {
        return (uint256(_version) << 240) | uint256(_nonce);
    }

    /// @notice Splits a versioned nonce into its sequence number and version.
    /// @param _nonce The versioned nonce.
    /// @return nonce_   Sequence number (low 240 bits).
    /// @return version_ Message version (top 16 bits).
    function decodeVersionedNonce(uint256 _nonce) internal pure returns (uint240 nonce_, uint16 version_) {
        nonce_ = uint240(_nonce);
        version_ = uint16(_nonce >> 240);
    }
}
