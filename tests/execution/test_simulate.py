"""Simulator: eth_call, eth_estimateGas and eth_createAccessList by geth's rules,
checked against real transactions applied with BlockExecutor."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import pytest
from eth._utils.address import generate_contract_address
from eth.vm import opcode_values
from eth_abi.abi import encode as abi_encode
from eth_hash.auto import keccak
from eth_typing import Address

from contracts import load_artifact
from openledger_node.exceptions import (
    ExecutionFailed,
    ExecutionReverted,
    FeeCapTooLow,
    GasRequiredExceedsAllowance,
    InsufficientFunds,
    IntrinsicGasTooLow,
    InvalidTransaction,
    TipAboveFeeCap,
)
from openledger_node.execution.block import begin_block
from openledger_node.execution.simulate import (
    AccountOverride,
    CallRequest,
    Simulator,
    decode_revert_reason,
)
from openledger_node.execution.types import Receipt
from openledger_node.storage import ChainStore, OverlayDB
from tests.conftest import CHAIN_ID, Signer, head_state, next_env, seal_and_store

SUPPLY = 10**24
RECIPIENT = b"\x33" * 20
POOR = b"\x77" * 20  # an account with no balance
CODE_AT = b"\xc0" * 20  # where tests place code by state override
TRANSFER = "transfer(address,uint256)"
BALANCE_OF = "balanceOf(address)"


# --- a tiny assembler -----------------------------------------------------------------


def opcode(mnemonic: str) -> int:
    return 0xFE if mnemonic == "INVALID" else int(getattr(opcode_values, mnemonic))


@dataclass(frozen=True)
class Label:  # a JUMPDEST
    name: str


@dataclass(frozen=True)
class Ref:  # PUSH2 of a label's offset
    name: str


def asm(*items: str | int | bytes | Label | Ref) -> bytes:
    """Mnemonics, ints (minimal PUSH), bytes (PUSH of exactly those bytes), labels."""

    def size(item: Any) -> int:
        if isinstance(item, str | Label):
            return 1
        if isinstance(item, Ref):
            return 3
        if isinstance(item, int):
            return 1 + max(1, (item.bit_length() + 7) // 8)
        return 1 + len(item)

    offsets, at = {}, 0
    for item in items:
        if isinstance(item, Label):
            offsets[item.name] = at
        at += size(item)
    out = bytearray()
    for item in items:
        if isinstance(item, str):
            out.append(opcode(item))
        elif isinstance(item, Label):
            out.append(opcode_values.JUMPDEST)
        elif isinstance(item, Ref):
            out += bytes([0x61]) + offsets[item.name].to_bytes(2, "big")
        else:
            raw = (
                item
                if isinstance(item, bytes)
                else item.to_bytes(max(1, (item.bit_length() + 7) // 8), "big")
            )
            out += bytes([0x5F + len(raw)]) + raw
    return bytes(out)


def copy_out(payload: bytes, op: str) -> bytes:
    """Code that RETURNs (as init code: deploys) or REVERTs with `payload`."""
    n = len(payload).to_bytes(2, "big")
    head = asm(n, (15).to_bytes(2, "big"), b"\x00", "CODECOPY", n, b"\x00", op)
    assert len(head) == 15
    return head + payload


def initcode(runtime: bytes) -> bytes:
    return copy_out(runtime, "RETURN")


def returning(*word_ops: Sequence[str | int | bytes]) -> bytes:
    """Code that evaluates each item list to one word and returns the words."""
    body: list[Any] = []
    for index, ops in enumerate(word_ops):
        body += [*ops, 32 * index, "MSTORE"]
    return asm(*body, 32 * len(word_ops), 0, "RETURN")


# if gasleft() < 100_000 at entry, revert: needs more gas than it uses
GAS_CHECKER = asm("GAS", 100_000, "GT", Ref("fail"), "JUMPI", "STOP", Label("fail"), 0, 0, "REVERT")
INFINITE_LOOP = asm(Label("loop"), Ref("loop"), "JUMP")


def call_all_gas(target: bytes) -> bytes:
    """CALL(gas(), target, 0, 0, 0, 0, 0) and revert unless it succeeded: the 63/64 rule."""
    return asm(
        0,
        0,
        0,
        0,
        0,
        target,
        "GAS",
        "CALL",
        "ISZERO",
        Ref("fail"),
        "JUMPI",
        "STOP",
        Label("fail"),
        0,
        0,
        "REVERT",
    )


def forwarder(target: bytes) -> bytes:
    """STATICCALL `target` with this call's calldata and return its first word."""
    return asm(
        "CALLDATASIZE",
        0,
        0,
        "CALLDATACOPY",
        32,
        0,
        "CALLDATASIZE",
        0,
        target,
        "GAS",
        "STATICCALL",
        "POP",
        32,
        0,
        "RETURN",
    )


