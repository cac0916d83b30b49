"""Shared helpers for the contract tests: a bare py-evm Prague state to run the
compiled predeploys on, independent of the node's execution layer.

Test modules reach everything here through the ``evm`` fixture (an
``EvmHarness``: accounts, predeploy addresses, ABI helpers, execution). They
import this file only for type checking: with several ``conftest.py`` files in
the suite, a runtime ``import conftest`` could bind the wrong one.

Predeploys are placed the way the node's genesis places them: their creation
code (constructor arguments appended) runs as a create message whose address
is the fixed predeploy address, so constructors and immutables take effect.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import pytest
from eth import constants
from eth.abc import ComputationAPI, SignedTransactionAPI, StateAPI, VirtualMachineAPI
from eth.chains.base import MiningChain
from eth.db.atomic import AtomicDB
from eth.vm.forks.prague import PragueVM
from eth.vm.message import Message
from eth.vm.spoof import SpoofTransaction
from eth_abi.abi import decode, encode
from eth_keys.datatypes import PrivateKey
from eth_typing import Address
from eth_utils.address import to_canonical_address
from eth_utils.crypto import keccak

from contracts import load_artifact

CHAIN_ID = 161_299
FUNDED_BALANCE = 10**24  # 1,000,000 OPEN

DEPOSITOR_ACCOUNT = to_canonical_address("0xDeaDDEaDDeAdDeAdDEAdDEaddeAddEAdDEAd0001")

# OP Stack predeploy addresses, used here only as realistic fixed addresses.
L1_BLOCK_ADDRESS = to_canonical_address("0x4200000000000000000000000000000000000015")
MESSAGE_PASSER_ADDRESS = to_canonical_address("0x4200000000000000000000000000000000000016")
SEQUENCER_FEE_VAULT_ADDRESS = to_canonical_address("0x4200000000000000000000000000000000000011")
BASE_FEE_VAULT_ADDRESS = to_canonical_address("0x4200000000000000000000000000000000000019")


def private_key(seed: int) -> PrivateKey:
    """Deterministic test key number ``seed`` (seed >= 1)."""
    return PrivateKey(seed.to_bytes(32, "big"))


ALICE = private_key(1)
BOB = private_key(2)


def address_of(key: PrivateKey) -> Address:
    return Address(key.public_key.to_canonical_address())


def _argument_types(signature: str) -> list[str]:
    """``"f(uint64,bytes32)"`` -> ``["uint64", "bytes32"]`` (flat signatures only)."""
    inner = signature[signature.index("(") + 1 : signature.rindex(")")]
    return [t for t in inner.split(",") if t]


def selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def encode_call(signature: str, *args: Any) -> bytes:
    """Calldata for ``signature`` (e.g. ``"withdraw()"``) with ``args``."""
    return selector(signature) + encode(_argument_types(signature), list(args))


def event_topic(signature: str) -> bytes:
    return keccak(text=signature)


@dataclass(frozen=True)
class LogEntry:
    address: Address
    topics: tuple[bytes, ...]
    data: bytes


@dataclass(frozen=True)
class TxResult:
    """Outcome of one transaction applied to the harness state."""

    success: bool
    output: bytes
    logs: tuple[LogEntry, ...]
    gas_used: int
    gas_price: int

    @property
    def fee(self) -> int:
        return self.gas_used * self.gas_price

    def logs_with_topic(self, topic: bytes) -> list[LogEntry]:
        return [log for log in self.logs if log.topics and log.topics[0] == topic]


class EvmHarness:
    """One pending Prague block on a fresh chain; transactions mutate its state.

    Signed transactions come from a private key; transactions "from" a keyless
    account (the depositor) are spoofed, as a system deposit would be.
    """

    alice = ALICE
    bob = BOB
    depositor = DEPOSITOR_ACCOUNT
    l1_block_address = L1_BLOCK_ADDRESS
    message_passer_address = MESSAGE_PASSER_ADDRESS
    sequencer_fee_vault_address = SEQUENCER_FEE_VAULT_ADDRESS
    base_fee_vault_address = BASE_FEE_VAULT_ADDRESS

    address_of = staticmethod(address_of)
    selector = staticmethod(selector)
    encode_call = staticmethod(encode_call)
    event_topic = staticmethod(event_topic)

    def __init__(self, funded: Sequence[Address]) -> None:
        chain_class = MiningChain.configure(
            __name__="ContractsTestChain",
            vm_configuration=((constants.GENESIS_BLOCK_NUMBER, PragueVM),),
            chain_id=CHAIN_ID,
        )
        genesis_params = {
            "coinbase": constants.ZERO_ADDRESS,
            "difficulty": 0,
            "gas_limit": 30_000_000,
            "timestamp": 1_700_000_000,
            "extra_data": b"",
            "nonce": b"\x00" * 8,
            "mix_hash": constants.ZERO_HASH32,
        }
        genesis_state = {
            address: {"balance": FUNDED_BALANCE, "nonce": 0, "code": b"", "storage": {}} for address in funded
        }
        self.chain = chain_class.from_genesis(AtomicDB(), cast(Any, genesis_params), cast(Any, genesis_state))
        self.vm: VirtualMachineAPI = self.chain.get_vm()
        self.header = self.vm.get_header()
        self.state: StateAPI = self.vm.state

    @property
    def gas_price(self) -> int:
        """Legacy gas price equal to the base fee, so the priority fee is zero."""
        base_fee = self.header.base_fee_per_gas
        assert base_fee is not None
        return int(base_fee)

    def place(
        self,
        address: Address,
        contract: str,
        ctor_types: Sequence[str] = (),
        ctor_args: Sequence[Any] = (),
        *,
        check: bool = True,
    ) -> ComputationAPI:
        """Run ``contract``'s creation code at ``address``, as genesis does.

        With ``check`` (the default) a failing constructor fails the test.
        """
        init_code = load_artifact(contract).bytecode + encode(list(ctor_types), list(ctor_args))
        message = Message(
            gas=30_000_000,
            to=constants.CREATE_CONTRACT_ADDRESS,
            sender=constants.ZERO_ADDRESS,
            value=0,
            data=b"",
            code=init_code,
            create_address=address,
        )
        context = self.state.get_transaction_context_class()(gas_price=0, origin=constants.ZERO_ADDRESS)
        computation = self.state.computation_class.apply_create_message(self.state, message, context)
        if check and not computation.is_success:
            raise AssertionError(f"placing {contract} at 0x{address.hex()} failed: {computation.error!r}")
        self.state.lock_changes()
        return computation

    def balance(self, address: Address) -> int:
        return int(self.state.get_balance(address))

    def storage(self, address: Address, slot: int) -> int:
        return int(self.state.get_storage(address, slot))

    def transact(
        self,
        sender: PrivateKey | Address,
        to: Address,
        data: bytes = b"",
        value: int = 0,
        gas: int = 1_000_000,
    ) -> TxResult:
        """Apply one legacy transaction; ``sender`` is a key (signed) or an address (spoofed)."""
        from_address = address_of(sender) if isinstance(sender, PrivateKey) else sender
        unsigned = self.vm.create_unsigned_transaction(
            nonce=self.state.get_nonce(from_address),
            gas_price=self.gas_price,
            gas=gas,
            to=to,
            value=value,
            data=data,
        )
        tx: SignedTransactionAPI
        if isinstance(sender, PrivateKey):
            tx = unsigned.as_signed_transaction(sender, chain_id=CHAIN_ID)
        else:
            tx = SpoofTransaction(unsigned, from_=sender)  # type: ignore[assignment]
        self.state.lock_changes()
        with warnings.catch_warnings():
            # py-evm warns on every SELFDESTRUCT; the Burner relies on it by design.
            warnings.filterwarnings(
                "ignore", message="SELFDESTRUCT opcode present", category=DeprecationWarning
            )
            computation = self.state.apply_transaction(tx)
        return self._result(tx, computation)

    def call(self, to: Address, signature: str, *args: Any, returns: Sequence[str]) -> tuple[Any, ...]:
        """Read-only call (like eth_call); state changes are discarded."""
        message = Message(
            gas=1_000_000,
            to=to,
            sender=constants.ZERO_ADDRESS,
            value=0,
            data=encode_call(signature, *args),
            code=self.state.get_code(to),
        )
        context = self.state.get_transaction_context_class()(gas_price=0, origin=constants.ZERO_ADDRESS)
        snapshot = self.state.snapshot()
        try:
            computation = self.state.computation_class.apply_message(self.state, message, context)
        finally:
            self.state.revert(snapshot)
        if not computation.is_success:
            raise AssertionError(f"call {signature} reverted: 0x{computation.output.hex()}")
        return tuple(decode(list(returns), computation.output))

    @staticmethod
    def revert_data(error_signature: str, types: Sequence[str] = (), args: Sequence[Any] = ()) -> bytes:
        """Return data of a custom-error revert, e.g. ``revert_data("OnlyDepositor()")``."""
        return selector(error_signature) + encode(list(types), list(args))

    def _result(self, tx: SignedTransactionAPI, computation: ComputationAPI) -> TxResult:
        logs = tuple(
            LogEntry(
                address=Address(address),
                topics=tuple(topic.to_bytes(32, "big") for topic in topics),
                data=data,
            )
            for address, topics, data in computation.get_log_entries()
        )
        return TxResult(
            success=computation.is_success,
            output=computation.output,
            logs=logs,
            # Receipts' gas accounting (intrinsic gas, refunds, EIP-7623 floor).
            gas_used=int(cast(Any, self.vm).finalize_gas_used(tx, computation)),
            gas_price=self.gas_price,
        )


@pytest.fixture
def evm() -> Iterator[EvmHarness]:
    yield EvmHarness(funded=[address_of(ALICE), address_of(BOB), DEPOSITOR_ACCOUNT])
