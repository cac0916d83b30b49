"""Domain types and protocol constants shared by every part of the node."""

from __future__ import annotations

from typing import NewType

from eth_typing import Address, BlockNumber, Hash32

# Address (20 bytes, canonical), Hash32 and BlockNumber are eth_typing's, so that
# values pass to py-evm unchanged.
Wei = NewType("Wei", int)

__all__ = ["Address", "BlockNumber", "Hash32", "Wei"]

ZERO_ADDRESS = Address(b"\x00" * 20)
ZERO_HASH = Hash32(b"\x00" * 32)

OPEN = 10**18  # one OPEN in wei
TOTAL_SUPPLY = 1_000_000_000 * OPEN

# Transaction types.
LEGACY_TX_TYPE = 0x00
ACCESS_LIST_TX_TYPE = 0x01
DYNAMIC_FEE_TX_TYPE = 0x02
BLOB_TX_TYPE = 0x03
SET_CODE_TX_TYPE = 0x04
DEPOSIT_TX_TYPE = 0x7E

MAX_TX_SIZE = 128 * 1024  # bytes, as geth's txpool


def addr(hex_address: str) -> Address:
    """Canonical 20-byte address from a 0x-prefixed hex string (any case)."""
    if not hex_address.startswith(("0x", "0X")) or len(hex_address) != 42:
        raise ValueError(f"{hex_address!r} is not a 0x-prefixed 20-byte hex address")
    return Address(bytes.fromhex(hex_address[2:]))


# The account that sends the L1-info system deposit at the start of each block.
DEPOSITOR_ACCOUNT = addr("0xdeaddeaddeaddeaddeaddeaddeaddeaddead0001")

# Predeploys, at the OP Stack addresses so that tooling written for it applies.
L1_BLOCK_ADDRESS = addr("0x4200000000000000000000000000000000000015")
L2_TO_L1_MESSAGE_PASSER_ADDRESS = addr("0x4200000000000000000000000000000000000016")
SEQUENCER_FEE_VAULT_ADDRESS = addr("0x4200000000000000000000000000000000000011")
BASE_FEE_VAULT_ADDRESS = addr("0x4200000000000000000000000000000000000019")

# The AI economy and its governance (DESIGN.md section 6).
DATANET_REGISTRY_ADDRESS = addr("0x4200000000000000000000000000000000000100")
MODEL_REGISTRY_ADDRESS = addr("0x4200000000000000000000000000000000000101")
PAYABLE_AI_ADDRESS = addr("0x4200000000000000000000000000000000000102")
ATTRIBUTION_STAKING_ADDRESS = addr("0x4200000000000000000000000000000000000103")
WOPEN_ADDRESS = addr("0x4200000000000000000000000000000000000104")
GOVERNANCE_TIMELOCK_ADDRESS = addr("0x4200000000000000000000000000000000000105")
GOVERNOR_ADDRESS = addr("0x4200000000000000000000000000000000000106")

# Gas given to the L1-info system deposit; it is not charged to anyone.
L1_INFO_DEPOSIT_GAS = 1_000_000