def encode_call(signature: str, *args: Any) -> bytes:
    types = signature[signature.index("(") + 1 : -1].split(",") if "()" not in signature else []
    return keccak(signature.encode())[:4] + abi_encode(types, list(args))


def word(value: bytes) -> int:
    return int.from_bytes(value, "big")


def balance_slot(holder: bytes) -> int:
    """OZ v5 ERC20: _balances is the mapping at slot 0."""
    return word(keccak(holder.rjust(32, b"\x00") + (0).to_bytes(32, "big")))


# --- chain fixture --------------------------------------------------------------------


class Chain:
    def __init__(self, store: ChainStore, genesis_spec: Any) -> None:
        self.store = store
        self.spec = genesis_spec

    def mine(self, *txs: Any) -> list[Receipt]:
        overlay = OverlayDB(self.store.state_db)
        executor = begin_block(next_env(self.store, self.spec), overlay)
        receipts = [executor.apply(tx) for tx in txs]
        seal_and_store(self.store, executor, overlay)
        return receipts

    def deploy(self, signer: Signer, code: bytes, gas: int = 3_000_000) -> bytes:
        [receipt] = self.mine(signer.tx(to=b"", data=code, gas=gas, value=0))
        assert receipt.status == 1 and receipt.contract_address is not None
        return receipt.contract_address

    def simulator(self, number: int | None = None) -> Simulator:
        header = self.store.head() if number is None else self.store.header_by_number(number)
        prev: Any = ()
        if header.block_number > 0:
            prev = self.store.ancestor_hashes(self.store.header_by_hash(bytes(header.parent_hash)))
        return Simulator(self.store.state_db, CHAIN_ID, header, prev)


@pytest.fixture()
def chain(store: ChainStore, genesis_spec: Any) -> Chain:
    return Chain(store, genesis_spec)


@pytest.fixture()
def token(chain: Chain, signers: list[Signer]) -> bytes:
    init = load_artifact("TestToken").bytecode + abi_encode(["uint256"], [SUPPLY])
    return chain.deploy(signers[0], init)


def code_override(code: bytes) -> dict[bytes, AccountOverride]:
    return {CODE_AT: AccountOverride(code=code)}


# --- eth_call -------------------------------------------------------------------------


def test_call_view_function_returns_output(chain: Chain, token: bytes, signers: list[Signer]) -> None:
    result = chain.simulator().call(
        CallRequest(to=token, data=encode_call(BALANCE_OF, signers[0].address))
    )
    assert result.success and result.error is None and result.revert_data == b""
    assert word(result.output) == SUPPLY
    assert result.gas_used > 21_000


