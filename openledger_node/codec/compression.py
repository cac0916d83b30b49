"""The batch's one compression pass: brotli (RFC 7932), as the OP Stack's
channels since Fjord; docs/protocol.md, "Compression", says why brotli and why
this quality and window.

Decompression is bounded: the decoder asks for output a slice at a time and
stops as soon as the payload would pass `MAX_PAYLOAD_BYTES`, so a small input
that expands without end (a decompression bomb) costs at most the limit in
memory, and the stream must end exactly where the input ends.
"""

from __future__ import annotations

import brotli

from openledger_node.codec.params import MAX_PAYLOAD_BYTES
from openledger_node.exceptions import BatchDecodeError

QUALITY = 10
# 2**22 bytes of window: the decoder's ring buffer, whatever the input says, is
# at most 16 MiB (brotli's largest); our own encoder uses 4 MiB.
WINDOW_BITS = 22
_SLICE = 1 << 20  # output asked for per step


def compress(payload: bytes, quality: int = QUALITY) -> bytes:
    return bytes(brotli.compress(payload, mode=brotli.MODE_GENERIC, quality=quality, lgwin=WINDOW_BITS))


def decompress(data: bytes, limit: int = MAX_PAYLOAD_BYTES) -> bytes:
    """The payload `data` compresses; refuses a corrupt or unfinished stream,
    bytes after its end, and more than `limit` bytes of output."""
    decoder = brotli.Decompressor()
    out = bytearray()
    try:
        out += decoder.process(data, output_buffer_limit=_SLICE)
        while not decoder.is_finished() and len(out) <= limit:
            more = decoder.process(b"", output_buffer_limit=_SLICE)
            if not more:
                break  # all input is in and nothing comes out: the stream is cut short
            out += more
    except brotli.error as exc:
        raise BatchDecodeError(f"corrupt brotli stream ({exc})") from None
    if len(out) > limit:
        raise BatchDecodeError(f"decompressed payload is over {limit} bytes")
    if not decoder.is_finished():
        raise BatchDecodeError("brotli: stream is truncated")
    return bytes(out)
