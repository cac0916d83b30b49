// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title OutputRoot
/// @notice The preimage of an L2 output root and its hash, as the node computes
///         it (openledger_node.rpc.misc.output_root) and the L1 rollup contract
///         stores it. Same layout and hash as the OP Stack's version-0 output root,
///         so a withdrawal proof opens an output root into the state root, the
///         L2ToL1MessagePasser's storage root and the block hash.
library OutputRoot {
    /// @notice The only output root version the node produces.
    bytes32 internal constant VERSION_0 = bytes32(0);

    /// @notice Preimage of a version-0 output root.
    /// @custom:field version                  Output root version; must be VERSION_0.
    /// @custom:field stateRoot                State root of the L2 block.
    /// @custom:field messagePasserStorageRoot Storage root of the L2ToL1MessagePasser
    ///                                        predeploy in that state.
    /// @custom:field latestBlockhash          Hash of the L2 block.
    struct OutputRootProof {
        bytes32 version;
        bytes32 stateRoot;
        bytes32 messagePasserStorageRoot;
        bytes32 latestBlockhash;
    }

    /// @notice Hash of an output root preimage:
    ///         keccak256(version ++ stateRoot ++ messagePasserStorageRoot ++ latestBlockhash).
    /// @param _proof The preimage.
    /// @return The output root.
    function hashOutputRootProof(OutputRootProof memory _proof) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(_proof.version, _proof.stateRoot, _proof.messagePasserStorageRoot, _proof.latestBlockhash)
        );
    }
}
