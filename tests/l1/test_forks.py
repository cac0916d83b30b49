"""The fork schedule of a geth-format genesis: each block runs on its fork's VM,
visible in what its transactions can do and in its header's fields; and the
blocks are the ones py-evm's own chain (stock fork VMs) accepts."""

from __future__ import annotations

from pathlib import Path

import rlp
from eth.chains.base import Chain
from eth.constants import EMPTY_SHA256
from eth.db.atomic import AtomicDB
from eth.vm.forks import CancunVM, ParisVM, PragueVM, ShanghaiVM

from node.l1 import L1Node
from openledger_node.execution.l1 import CANCUN, PARIS, PRAGUE, SHANGHAI, encode_block, load_l1_genesis
from openledger_node.execution.l1.block import L1BlockOutput
from openledger_node.execution.state import StateView
from openledger_node.primitives import ZERO_HASH
from tests.l1.conftest import L1Signer, open_l1, scheduled_genesis, write_genesis

T0 = 1_700_000_000
SHANGHAI_TIME, CANCUN_TIME, PRAGUE_TIME = T0 + 100, T0 + 124, T0 + 148
PUSH0_CONTRACT = "0x" + "00" * 19 + "5f"  # PUSH0 PUSH0 RETURN: invalid before Shanghai
BLOBBASEFEE_CONTRACT = "0x" + "00" * 19 + "4a"  # returns BLOBBASEFEE: invalid before Cancun
ALLOC = {
    PUSH0_CONTRACT: {"code": "0x5f5ff3"},
    BLOBBASEFEE_CONTRACT: {"code": "0x4a60005260206000f3"},
}


def mine(node: L1Node, timestamp: int, *raws: bytes) -> L1BlockOutput:
    for raw in raws:
        node.pool.add_raw(raw)
    return node.producer.build_block(timestamp).block


def statuses(block: L1BlockOutput) -> list[int]:
    return [receipt.status for receipt in block.receipts]


def test_forks_switch_at_their_times_and_py_evm_accepts_every_block_succeeds(tmp_path: Path) -> None:
    genesis = write_genesis(tmp_path / "genesis.json",
                            scheduled_genesis(T0, SHANGHAI_TIME, CANCUN_TIME, PRAGUE_TIME, ALLOC))
    node = open_l1(tmp_path / "data", genesis)
    sender, authority = L1Signer(0), L1Signer(1)
    try:
        schedule = node.genesis.schedule
        assert [schedule.fork_at(t) for t in (T0, SHANGHAI_TIME - 1, SHANGHAI_TIME, CANCUN_TIME - 1, CANCUN_TIME,
                                               PRAGUE_TIME - 1, PRAGUE_TIME)] == [
            PARIS, PARIS, SHANGHAI, SHANGHAI, CANCUN, CANCUN, PRAGUE]
        push0_tx = {"to": PUSH0_CONTRACT, "value": 0}
        blob_tx = {"to": BLOBBASEFEE_CONTRACT, "value": 0}

        paris = mine(node, SHANGHAI_TIME - 1, sender.raw(**push0_tx), sender.raw(**blob_tx))
        assert statuses(paris) == [0, 0]  # no PUSH0, no BLOBBASEFEE
        assert not hasattr(paris.header, "withdrawals_root")

        shanghai = mine(node, SHANGHAI_TIME, sender.raw(**push0_tx), sender.raw(**blob_tx))
        assert statuses(shanghai) == [1, 0]  # PUSH0 now; BLOBBASEFEE not yet
        assert shanghai.header.withdrawals_root is not None and not hasattr(shanghai.header, "excess_blob_gas")

        # A set-code (EIP-7702) transaction waits in the pool until Prague.
        delegation = {"type": 4, "to": "0x" + "44" * 20, "value": 0,
                      "authorizationList": [authority.authorization("0x" + "33" * 20, 0)]}
        cancun = mine(node, CANCUN_TIME, sender.raw(**blob_tx), sender.raw(**delegation))
        assert statuses(cancun) == [1] and len(cancun.transactions) == 1
        assert cancun.header.excess_blob_gas == 0 and cancun.header.blob_gas_used == 0
        assert cancun.header.parent_beacon_block_root == ZERO_HASH
        assert not hasattr(cancun.header, "requests_hash")

        prague = mine(node, PRAGUE_TIME)
        assert [tx.type_id for tx in prague.transactions] == [4] and statuses(prague) == [1]
        assert prague.header.requests_hash == EMPTY_SHA256  # no request contracts in this genesis
        # The authority's code is now the delegation designator.
        code = StateView(node.store.state_db, bytes(prague.header.state_root)).get_code(authority.address)
        assert code == bytes.fromhex("ef0100") + bytes.fromhex("33" * 20)

        # The store reads back every fork's header (and is where the RPC reads them).
        for block in (paris, shanghai, cancun, prague):
            stored = node.store.header_by_number(int(block.header.block_number))
            assert type(stored) is type(block.header) and stored.hash == block.header.hash
        node.store._header_cache.clear()
        assert node.store.header_by_number(1).hash == paris.header.hash
        # JSON-RPC shows each block with its fork's fields only, as geth does.
        from openledger_node.rpc.eth import EthApi
        from openledger_node.rpc.params import BlockId

        eth = EthApi(node.rpc_backend())
        shown = [eth.get_block_by_number(BlockId(number=n), True) for n in range(1, 5)]
        assert "withdrawalsRoot" not in shown[0] and "withdrawals" not in shown[0]
        assert shown[1]["withdrawals"] == [] and "blobGasUsed" not in shown[1]
        assert shown[2]["blobGasUsed"] == "0x0" and "requestsHash" not in shown[2]
        assert shown[3]["requestsHash"] == "0x" + EMPTY_SHA256.hex()
        assert [b["hash"] for b in shown] == ["0x" + bytes(h.header.hash).hex()
                                              for h in (paris, shanghai, cancun, prague)]
        blocks = [node.store.block_by_number(n) for n in range(1, 5)]
        genesis_header = node.store.header_by_number(0)
    finally:
        node.stop()

    # py-evm's own chain, with its stock fork VMs at the block numbers the schedule gave,
    # imports and validates every block (header, roots, receipts, state) unchanged.
    spec = load_l1_genesis(genesis)

    class ReferenceChain(Chain):  # type: ignore[misc]
        chain_id = spec.chain_id
        vm_configuration = ((0, ParisVM), (2, ShanghaiVM), (3, CancunVM), (4, PragueVM))

    genesis_fields = ("coinbase", "state_root", "difficulty", "gas_limit", "timestamp", "extra_data", "mix_hash",
                      "nonce", "base_fee_per_gas")
    reference = ReferenceChain.from_genesis(
        AtomicDB(),
        {name: getattr(genesis_header, name) for name in genesis_fields},
        {a: {"balance": s.balance, "nonce": s.nonce, "code": s.code, "storage": s.storage}
         for a, s in spec.allocations().items()},
    )
    assert reference.get_canonical_head().hash == genesis_header.hash
    for block in blocks:
        with_withdrawals = spec.schedule.fork_at(block.header.timestamp).at_least(SHANGHAI)
        block_class = reference.get_vm_class_for_block_number(block.number).get_block_class()
        decoded = rlp.decode(encode_block(block.header, block.transactions, with_withdrawals), sedes=block_class)
        imported = reference.import_block(decoded).imported_block
        assert imported.hash == block.header.hash

