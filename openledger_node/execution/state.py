"""Read-only views of the state at a block, for the pool and (later) RPC."""

from __future__ import annotations

from eth.abc import AtomicDatabaseAPI

from openledger_node.execution.accountdb import SharedReadAccountDB
from openledger_node.primitives import Address, Hash32


class StateView:
    """Accounts, code and storage at one state root. Never writes."""

    def __init__(self, db: AtomicDatabaseAPI, state_root: bytes) -> None:
        self.state_root = state_root
        self._accounts = SharedReadAccountDB(db, Hash32(state_root))

    # Addresses come checked (20 bytes) from the RPC parameters and the pool;
    # AccountDB's getters would check them again on every read.

    def get_nonce(self, address: bytes) -> int:
        if len(address) != 20:
            return int(self._accounts.get_nonce(Address(address)))
        return int(self._accounts._get_account(Address(address)).nonce)

    def get_balance(self, address: bytes) -> int:
        if len(address) != 20:
            return int(self._accounts.get_balance(Address(address)))
        return int(self._accounts._get_account(Address(address)).balance)

    def get_code(self, address: bytes) -> bytes:
        return bytes(self._accounts.get_code(Address(address)))

    def storage_root(self, address: bytes) -> Hash32:
        """Root of the account's storage trie (the empty root for no storage)."""
        return Hash32(self._accounts._get_storage_root(Address(address)))

    def get_storage(self, address: bytes, slot: int) -> int:
        if len(address) != 20 or not 0 <= slot < 2**256:
            return int(self._accounts.get_storage(Address(address), slot, from_journal=False))
        return int(self._accounts._get_address_store(Address(address)).get(slot, from_journal=False))
