"""The batch codec: how sealed L2 blocks go to L1 and come back (docs/protocol.md).

The batcher turns a range of sealed blocks into one batch (`encode_batch`) and
cuts it into frames that each fit an L1 transaction (`split_frames`); a
validator joins the frames it reads from L1 (`join_frames`), decodes the batch
(`decode_batch`) and checks it continues its chain (`check_links`). Encoder and
decoder share this one package: `params` (the limits), `wire` (the primitive
fields), `columns` (transactions), `compression`, `batch` and `frames`.
"""

from openledger_node.codec.batch import (
    Batch,
    BatchBlock,
    BlockEntry,
    block_entry,
    check_links,
    decode_batch,
    decode_payload,
    encode_batch,
    encode_payload,
)
from openledger_node.codec.frames import Frame, join_frames, parse_frame, split_frames
from openledger_node.exceptions import BatchDecodeError

__all__ = [
    "Batch",
    "BatchBlock",
    "BatchDecodeError",
    "BlockEntry",
    "Frame",
    "block_entry",
    "check_links",
    "decode_batch",
    "decode_payload",
    "encode_batch",
    "encode_payload",
    "join_frames",
    "parse_frame",
    "split_frames",
]
