"""Chain files: blocks as RLP, one after another, as `geth export` writes them
and `geth import` reads them; gzip-compressed when the file name ends in `.gz`
(and read compressed whatever its name, by its magic bytes).

Each block is geth's wire encoding, [header, transactions, uncles] and, from
Shanghai, withdrawals: a typed transaction is its envelope as a byte string, a
legacy one its RLP list. Headers of every fork decode (py-evm's backwards-
compatible header sedes picks the class by the number of fields).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import rlp
from eth.abc import BlockHeaderAPI
from eth.vm.forks.prague.blocks import PragueBackwardsHeader

from openledger_node.exceptions import ConfigError, InvalidBlock
from openledger_node.execution.l1.block import L1Block

GZIP_MAGIC = b"\x1f\x8b"


def encode_block(header: BlockHeaderAPI, raw_transactions: Sequence[bytes], with_withdrawals: bool) -> bytes:
    """A block's wire encoding; `with_withdrawals` (Shanghai on) adds the empty
    withdrawals list."""
    txs = [rlp.decode(raw) if raw[0] >= 0xC0 else raw for raw in raw_transactions]
    fields: list[Any] = [header, txs, []]
    if with_withdrawals:
        fields.append([])
    return bytes(rlp.encode(fields))


def _raw_transaction(item: Any) -> bytes:
    return bytes(rlp.encode(item)) if isinstance(item, list) else bytes(item)


def decode_block(data: bytes) -> L1Block:
    """One block from its wire encoding."""
    fields = rlp.decode(data)
    if not isinstance(fields, list) or len(fields) not in (3, 4):
        raise ValueError("a block is a list of 3 or 4 items (header, transactions, uncles, withdrawals)")
    header = PragueBackwardsHeader.deserialize(fields[0])
    withdrawals = tuple(fields[3]) if len(fields) == 4 else None
    return L1Block(header, tuple(_raw_transaction(t) for t in fields[1]), tuple(fields[2]), withdrawals)


def read_chain_file(path: Path) -> Iterator[L1Block]:
    """The blocks of a chain file, in file order."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"chain file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read chain file {path}: {exc.strerror or exc}") from None
    if data[:2] == GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise ConfigError(f"chain file {path}: not valid gzip: {exc}") from None
    position, index = 0, 0
    while position < len(data):
        try:
            _, kind, length, start = rlp.codec.consume_length_prefix(data, position)
            end = start + length
            if kind is not list or end > len(data):
                raise ValueError("truncated or not an RLP list")
            block = decode_block(data[position:end])
        except Exception as exc:  # rlp and py-evm raise assorted errors on bad bytes
            raise InvalidBlock(
                f"chain file {path}: item {index} (byte {position}) is not a block: {exc}"
            ) from None
        yield block
        position, index = end, index + 1


def write_chain_file(path: Path, blocks: Iterable[bytes]) -> int:
    """Write encoded blocks to `path` (gzip when it ends in .gz); returns how many."""
    path = Path(path)
    count = 0
    with path.open("wb") as file:
        out = gzip.GzipFile(fileobj=file, mode="wb") if path.suffix == ".gz" else file
        try:
            for block in blocks:
                out.write(block)
                count += 1
        finally:
            if out is not file:
                out.close()
    return count
