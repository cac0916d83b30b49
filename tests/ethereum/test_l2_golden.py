"""Golden blocks of the rollup's own rules: where OpenLedger differs from Ethereum.

Ethereum's vectors (test_vectors.py) pin the L1 rules; these pin the L2's: two
blocks sealed on the devnet genesis the sequencer's way, each opened by its
L1-info deposit, with user deposits (one whose call reverts), every user
transaction type, a contract creation and a MODEXP call with empty operands.
Their hashes, roots and the fee vaults' balances are in
`vectors/l2_golden.json`: a change to the L2 rules (or to the devnet genesis)
changes them and must update the file on purpose:

    OPENLEDGER_WRITE_GOLDEN=1 pytest tests/ethereum/test_l2_golden.py

Besides the golden values, each run checks the rules themselves: the base fee
goes to the base-fee vault (not burned), the tip to the coinbase, a deposit's
mint stays when its call reverts, and the validator's `apply_block` re-executes
each block to the same hash.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from eth._utils.address import generate_contract_address
from eth_typing import Address
from eth_utils import to_checksum_address

from openledger_node.execution.block import Block, BlockOutput, apply_block, begin_block
from openledger_node.execution.transactions import (
    DepositTransaction,
    user_deposit_source_hash,
)
from openledger_node.primitives import BASE_FEE_VAULT_ADDRESS
from openledger_node.storage import ChainStore, OverlayDB
from tests.conftest import DEV_RULES, Signer, head_state, next_env

GOLDEN = Path(__file__).parent / "vectors" / "l2_golden.json"
WRITE = os.environ.get("OPENLEDGER_WRITE_GOLDEN") == "1"

DEPOSITOR = b"\x33" * 20
RECIPIENT = b"\x22" * 20
# Runtime: STATICCALL MODEXP (0x05) with the calldata as input, store the first
# output word at slot 0. Initcode: return that runtime.
MODEXP_RUNTIME = bytes.fromhex("365f5f3760206080365f60055afa506080515f5500")
MODEXP_INITCODE = bytes.fromhex("6015806009" "5f39" "5ff3") + MODEXP_RUNTIME
# Runtime: REVERT(0, 0).
REVERTER_INITCODE = bytes.fromhex("6003806009" "5f39" "5ff3") + bytes.fromhex("5f5ffd")
# MODEXP input: base and exponent empty, a 1-byte modulus 2: 0 ** 0 % 2 = 1.
EMPTY_BASE_INPUT = (0).to_bytes(32, "big") * 2 + (1).to_bytes(32, "big") + b"\x02"


def deposit(log_index: int, to: bytes, mint: int, gas: int = 100_000) -> DepositTransaction:
    return DepositTransaction(
        source_hash=user_deposit_source_hash(b"\xaa" * 32, log_index),
        sender=DEPOSITOR,
        to=to,
        mint=mint,
        value=0,
        gas=gas,
        is_system_tx=False,
        data=b"",
    )


def contract_address(sender: bytes, nonce: int) -> bytes:
    return bytes(generate_contract_address(Address(sender), nonce))


def seal_and_check(store: ChainStore, genesis_spec: Any, txs: list[Any]) -> BlockOutput:
    """Seal a block as the sequencer does, re-execute it as the validator does,
    store it, and return it."""
    overlay = OverlayDB(store.state_db)
    executor = begin_block(next_env(store, genesis_spec), overlay)
    for tx in txs:
        executor.apply(tx)
    sealed = executor.seal()
    parent = store.parent_block(store.head("unsafe"))
    again = apply_block(DEV_RULES, OverlayDB(store.state_db), parent, Block(sealed.header, sealed.transactions))
    assert again.hash == sealed.hash
    store.write_output(sealed, overlay)
    return sealed


def user_fees(block: BlockOutput) -> tuple[int, int]:
    """(base fees, tips) the block's user transactions paid."""
    base_fee = int(block.header.base_fee_per_gas)
    base = tips = 0
    for tx, receipt in zip(block.transactions, block.receipts):
        if tx.type_id == 0x7E:
            continue
        price = receipt.effective_gas_price
        base += receipt.gas_used * base_fee
        tips += receipt.gas_used * (price - base_fee)
    return base, tips


def test_l2_golden_blocks(store: ChainStore, genesis_spec: Any, signers: list[Signer]) -> None:
    alice, bob = signers[0], signers[1]
    coinbase = bytes(next_env(store, genesis_spec).coinbase)
    before = head_state(store)
    vault_before = before.get_balance(BASE_FEE_VAULT_ADDRESS)
    coinbase_before = before.get_balance(coinbase)

    modexp_contract = contract_address(bob.address, 0)
    reverter = contract_address(bob.address, 1)
    first = seal_and_check(store, genesis_spec, [
        deposit(0, RECIPIENT, 10**18),
        alice.tx(type=0),
        alice.tx(type=1, gas=30_000, accessList=[{"address": "0x" + "22" * 20, "storageKeys": ["0x" + "00" * 32]}]),
        alice.tx(),
        bob.tx(to=None, data=MODEXP_INITCODE, gas=200_000, value=0),
        bob.tx(to=None, data=REVERTER_INITCODE, gas=200_000, value=0),
    ])
    second = seal_and_check(store, genesis_spec, [
        deposit(1, reverter, 5 * 10**17, gas=60_000),
        alice.tx(to=to_checksum_address(modexp_contract), data=EMPTY_BASE_INPUT, gas=100_000, value=0),
    ])

    after = head_state(store)
    # The deposit into a reverting contract failed, and its mint stayed with the
    # depositor, as did the first deposit's: deposits pay no fee.
    assert second.receipts[1].status == 0
    assert after.get_balance(DEPOSITOR) == 10**18 + 5 * 10**17
    # MODEXP of an empty base and exponent, modulus 2, is 1 (EIP-198).
    assert after.get_storage(modexp_contract, 0) == 1 << 248
    # The base fee is credited to the base-fee vault, the tip to the coinbase.
    base, tips = map(sum, zip(user_fees(first), user_fees(second)))
    assert base > 0 and tips > 0
    assert after.get_balance(BASE_FEE_VAULT_ADDRESS) - vault_before == base
    assert after.get_balance(coinbase) - coinbase_before == tips

    observed = {
        "blocks": [
            {
                "number": int(b.header.block_number),
                "hash": "0x" + b.hash.hex(),
                "state_root": "0x" + bytes(b.header.state_root).hex(),
                "receipts_root": "0x" + bytes(b.header.receipt_root).hex(),
                "gas_used": int(b.header.gas_used),
            }
            for b in (first, second)
        ],
        "base_fee_vault_balance": after.get_balance(BASE_FEE_VAULT_ADDRESS),
        "coinbase_balance": after.get_balance(coinbase),
    }
    if WRITE:
        GOLDEN.write_text(json.dumps(observed, indent=2) + "\n")
        pytest.skip(f"wrote {GOLDEN}")
    expected = json.loads(GOLDEN.read_text())
    assert observed == expected, (
        "the L2 blocks differ from vectors/l2_golden.json: if the rules (or the devnet genesis) changed on "
        "purpose, rewrite it with OPENLEDGER_WRITE_GOLDEN=1"
    )