@pytest.mark.parametrize("kind", ["transfer", "deploy", "erc20"])
def test_call_gas_used_equals_receipt_of_real_transaction(
    chain: Chain, token: bytes, signers: list[Signer], kind: str
) -> None:
    sender = signers[1]
    if kind == "transfer":
        fields: dict[str, Any] = {"to": RECIPIENT, "value": 10**18, "data": b"", "gas": 21_000}
    elif kind == "deploy":
        init = load_artifact("TestToken").bytecode + abi_encode(["uint256"], [5])
        fields = {"to": b"", "value": 0, "data": init, "gas": 2_000_000}
    else:
        chain.mine(
            signers[0].tx(
                to=token, data=encode_call(TRANSFER, sender.address, 10**20), gas=100_000, value=0
            )
        )
        fields = {
            "to": token,
            "value": 0,
            "data": encode_call(TRANSFER, RECIPIENT, 10**18),
            "gas": 100_000,
        }
    request = CallRequest(
        sender=sender.address,
        to=fields["to"] or None,
        gas=fields["gas"],
        value=fields["value"],
        data=fields["data"],
        max_fee_per_gas=3 * 10**9,
        max_priority_fee_per_gas=10**8,
        nonce=sender.nonce,
    )
    simulated = chain.simulator().call(request)
    [receipt] = chain.mine(sender.tx(**fields))
    assert simulated.success and receipt.status == 1
    assert simulated.gas_used == receipt.gas_used


def test_call_does_not_persist_anything(chain: Chain, token: bytes, signers: list[Signer]) -> None:
    header = chain.store.head()
    db = OverlayDB(chain.store.state_db)  # records any write the simulator would make
    sim = Simulator(db, CHAIN_ID, header)
    request = CallRequest(
        sender=signers[0].address, to=token, data=encode_call(TRANSFER, RECIPIENT, 10**18)
    )
    assert sim.call(request).success
    sim.estimate_gas(request)
    sim.create_access_list(request)
    assert len(db) == 0
    state = head_state(chain.store)
    assert state.get_storage(token, balance_slot(RECIPIENT)) == 0
    assert state.get_nonce(signers[0].address) == 1  # only the deployment


def test_call_revert_with_error_string(chain: Chain) -> None:
    payload = encode_call("Error(string)", "not allowed")
    result = chain.simulator().call(CallRequest(to=CODE_AT), code_override(copy_out(payload, "REVERT")))
    assert not result.success and result.reverted
    assert result.error == "execution reverted"
    assert result.revert_data == payload and result.output == b""
    assert result.revert_reason == "not allowed"
    with pytest.raises(ExecutionReverted, match="execution reverted: not allowed") as info:
        result.output_or_raise()
    assert info.value.data == payload


def test_call_revert_with_custom_error(chain: Chain, token: bytes, signers: list[Signer]) -> None:
    sender = signers[1].address  # holds no tokens
    result = chain.simulator().call(
        CallRequest(sender=sender, to=token, data=encode_call(TRANSFER, RECIPIENT, 5))
    )
    expected = encode_call("ERC20InsufficientBalance(address,uint256,uint256)", sender, 0, 5)
    assert not result.success and result.error == "execution reverted"
    assert result.revert_data == expected
    assert result.revert_reason is None


def test_decode_revert_reason_panic_and_garbage() -> None:
    assert (
        decode_revert_reason(encode_call("Panic(uint256)", 0x11)) == "arithmetic underflow or overflow"
    )
    assert decode_revert_reason(encode_call("Panic(uint256)", 0x99)) == "unknown panic code: 0x99"
    assert decode_revert_reason(bytes.fromhex("08c379a0") + b"\x01") is None
    assert decode_revert_reason(b"") is None


def test_call_out_of_gas_uses_all_gas(chain: Chain, token: bytes, signers: list[Signer]) -> None:
    request = CallRequest(
        sender=signers[0].address, to=token, data=encode_call(TRANSFER, RECIPIENT, 1), gas=30_000
    )
    result = chain.simulator().call(request)
    assert not result.success and result.error == "out of gas"
    assert result.gas_used == 30_000 and result.revert_data == b""
    with pytest.raises(ExecutionFailed, match="out of gas"):
        result.output_or_raise()


def test_call_invalid_opcode(chain: Chain) -> None:
    result = chain.simulator().call(CallRequest(to=CODE_AT, gas=50_000), code_override(asm("INVALID")))
    assert not result.success and result.error == "invalid opcode: INVALID"
    assert result.gas_used == 50_000
    undefined = chain.simulator().call(CallRequest(to=CODE_AT), code_override(bytes([0x0C])))
    assert undefined.error == "invalid opcode: opcode 0xc not defined"


