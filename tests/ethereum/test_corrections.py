"""Behaviour Ethereum's stored vectors do not pin on their own: the corrections
to py-evm (execution/evm.py, execution/vm.py) and the EIP-3860 initcode limit
in a CREATE (whose vectors are missing from the stored sets)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from eth._utils.address import generate_contract_address
from eth.vm.forks.cancun.constants import GAS_PER_BLOB
from eth_typing import Address
from eth_utils import to_checksum_address

from openledger_node.exceptions import InsufficientFunds
from openledger_node.execution.block import begin_block
from openledger_node.execution.evm import modexp_result
from openledger_node.execution.vm import validate_sender
from openledger_node.primitives import BLOB_TX_TYPE
from openledger_node.storage import ChainStore, OverlayDB
from tests.conftest import Signer, head_state, next_env

SENDER = b"\x11" * 20


@dataclass
class BlobTx:
    gas: int = 21_000
    value: int = 7
    max_fee_per_blob_gas: int = 3
    blob_versioned_hashes: tuple[bytes, ...] = (b"\x01" + b"\x00" * 31,) * 2
    type_id: int = BLOB_TX_TYPE
    nonce: int = 0
    sender: bytes = SENDER
    authorization_list: tuple[object, ...] = ()


@dataclass
class State:
    balance: int
    nonces: dict[bytes, int] = field(default_factory=dict)

    def get_nonce(self, address: bytes) -> int:
        return self.nonces.get(address, 0)

    def get_balance(self, address: bytes) -> int:
        return self.balance


def test_blob_sender_must_afford_gas_blob_gas_and_value_together() -> None:
    """EIP-4844: balance >= gas * maxFeePerGas + blobGas * maxFeePerBlobGas + value.
    py-evm checks gas and value, and gas and blob gas, but never the three."""
    tx, fee_cap = BlobTx(), 10
    need = tx.gas * fee_cap + 2 * GAS_PER_BLOB * tx.max_fee_per_blob_gas + tx.value
    validate_sender(State(need), tx, fee_cap)
    with pytest.raises(InsufficientFunds) as refused:
        validate_sender(State(need - 1), tx, fee_cap)
    assert str(need) in str(refused.value)


@pytest.mark.parametrize(
    ("base", "exponent", "modulus", "expected"),
    [
        (b"", b"", b"\x02", b"\x01"),  # 0 ** 0 % 2: py-evm gave 0
        (b"", b"", b"\x00\x02", b"\x00\x01"),
        (b"", b"\x05", b"\x07", b"\x00"),  # 0 ** 5 % 7
        (b"", b"", b"\x01", b"\x00"),  # anything % 1
        (b"\x03", b"\x02", b"", b""),  # no modulus, no output
        (b"\x03", b"\x02", b"\x00", b"\x00"),  # modulus 0: zeros
        (b"\x03", b"\x05", b"\x64", b"\x2b"),  # 243 % 100
    ],
)
def test_modexp_result(base: bytes, exponent: bytes, modulus: bytes, expected: bytes) -> None:
    data = b"".join(len(x).to_bytes(32, "big") for x in (base, exponent, modulus)) + base + exponent + modulus
    assert modexp_result(data) == expected


# Runtime: CREATE with 49,153 bytes of initcode (one over EIP-3860's limit),
# then store 1 at slot 0. Initcode: return that runtime.
OVERSIZED_CREATE_RUNTIME = bytes.fromhex("6200c0015f5ff050" "60015f55" "00")
OVERSIZED_CREATE_INITCODE = bytes.fromhex("600d806009" "5f39" "5ff3") + OVERSIZED_CREATE_RUNTIME


def test_create_over_the_initcode_limit_halts_the_creating_frame(
    store: ChainStore, genesis_spec: Any, signers: list[Signer]
) -> None:
    """EIP-3860: the frame that runs CREATE with oversized initcode halts with
    all its gas consumed, and does not run on to the SSTORE after it."""
    deployer, caller = signers[0], signers[1]
    contract = bytes(generate_contract_address(Address(deployer.address), 0))
    overlay = OverlayDB(store.state_db)
    executor = begin_block(next_env(store, genesis_spec), overlay)
    executor.apply(deployer.tx(to=None, data=OVERSIZED_CREATE_INITCODE, gas=200_000, value=0))
    receipt = executor.apply(caller.tx(to=to_checksum_address(contract), data=b"", gas=300_000, value=0))
    store.write_output(executor.seal(), overlay)
    assert receipt.status == 0
    assert receipt.gas_used == 300_000
    state = head_state(store)
    assert state.get_storage(contract, 0) == 0
    assert state.get_nonce(contract) == 1  # no create happened: still the EIP-161 nonce of a new contract
