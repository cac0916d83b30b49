"""L1Block predeploy: the L1-info system deposit writes the L1 origin of each
L2 block; nobody else may."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from eth_utils.address import to_canonical_address

from contracts import load_artifact

if TYPE_CHECKING:
    from conftest import EvmHarness, TxResult
    from eth_keys.datatypes import PrivateKey
    from eth_typing import Address

SET_L1_BLOCK_VALUES = "setL1BlockValues(uint64,uint64,uint256,bytes32,uint64)"

# The node gives the L1-info deposit this much gas at the start of every block.
L1_INFO_GAS_LIMIT = 1_000_000

NUMBER = 19_000_123
TIMESTAMP = 1_712_345_678
BASEFEE = 31_337_000_000
HASH = bytes.fromhex("aa" * 16 + "bb" * 16)
SEQUENCE_NUMBER = 5


@pytest.fixture
def l1_block(evm: EvmHarness) -> EvmHarness:
    evm.place(evm.l1_block_address, "L1Block")
    return evm


def _set_values(evm: EvmHarness, sender: PrivateKey | Address, seq: int = SEQUENCE_NUMBER) -> TxResult:
    data = evm.encode_call(SET_L1_BLOCK_VALUES, NUMBER, TIMESTAMP, BASEFEE, HASH, seq)
    return evm.transact(sender, evm.l1_block_address, data, gas=L1_INFO_GAS_LIMIT)


def test_placement_without_constructor_args_matches_deployed_bytecode_succeeds(l1_block: EvmHarness) -> None:
    assert l1_block.state.get_code(l1_block.l1_block_address) == load_artifact("L1Block").deployed_bytecode


def test_setL1BlockValues_by_depositor_succeeds(l1_block: EvmHarness) -> None:
    result = _set_values(l1_block, l1_block.depositor)

    assert result.success, result.output.hex()
    at = l1_block.l1_block_address
    assert l1_block.call(at, "number()", returns=["uint64"]) == (NUMBER,)
    assert l1_block.call(at, "timestamp()", returns=["uint64"]) == (TIMESTAMP,)
    assert l1_block.call(at, "basefee()", returns=["uint256"]) == (BASEFEE,)
    assert l1_block.call(at, "hash()", returns=["bytes32"]) == (HASH,)
    assert l1_block.call(at, "sequenceNumber()", returns=["uint64"]) == (SEQUENCE_NUMBER,)


def test_setL1BlockValues_by_depositor_emits_no_event_succeeds(l1_block: EvmHarness) -> None:
    """As the OP Stack's L1Block: an update in every block would otherwise put a
    log in every block, the bulk of any unfiltered eth_getLogs."""
    first = _set_values(l1_block, l1_block.depositor, seq=0)
    following = _set_values(l1_block, l1_block.depositor, seq=1)

    assert first.success and following.success
    assert first.logs == () and following.logs == ()
    assert not any(entry.get("type") == "event" for entry in load_artifact("L1Block").abi)


def test_setL1BlockValues_packs_uint64s_into_slot_zero_succeeds(l1_block: EvmHarness) -> None:
    _set_values(l1_block, l1_block.depositor)

    at = l1_block.l1_block_address
    assert l1_block.storage(at, 0) == NUMBER | (TIMESTAMP << 64) | (SEQUENCE_NUMBER << 128)
    assert l1_block.storage(at, 1) == BASEFEE
    assert l1_block.storage(at, 2) == int.from_bytes(HASH, "big")


def test_setL1BlockValues_within_system_deposit_gas_limit_succeeds(l1_block: EvmHarness) -> None:
    first = _set_values(l1_block, l1_block.depositor, seq=0)
    following = _set_values(l1_block, l1_block.depositor, seq=1)

    assert first.success and following.success
    # Three storage writes: a small fraction of the 1,000,000 the node grants.
    assert first.gas_used < 100_000
    assert following.gas_used < 60_000


def test_setL1BlockValues_by_other_account_reverts(l1_block: EvmHarness) -> None:
    result = _set_values(l1_block, l1_block.alice)

    assert not result.success
    assert result.output == l1_block.revert_data("OnlyDepositor()")
    assert result.logs == ()
    assert l1_block.call(l1_block.l1_block_address, "number()", returns=["uint64"]) == (0,)


def test_DEPOSITOR_ACCOUNT_is_the_system_depositor_succeeds(l1_block: EvmHarness) -> None:
    (depositor,) = l1_block.call(l1_block.l1_block_address, "DEPOSITOR_ACCOUNT()", returns=["address"])
    assert to_canonical_address(depositor) == l1_block.depositor