def test_call_gas_defaults_to_block_gas_limit_and_is_capped(chain: Chain) -> None:
    sim = chain.simulator()
    gas_limit = int(sim.header.gas_limit)
    reads_gas = code_override(returning(["GAS"]))
    # GAS at entry = gas limit - 21000 intrinsic - 2 for the GAS opcode itself
    assert word(sim.call(CallRequest(to=CODE_AT), reads_gas).output) == gas_limit - 21_002
    assert word(sim.call(CallRequest(to=CODE_AT), reads_gas, gas_cap=100_000).output) == 100_000 - 21_002
    capped = sim.call(CallRequest(to=CODE_AT, gas=10**9), reads_gas, gas_cap=200_000)
    assert word(capped.output) == 200_000 - 21_002
    with pytest.raises(IntrinsicGasTooLow):
        sim.call(CallRequest(to=CODE_AT, gas=20_000), reads_gas)


def test_call_without_fee_fields_needs_no_balance_for_gas(chain: Chain) -> None:
    result = chain.simulator().call(CallRequest(sender=POOR, to=RECIPIENT))
    assert result.success and result.gas_used == 21_000


def test_call_value_without_balance_raises_insufficient_funds(chain: Chain) -> None:
    with pytest.raises(
        InsufficientFunds, match="insufficient funds for gas \\* price \\+ value"
    ) as info:
        chain.simulator().call(CallRequest(sender=POOR, to=RECIPIENT, value=1))
    assert (info.value.balance, info.value.cost) == (0, 1)


def test_call_fee_fields_require_balance_for_gas(chain: Chain) -> None:
    sim = chain.simulator()
    fee_cap = 2 * sim.base_fee
    request = CallRequest(sender=POOR, to=RECIPIENT, gas=21_000, max_fee_per_gas=fee_cap, value=7)
    with pytest.raises(InsufficientFunds) as info:
        sim.call(request)
    assert info.value.cost == 21_000 * fee_cap + 7
    exact = {POOR: AccountOverride(balance=21_000 * fee_cap + 7)}
    assert sim.call(request, exact).success
    short = {POOR: AccountOverride(balance=21_000 * fee_cap + 6)}
    with pytest.raises(InsufficientFunds):
        sim.call(request, short)
    legacy = CallRequest(sender=POOR, to=RECIPIENT, gas=21_000, gas_price=fee_cap)
    with pytest.raises(InsufficientFunds):
        sim.call(legacy)


def test_call_fee_field_consistency(chain: Chain, signers: list[Signer]) -> None:
    sim = chain.simulator()
    base_fee = sim.base_fee
    sender = signers[0].address
    with pytest.raises(TipAboveFeeCap):
        sim.call(
            CallRequest(
                sender=sender,
                to=RECIPIENT,
                max_fee_per_gas=base_fee,
                max_priority_fee_per_gas=base_fee + 1,
            )
        )
    with pytest.raises(TipAboveFeeCap):  # a tip alone: the fee cap defaults to 0
        sim.call(CallRequest(sender=sender, to=RECIPIENT, max_priority_fee_per_gas=1))
    with pytest.raises(FeeCapTooLow, match="max fee per gas less than block base fee"):
        sim.call(CallRequest(sender=sender, to=RECIPIENT, max_fee_per_gas=base_fee - 1))
    with pytest.raises(FeeCapTooLow):
        sim.call(CallRequest(sender=sender, to=RECIPIENT, gas_price=base_fee - 1))
    with pytest.raises(InvalidTransaction, match="both gasPrice and"):
        sim.call(CallRequest(sender=sender, to=RECIPIENT, gas_price=base_fee, max_fee_per_gas=base_fee))
    assert sim.call(CallRequest(sender=sender, to=RECIPIENT, max_fee_per_gas=base_fee)).success
    assert sim.call(CallRequest(sender=sender, to=RECIPIENT, gas_price=0)).success


