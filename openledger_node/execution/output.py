"""Output roots: the commitment to an L2 block that the sequencer posts to L1.

OP-compatible, version 0 (DESIGN section 5):
`keccak256(version ++ stateRoot ++ messagePasserStorageRoot ++ blockHash)`. The
message passer's storage root is in the preimage so that a withdrawal can be
proven against an output with a storage proof of `sentMessages[hash]`.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_hash.auto import keccak

from openledger_node.primitives import ZERO_HASH, Hash32

OUTPUT_VERSION_V0 = ZERO_HASH


def output_root(state_root: bytes, message_passer_storage_root: bytes, block_hash: bytes) -> Hash32:
    """The version-0 output root of a block."""
    return Hash32(bytes(keccak(OUTPUT_VERSION_V0 + state_root + message_passer_storage_root + block_hash)))


@dataclass(frozen=True)
class OutputRootProof:
    """An output root's preimage: what the portal's `OutputRootProof` tuple holds."""

    block_number: int
    state_root: Hash32
    message_passer_storage_root: Hash32
    block_hash: Hash32
    version: Hash32 = OUTPUT_VERSION_V0

    @property
    def root(self) -> Hash32:
        """The hash of this preimage, its version included (the portal's
        hashOutputRootProof), so a preimage of another version does not pass
        for a version-0 output root."""
        return Hash32(bytes(keccak(b"".join(self.as_tuple()))))

    def as_tuple(self) -> tuple[bytes, bytes, bytes, bytes]:
        """(version, stateRoot, messagePasserStorageRoot, latestBlockhash), the ABI order."""
        return (self.version, self.state_root, self.message_passer_storage_root, self.block_hash)
