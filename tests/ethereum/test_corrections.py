"""The corrections to py-evm that Ethereum's vectors do not pin on their own
(execution/evm.py, execution/vm.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from eth.vm.forks.cancun.constants import GAS_PER_BLOB

from openledger_node.exceptions import InsufficientFunds
from openledger_node.execution.evm import modexp_result
from openledger_node.execution.vm import validate_sender
from openledger_node.primitives import BLOB_TX_TYPE

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