def test_call_base_fee_is_zero_for_a_free_call(chain: Chain, signers: list[Signer]) -> None:
    sim = chain.simulator()
    code = code_override(returning(["BASEFEE"]))
    assert word(sim.call(CallRequest(to=CODE_AT), code).output) == 0
    paid = CallRequest(sender=signers[0].address, to=CODE_AT, max_fee_per_gas=2 * sim.base_fee)
    assert word(sim.call(paid, code).output) == sim.base_fee > 0


def test_call_nonce_is_not_checked(chain: Chain, signers: list[Signer]) -> None:
    """geth skips nonce checks for calls and estimates: wallets send the pending
    nonce, ahead of the state while earlier transactions wait in the pool."""
    sim = chain.simulator()
    sender = signers[0].address
    assert sim.call(CallRequest(sender=sender, to=RECIPIENT, nonce=0)).success
    assert sim.call(CallRequest(sender=sender, to=RECIPIENT, nonce=1)).success
    assert sim.estimate_gas(CallRequest(sender=sender, to=RECIPIENT, nonce=7)) == 21_000
    overrides = {sender: AccountOverride(nonce=5)}
    assert sim.call(CallRequest(sender=sender, to=RECIPIENT, nonce=4), overrides).success


def test_call_create_address_comes_from_the_state_nonce(chain: Chain, signers: list[Signer]) -> None:
    sender = signers[0].address
    state_nonce = int(head_state(chain.store).get_nonce(sender))
    # init code that deploys its own address as its runtime code
    for nonce in (None, state_nonce, state_nonce + 9):
        result = chain.simulator().call(CallRequest(sender=sender, data=returning(["ADDRESS"]), nonce=nonce))
        assert result.output[12:] == generate_contract_address(Address(sender), state_nonce)


def test_call_ignores_sender_code(chain: Chain) -> None:
    overrides = {POOR: AccountOverride(code=asm("INVALID"))}
    assert chain.simulator().call(CallRequest(sender=POOR, to=RECIPIENT), overrides).success


def test_call_deploy_returns_runtime_code(chain: Chain, signers: list[Signer]) -> None:
    runtime = returning([42])
    result = chain.simulator().call(CallRequest(sender=signers[0].address, data=initcode(runtime)))
    assert result.success and result.output == runtime


# --- state overrides -------------------------------------------------------------------


def test_override_balance(chain: Chain) -> None:
    overrides = {POOR: AccountOverride(balance=12_345)} | code_override(returning(["CALLER", "BALANCE"]))
    result = chain.simulator().call(CallRequest(sender=POOR, to=CODE_AT, value=345), overrides)
    assert result.success and word(result.output) == 12_000
    assert head_state(chain.store).get_balance(POOR) == 0


def test_override_code_replaces_contract(chain: Chain, token: bytes) -> None:
    overrides = {token: AccountOverride(code=returning([7]))}
    result = chain.simulator().call(
        CallRequest(to=token, data=encode_call(BALANCE_OF, RECIPIENT)), overrides
    )
    assert word(result.output) == 7


def test_override_state_replaces_all_storage(chain: Chain, token: bytes, signers: list[Signer]) -> None:
    deployer = signers[0].address
    sim = chain.simulator()
    overrides = {token: AccountOverride(state={balance_slot(RECIPIENT): 5})}
    assert (
        word(sim.call(CallRequest(to=token, data=encode_call(BALANCE_OF, RECIPIENT)), overrides).output)
        == 5
    )
    assert (
        word(sim.call(CallRequest(to=token, data=encode_call(BALANCE_OF, deployer)), overrides).output)
        == 0
    )
    assert (
        word(sim.call(CallRequest(to=token, data=encode_call("totalSupply()")), overrides).output) == 0
    )


