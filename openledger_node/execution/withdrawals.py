"""Withdrawals: what L2ToL1MessagePasser records on L2 for the L1 portal to prove.

A withdrawal starts as an L2 transaction to the passer, which stores its hash
in `sentMessages` and emits `MessagePassed`. Those receipts' logs give the
withdrawals (`withdrawals_in`); an output root (`execution.output`) commits to
the passer's storage root, and the portal proves `sentMessages[hash]` at
`sent_messages_slot(hash)` with a storage proof (`execution.proof`) against it.
Hash and storage layout are the OP Stack's (`contracts/src/libraries/Hashing.sol`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_hash.auto import keccak

from openledger_node.execution.types import Log
from openledger_node.primitives import L2_TO_L1_MESSAGE_PASSER_ADDRESS, Address, Hash32

MESSAGE_PASSED = Hash32(keccak(b"MessagePassed(uint256,address,address,uint256,uint256,bytes,bytes32)"))
SENT_MESSAGES_SLOT = 0  # L2ToL1MessagePasser's storage layout: the mapping is slot 0


@dataclass(frozen=True)
class Withdrawal:
    """A withdrawal as the passer hashes it (the portal's WithdrawalTransaction)."""

    nonce: int  # versioned: the message version in the top two bytes
    sender: Address
    target: Address
    value: int
    gas_limit: int
    data: bytes

    @property
    def hash(self) -> Hash32:
        """keccak256(abi.encode(nonce, sender, target, value, gasLimit, data)): the
        key of `sentMessages` and what the portal proves and finalizes."""
        fields = ["uint256", "address", "address", "uint256", "uint256", "bytes"]
        values = [self.nonce, self.sender, self.target, self.value, self.gas_limit, self.data]
        return Hash32(keccak(abi_encode(fields, values)))


def sent_messages_slot(withdrawal_hash: bytes) -> int:
    """The passer's storage slot of `sentMessages[withdrawal_hash]`."""
    return int.from_bytes(keccak(withdrawal_hash + SENT_MESSAGES_SLOT.to_bytes(32, "big")), "big")


def withdrawals_in(logs: Iterable[Log]) -> list[Withdrawal]:
    """The withdrawals that a receipt's `logs` initiate, in log order: the
    passer's MessagePassed events; other logs are skipped."""
    withdrawals = []
    for log in logs:
        if log.address != L2_TO_L1_MESSAGE_PASSER_ADDRESS or not log.topics or log.topics[0] != MESSAGE_PASSED:
            continue
        value, gas_limit, data, _ = abi_decode(["uint256", "uint256", "bytes", "bytes32"], log.data)
        withdrawals.append(
            Withdrawal(
                nonce=int.from_bytes(log.topics[1], "big"),
                sender=Address(log.topics[2][12:]),
                target=Address(log.topics[3][12:]),
                value=value,
                gas_limit=gas_limit,
                data=data,
            )
        )
    return withdrawals
