"""Dev-network state edits (anvil's `anvil_setBalance`, `anvil_setCode`,
`anvil_setNonce`, `anvil_setStorageAt`) as data, and the one function that
applies them to a block's state.

A block producer seals an edit at once, in a block of its own (its opening
deposits and the edit, no pool transaction), so that reads see it as soon as
the method answers, `evm_revert` to an earlier snapshot undoes it, and it
reaches disk in the same write batch as the block (a crash keeps or loses both).
That block's state root is not what re-executing its transactions gives: a
validator would reject it, so a node that posts batches refuses edits
(`StateEditsRefused`). docs/rpc.md weighs the choices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openledger_node.exceptions import OpenLedgerError


class StateEditsRefused(OpenLedgerError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"state edits are refused on this node: {reason}")


@dataclass(frozen=True)
class AccountPatch:
    """What to overwrite in one account; None leaves a field as it is."""

    address: bytes
    balance: int | None = None
    nonce: int | None = None
    code: bytes | None = None
    storage: tuple[tuple[int, int], ...] = ()

    def describe(self) -> str:
        parts = []
        if self.balance is not None:
            parts.append(f"balance={self.balance}")
        if self.nonce is not None:
            parts.append(f"nonce={self.nonce}")
        if self.code is not None:
            parts.append(f"code={len(self.code)} bytes")
        parts.extend(f"slot 0x{slot:x}=0x{value:x}" for slot, value in self.storage)
        return f"0x{self.address.hex()} " + " ".join(parts)


def apply_patches(state: Any, patches: tuple[AccountPatch, ...]) -> None:
    """Write the patches into a py-evm state (before it is persisted)."""
    for patch in patches:
        if patch.balance is not None:
            state.set_balance(patch.address, patch.balance)
        if patch.nonce is not None:
            state.set_nonce(patch.address, patch.nonce)
        if patch.code is not None:
            state.set_code(patch.address, patch.code)
        for slot, value in patch.storage:
            state.set_storage(patch.address, slot, value)