def test_override_state_diff_patches_slots(chain: Chain, token: bytes, signers: list[Signer]) -> None:
    deployer = signers[0].address
    sim = chain.simulator()
    overrides = {token: AccountOverride(state_diff={balance_slot(RECIPIENT): 5})}
    assert (
        word(sim.call(CallRequest(to=token, data=encode_call(BALANCE_OF, RECIPIENT)), overrides).output)
        == 5
    )
    assert (
        word(sim.call(CallRequest(to=token, data=encode_call(BALANCE_OF, deployer)), overrides).output)
        == SUPPLY
    )
    assert (
        word(sim.call(CallRequest(to=token, data=encode_call("totalSupply()")), overrides).output)
        == SUPPLY
    )


def test_override_state_and_state_diff_together_rejected() -> None:
    with pytest.raises(ValueError, match="both 'state' and 'stateDiff'"):
        AccountOverride(state={}, state_diff={})


# --- block context ---------------------------------------------------------------------


def test_call_at_older_block_sees_its_state_and_context(chain: Chain, signers: list[Signer]) -> None:
    for _ in range(3):
        chain.mine(signers[0].tx(to=RECIPIENT, value=1))
    probe = code_override(
        returning(
            [RECIPIENT, "BALANCE"],
            ["NUMBER"],
            [1, "NUMBER", "SUB", "BLOCKHASH"],
            ["TIMESTAMP"],
            ["COINBASE"],
        )
    )
    for number in (1, 2, 3):
        header = chain.store.header_by_number(number)
        out = chain.simulator(number).call(CallRequest(to=CODE_AT), probe).output
        balance, block_number, parent_hash, timestamp, coinbase = (
            out[i : i + 32] for i in range(0, 160, 32)
        )
        assert word(balance) == number
        assert word(block_number) == number
        assert parent_hash == bytes(header.parent_hash)
        assert word(timestamp) == header.timestamp
        assert coinbase[12:] == bytes(header.coinbase)


# --- eth_estimateGas -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["transfer", "deploy", "erc20"])
def test_estimate_equals_gas_used_and_suffices_for_real(
    chain: Chain, token: bytes, signers: list[Signer], kind: str
) -> None:
    sender = signers[0]
    if kind == "transfer":
        to, data, value = RECIPIENT, b"", 10**18
    elif kind == "deploy":
        to, data, value = b"", load_artifact("TestToken").bytecode + abi_encode(["uint256"], [5]), 0
    else:
        to, data, value = token, encode_call(TRANSFER, RECIPIENT, 10**18), 0
    request = CallRequest(sender=sender.address, to=to or None, data=data, value=value)
    estimate = chain.simulator().estimate_gas(request)
    if kind == "transfer":
        assert estimate == 21_000
    [receipt] = chain.mine(sender.tx(to=to, data=data, value=value, gas=estimate))
    assert receipt.status == 1
    assert receipt.gas_used == estimate


@pytest.mark.parametrize("contract", ["gas_checker", "call_all_gas"])
def test_estimate_covers_gas_needed_beyond_gas_used(
    chain: Chain, signers: list[Signer], contract: str
) -> None:
    sender = signers[0]
    checker = chain.deploy(sender, initcode(GAS_CHECKER))
    target = (
        checker if contract == "gas_checker" else chain.deploy(sender, initcode(call_all_gas(checker)))
    )
    sim = chain.simulator()
    request = CallRequest(sender=sender.address, to=target)
    estimate = sim.estimate_gas(request)
    at_estimate = sim.call(CallRequest(sender=sender.address, to=target, gas=estimate))
    below = sim.call(CallRequest(sender=sender.address, to=target, gas=estimate - 1))
    assert at_estimate.success and not below.success
    assert estimate > at_estimate.gas_used
    if contract == "call_all_gas":
        assert estimate > 21_000 + 100_000 * 64 // 63
    [receipt] = chain.mine(sender.tx(to=target, data=b"", value=0, gas=estimate))
    assert receipt.status == 1
    assert receipt.gas_used == at_estimate.gas_used


