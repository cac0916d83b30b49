"""`openledger-node export` and `import`: geth's chain-file format, a round
trip that re-executes every block to the same hashes and state roots, and the
refusal of a tampered block by its number and field."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts import load_artifact
from node.l1 import import_chain
from openledger_node.exceptions import BlockFieldMismatch, InvalidBlock
from openledger_node.execution.l1 import SHANGHAI, encode_block, load_l1_genesis, read_chain_file
from openledger_node.storage import ChainStore
from tests.l1.conftest import DEVNET_GENESIS, L1Signer, cli, node_config, open_l1, scheduled_genesis, write_genesis

T0 = 1_750_000_000


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A data directory whose chain holds legacy, EIP-2930, EIP-1559 and EIP-7702
    transactions and a contract creation with logs, and its export (a .gz file)."""
    tmp = tmp_path_factory.mktemp("chain")
    node = open_l1(tmp / "data")
    alice, bob, carol = L1Signer(4), L1Signer(5), L1Signer(6)
    token = load_artifact("OpenToken")
    from eth_abi import encode

    deploy = token.bytecode + encode(["address"], ["0x" + alice.address.hex()])
    batches = [
        [alice.raw(type=0, gas=21_000), bob.raw(type=1, gas=30_000, accessList=[
            {"address": "0x" + "22" * 20, "storageKeys": ["0x" + "00" * 32]}])],
        [alice.raw(to=None, data=deploy, gas=3_000_000, value=0), carol.raw(type=2)],
        [bob.raw(type=4, to="0x" + "44" * 20, value=0,
                 authorizationList=[carol.authorization("0x" + "33" * 20, carol.nonce + 1)]),
         alice.raw(type=0, value=7)],
        [],
    ]
    try:
        start = int(node.store.head().timestamp)
        for i, raws in enumerate(batches):
            for raw in raws:
                node.pool.add_raw(raw)
            block = node.producer.build_block(max(start, T0) + 12 * (i + 1)).block
            assert len(block.transactions) == len(raws) and all(r.status == 1 for r in block.receipts)
        assert any(r.logs for r in node.store.receipts(node.store.canonical_hash(2) or b""))
    finally:
        node.stop()
    exported = tmp / "chain.rlp.gz"
    result = cli("export", "--data-dir", str(tmp / "data"), str(exported))
    assert result.returncode == 0, result.stderr
    assert "exported blocks 0..4" in result.stdout
    yield tmp / "data", exported


def block_hashes(data_dir: Path) -> list[tuple[bytes, bytes]]:
    store = ChainStore(data_dir, create=False)
    try:
        head = int(store.head().block_number)
        return [(bytes(h.hash), bytes(h.state_root)) for h in map(store.header_by_number, range(head + 1))]
    finally:
        store.close()


def test_export_import_round_trip_gives_the_same_chain_succeeds(chain: tuple[Path, Path], tmp_path: Path) -> None:
    data_dir, exported = chain
    assert exported.read_bytes()[:2] == b"\x1f\x8b"
    types = {raw[0] if raw[0] < 0x7F else 0 for b in read_chain_file(exported) for raw in b.transactions}
    assert types == {0, 1, 2, 4}
    fresh = tmp_path / "imported"
    result = cli("import", "--data-dir", str(fresh), str(exported))
    assert result.returncode == 0, result.stderr
    assert "imported 4 blocks (1 already known)" in result.stdout
    assert block_hashes(fresh) == block_hashes(data_dir)
    # Importing again finds every block known; plain (not gzip) files read too.
    plain = tmp_path / "chain.rlp"
    plain.write_bytes(gzip.decompress(exported.read_bytes()))
    again = import_chain(node_config(fresh), load_l1_genesis(DEVNET_GENESIS), plain)
    assert (again.imported, again.known) == (0, 5)


def tampered(exported: Path, out: Path, number: int, *, state_root: bool = False, tx: bool = False) -> Path:
    blocks = list(read_chain_file(exported))
    genesis = load_l1_genesis(DEVNET_GENESIS)
    encoded = []
    for block in blocks:
        header, txs = block.header, list(block.transactions)
        if block.number == number and state_root:
            root = bytearray(header.state_root)
            root[7] ^= 0x01
            header = header.copy(state_root=bytes(root))
        if block.number == number and tx:
            raw = bytearray(txs[0])
            raw[-1] ^= 0x01  # the last byte of the signature's s
            txs[0] = bytes(raw)
        with_withdrawals = genesis.schedule.fork_at(header.timestamp).at_least(SHANGHAI)
        encoded.append(encode_block(header, txs, with_withdrawals))
    out.write_bytes(b"".join(encoded))
    return out


def test_import_tampered_header_field_reverts(chain: tuple[Path, Path], tmp_path: Path) -> None:
    bad = tampered(chain[1], tmp_path / "bad.rlp", 2, state_root=True)
    result = cli("import", "--data-dir", str(tmp_path / "d"), str(bad))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith("openledger-node import: error: block 2: invalid state_root: expected 0x")
    # What came before the bad block is imported; the bad block is not.
    assert len(block_hashes(tmp_path / "d")) == 2


def test_import_tampered_transaction_reverts(chain: tuple[Path, Path], tmp_path: Path) -> None:
    bad = tampered(chain[1], tmp_path / "bad.rlp", 3, tx=True)
    with pytest.raises(BlockFieldMismatch, match=r"^block 3: invalid transaction_root: expected 0x") as info:
        import_chain(node_config(tmp_path / "d"), load_l1_genesis(DEVNET_GENESIS), bad)
    assert (info.value.number, info.value.field) == (3, "transaction_root")


def test_import_into_other_genesis_reverts(chain: tuple[Path, Path], tmp_path: Path) -> None:
    other = write_genesis(tmp_path / "other.json", scheduled_genesis(5, 0, 0, 0))
    with pytest.raises(BlockFieldMismatch, match=r"^block 0: invalid hash"):
        import_chain(node_config(tmp_path / "d"), load_l1_genesis(other), chain[1])


def test_import_not_a_chain_file_reverts(tmp_path: Path) -> None:
    junk = tmp_path / "junk.rlp"
    junk.write_bytes(b"\xc2\x01\x02")
    with pytest.raises(InvalidBlock, match="item 0 .* is not a block"):
        import_chain(node_config(tmp_path / "d"), load_l1_genesis(DEVNET_GENESIS), junk)
