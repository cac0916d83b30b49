"""The batch format's parameters: the table of docs/protocol.md, section
"Parameters", as constants. Encoder and decoder read them from here only."""

from __future__ import annotations

# A batch starts with this byte, outside the compression: it names the payload
# layout and the compression together (a new layout or codec is a new version).
BATCH_VERSION = 0x01
# Every frame starts with this byte.
FRAME_VERSION = 0x00

# Compressed batch, version byte included (the bytes that frames carry).
MAX_BATCH_BYTES = 8 * 2**20
# Decompressed payload: one block at a 100M gas limit (3.3 MB of calldata at the
# EIP-7623 floor of 10 gas per zero byte) fits, with room to spare.
MAX_PAYLOAD_BYTES = 32 * 2**20
MAX_BLOCKS_PER_BATCH = 65_536  # 36 hours of 2 s blocks
MAX_TXS_PER_BLOCK = 16_384  # 344M gas of 21,000-gas transfers
MAX_TXS_PER_BATCH = 262_144

# Frames.
MAX_FRAME_BYTES = 1_000_000  # a whole frame, header included (as op-node's MaxFrameLen)
MAX_FRAMES_PER_BATCH = 65_536  # frame numbers are uint16
FRAME_OVERHEAD = 1 + 32 + 2 + 4 + 1  # version, batch hash, number, length, is_last

# Widths of the fixed-size fields.
HASH_CHECK_BYTES = 20  # prefixes of the parent hash and the L1 origin hash
SIGNATURE_BYTES = 64  # r ++ s
ADDRESS_BYTES = 20
STORAGE_KEY_BYTES = 32

# Bounds of the integer fields (uvarints carry at most 64 bits).
MAX_UINT64 = 2**64 - 1
MAX_UINT256 = 2**256 - 1

# Transaction types a batch carries (EIP-2718); deposits (0x7E) are re-derived
# from L1 and never posted, blobs are not accepted on this chain.
LEGACY_TX = 0x00
ACCESS_LIST_TX = 0x01
DYNAMIC_FEE_TX = 0x02
SET_CODE_TX = 0x04
BATCHED_TX_TYPES = (LEGACY_TX, ACCESS_LIST_TX, DYNAMIC_FEE_TX, SET_CODE_TX)