def test_estimate_revert_with_error_string_raises(chain: Chain) -> None:
    payload = encode_call("Error(string)", "paused")
    with pytest.raises(ExecutionReverted, match="execution reverted: paused") as info:
        chain.simulator().estimate_gas(
            CallRequest(to=CODE_AT, data=b"\x01"), code_override(copy_out(payload, "REVERT"))
        )
    assert info.value.data == payload and info.value.reason == "paused"


def test_estimate_revert_with_custom_error_raises(
    chain: Chain, token: bytes, signers: list[Signer]
) -> None:
    sender = signers[1].address
    with pytest.raises(ExecutionReverted) as info:
        chain.simulator().estimate_gas(
            CallRequest(sender=sender, to=token, data=encode_call(TRANSFER, RECIPIENT, 5))
        )
    assert info.value.reason is None and str(info.value) == "execution reverted"
    assert info.value.data == encode_call(
        "ERC20InsufficientBalance(address,uint256,uint256)", sender, 0, 5
    )


def test_estimate_out_of_gas_at_cap_raises_allowance(chain: Chain) -> None:
    with pytest.raises(
        GasRequiredExceedsAllowance, match=r"gas required exceeds allowance \(300000\)"
    ) as info:
        chain.simulator().estimate_gas(
            CallRequest(to=CODE_AT, data=b"\x01"), code_override(INFINITE_LOOP), gas_cap=300_000
        )
    assert info.value.cap == 300_000


def test_estimate_other_failure_raises_execution_failed(chain: Chain) -> None:
    with pytest.raises(ExecutionFailed, match="invalid opcode: INVALID"):
        chain.simulator().estimate_gas(CallRequest(to=CODE_AT), code_override(asm("INVALID")))


def test_estimate_value_without_balance_raises(chain: Chain) -> None:
    sim = chain.simulator()
    with pytest.raises(InsufficientFunds):
        sim.estimate_gas(CallRequest(sender=POOR, to=RECIPIENT, value=1))
    fee_cap = 2 * sim.base_fee
    # with a fee cap, geth refuses a value the balance cannot strictly exceed
    overrides = {POOR: AccountOverride(balance=1_000)}
    with pytest.raises(InsufficientFunds):
        sim.estimate_gas(
            CallRequest(sender=POOR, to=RECIPIENT, value=1_000, max_fee_per_gas=fee_cap), overrides
        )


def test_estimate_gas_capped_by_what_fee_payer_can_afford(chain: Chain, token: bytes) -> None:
    sim = chain.simulator()
    fee_cap = 2 * sim.base_fee
    data = encode_call(BALANCE_OF, RECIPIENT)
    affordable = {POOR: AccountOverride(balance=21_500 * fee_cap)}
    request = CallRequest(sender=POOR, to=token, data=data, max_fee_per_gas=fee_cap)
    with pytest.raises(GasRequiredExceedsAllowance, match=r"\(21500\)"):
        sim.estimate_gas(request, affordable)
    rich = {POOR: AccountOverride(balance=10**18)}
    assert sim.estimate_gas(request, rich) == sim.estimate_gas(
        CallRequest(sender=POOR, to=token, data=data)
    )


def test_estimate_plain_transfer_payer_cannot_afford_21000(chain: Chain) -> None:
    sim = chain.simulator()
    fee_cap = 2 * sim.base_fee
    overrides = {POOR: AccountOverride(balance=20_000 * fee_cap)}
    request = CallRequest(sender=POOR, to=RECIPIENT, max_fee_per_gas=fee_cap)
    with pytest.raises(GasRequiredExceedsAllowance, match=r"\(20000\)"):
        sim.estimate_gas(request, overrides)
    overrides = {POOR: AccountOverride(balance=21_000 * fee_cap)}
    assert sim.estimate_gas(request, overrides) == 21_000


def test_estimate_respects_given_gas_as_upper_bound(
    chain: Chain, token: bytes, signers: list[Signer]
) -> None:
    request = CallRequest(
        sender=signers[0].address, to=token, data=encode_call(TRANSFER, RECIPIENT, 1), gas=30_000
    )
    with pytest.raises(GasRequiredExceedsAllowance, match=r"\(30000\)"):
        chain.simulator().estimate_gas(request)


# --- eth_createAccessList ----------------------------------------------------------------


def test_access_list_erc20_transfer(chain: Chain, token: bytes, signers: list[Signer]) -> None:
    sender = signers[0]
    data = encode_call(TRANSFER, RECIPIENT, 10**18)
    sim = chain.simulator()
    request = CallRequest(
        sender=sender.address,
        to=token,
        data=data,
        max_fee_per_gas=3 * 10**9,
        max_priority_fee_per_gas=10**8,
    )
    access_list, gas_with = sim.create_access_list(request)
    assert access_list == [(token, sorted([balance_slot(sender.address), balance_slot(RECIPIENT)]))]
    gas_without = sim.call(request).gas_used
    # EIP-2930 prices: the token is warm anyway (it is `to`) but must be listed to
    # list its slots, so 2400 for it and 1900 per slot buy 2000 per slot back.
    assert gas_with == gas_without + 2_400 - 2 * 100
    listed = tuple((address, tuple(slots)) for address, slots in access_list)
    assert sim.call(replace(request, access_list=listed)).gas_used == gas_with
    [receipt] = chain.mine(
        sender.tx(
            to=token,
            data=data,
            value=0,
            gas=100_000,
            accessList=[
                {"address": "0x" + token.hex(), "storageKeys": [f"0x{s:064x}" for s in slots]}
                for _, slots in access_list
            ],
        )
    )
    assert receipt.status == 1 and receipt.gas_used == gas_with


def test_access_list_of_indirect_access_saves_gas(
    chain: Chain, token: bytes, signers: list[Signer]
) -> None:
    sender = signers[1]
    proxy = chain.deploy(sender, initcode(forwarder(token)))
    request = CallRequest(
        sender=sender.address, to=proxy, data=encode_call(BALANCE_OF, signers[0].address)
    )
    sim = chain.simulator()
    access_list, gas_with = sim.create_access_list(request)
    assert access_list == [(token, [balance_slot(signers[0].address)])]
    gas_without = sim.call(request).gas_used
    assert gas_with <= gas_without
    assert gas_with == gas_without - 100 - 100  # account 2500 - 2400, slot 2000 - 1900


def test_access_list_excludes_sender_recipient_and_precompiles(
    chain: Chain, signers: list[Signer]
) -> None:
    sender = signers[0].address
    code = asm(
        sender,
        "BALANCE",
        "POP",
        CODE_AT,
        "BALANCE",
        "POP",
        0,
        0,
        0,
        0,
        4,
        "GAS",
        "STATICCALL",
        "POP",
        RECIPIENT,
        "BALANCE",
        "POP",
        3,
        "SLOAD",
        "STOP",
    )
    access_list, _ = chain.simulator().create_access_list(
        CallRequest(sender=sender, to=CODE_AT), code_override(code)
    )
    assert access_list == [(RECIPIENT, []), (CODE_AT, [3])]


def test_access_list_records_reverted_accesses_and_keeps_seed(chain: Chain) -> None:
    code = asm(9, "SLOAD", RECIPIENT, "BALANCE", 0, 0, "REVERT")
    seed = ((b"\x55" * 20, (1, 2)),)
    access_list, gas = chain.simulator().create_access_list(
        CallRequest(to=CODE_AT, access_list=seed), code_override(code)
    )
    assert access_list == [(RECIPIENT, []), (b"\x55" * 20, [1, 2]), (CODE_AT, [9])]
    assert gas > 21_000


def test_access_list_for_contract_creation_excludes_new_address(
    chain: Chain, signers: list[Signer]
) -> None:
    sender = signers[0].address
    init = asm(5, 1, "SSTORE", "STOP")  # storage[1] = 5 in the new contract
    access_list, gas = chain.simulator().create_access_list(CallRequest(sender=sender, data=init))
    created = generate_contract_address(Address(sender), 0)
    # the new contract is excluded as an address, but its slot is listed with it
    assert access_list == [(created, [1])]
    assert gas > 53_000
