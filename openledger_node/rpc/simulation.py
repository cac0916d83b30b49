"""`eth_call`, `eth_estimateGas`, `eth_createAccessList` and `eth_getProof`.

Parsing of the transaction object and the state override set lives here; the
execution is `openledger_node.execution.simulate` and `.proof`.
"""

from __future__ import annotations

from typing import Any

from openledger_node.execution.block import execution_header
from openledger_node.execution.proof import get_proof
from openledger_node.execution.simulate import AccountOverride, CallRequest, Simulator, deadline
from openledger_node.rpc import params as p
from openledger_node.rpc.backend import Backend
from openledger_node.rpc.errors import InvalidParams
from openledger_node.rpc.format import d, q
from openledger_node.rpc.params import BlockId, ParamError
from openledger_node.rpc.registry import Param, rpc

PENDING = BlockId(tag="pending")
MAX_PROOF_KEYS = 1024

_CALL_FIELDS = {
    "from", "to", "gas", "gasPrice", "maxFeePerGas", "maxPriorityFeePerGas", "value", "data", "input",
    "nonce", "accessList", "type", "chainId", "maxFeePerBlobGas", "blobVersionedHashes",
}


def _access_list(value: Any) -> tuple[tuple[bytes, tuple[int, ...]], ...]:
    entries = []
    for entry in p.list_of(p.obj)(value):
        keys = p.list_of(p.storage_slot)(entry.get("storageKeys") or [])
        entries.append((bytes(p.address(entry.get("address"))), tuple(keys)))
    return tuple(entries)


def call_request(value: Any) -> CallRequest:
    spec = p.obj(value)
    unknown = set(spec) - _CALL_FIELDS
    if unknown:
        raise ParamError(f"unknown field {sorted(unknown)[0]!r} in transaction object")
    data = p.optional(p.data)(spec.get("data"))
    input_ = p.optional(p.data)(spec.get("input"))
    if data is not None and input_ is not None and data != input_:
        raise ParamError('both "data" and "input" are set and not equal. Please use "input" to pass transaction call data')
    if spec.get("gasPrice") is not None and (
        spec.get("maxFeePerGas") is not None or spec.get("maxPriorityFeePerGas") is not None
    ):
        raise ParamError("both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified")
    if spec.get("blobVersionedHashes"):
        raise ParamError("blob transactions are not supported on this chain")
    return CallRequest(
        sender=p.optional(p.address)(spec.get("from")),
        to=p.optional(p.address)(spec.get("to")),
        gas=p.optional(p.quantity)(spec.get("gas")),
        gas_price=p.optional(p.quantity)(spec.get("gasPrice")),
        max_fee_per_gas=p.optional(p.quantity)(spec.get("maxFeePerGas")),
        max_priority_fee_per_gas=p.optional(p.quantity)(spec.get("maxPriorityFeePerGas")),
        value=p.optional(p.quantity)(spec.get("value")) or 0,
        data=input_ if input_ is not None else (data or b""),
        nonce=p.optional(p.quantity)(spec.get("nonce")),
        access_list=_access_list(spec["accessList"]) if spec.get("accessList") is not None else (),
    )


def _slots(value: Any) -> dict[int, int]:
    return {p.storage_slot(k): p.storage_slot(v) for k, v in p.obj(value).items()}


def state_overrides(value: Any) -> dict[bytes, AccountOverride]:
    out: dict[bytes, AccountOverride] = {}
    for raw_address, raw in p.obj(value).items():
        spec = p.obj(raw)
        unknown = set(spec) - {"balance", "nonce", "code", "state", "stateDiff"}
        if unknown:
            raise ParamError(f"unknown field {sorted(unknown)[0]!r} in state override")
        try:
            out[bytes(p.address(raw_address))] = AccountOverride(
                balance=p.optional(p.quantity)(spec.get("balance")),
                nonce=p.optional(p.quantity)(spec.get("nonce")),
                code=p.optional(p.data)(spec.get("code")),
                state=_slots(spec["state"]) if spec.get("state") is not None else None,
                state_diff=_slots(spec["stateDiff"]) if spec.get("stateDiff") is not None else None,
            )
        except ValueError as exc:
            raise ParamError(str(exc)) from None
    return out


class SimulationApi:
    """Every simulation runs under a deadline (`rpc.evm_timeout`, geth's 5 s), in
    the server's execution pool, so an endless loop costs at most that."""

    def __init__(self, backend: Backend, gas_cap: int, timeout: float | None = 5.0) -> None:
        self.b = backend
        self.gas_cap = gas_cap
        self.timeout = timeout

    def _simulator(self, block: BlockId) -> Simulator:
        chain = self.b.chain
        if block.tag == "pending":
            # The block the node would build next: the head's state with the next
            # block's environment (as geth's and anvil's pending block).
            env = self.b.pending_env()
            return Simulator(chain.state_db, self.b.chain_id, execution_header(env), env.prev_hashes)
        header = self.b.header_or_error(block)
        return Simulator(chain.state_db, self.b.chain_id, header, self.b.ancestors(header))

    @rpc(
        "eth_call",
        Param("transaction", call_request),
        Param("block", p.block_id, PENDING),
        Param("stateOverrides", state_overrides, None),
        Param("blockOverrides", p.any_value, None),
        blocking="evm",
    )
    def call(self, request: CallRequest, block: BlockId, overrides: dict[bytes, AccountOverride] | None,
             block_overrides: Any) -> str:
        if block_overrides:
            raise InvalidParams("invalid argument 3: block overrides are not supported")
        with deadline(self.timeout):
            result = self._simulator(block).call(request, overrides, self.gas_cap)
        return d(result.output_or_raise())

    @rpc(
        "eth_estimateGas",
        Param("transaction", call_request),
        Param("block", p.block_id, PENDING),
        Param("stateOverrides", state_overrides, None),
        blocking="evm",
    )
    def estimate_gas(self, request: CallRequest, block: BlockId,
                     overrides: dict[bytes, AccountOverride] | None) -> str:
        with deadline(self.timeout):
            return q(self._simulator(block).estimate_gas(request, overrides, self.gas_cap))

    @rpc(
        "eth_createAccessList",
        Param("transaction", call_request),
        Param("block", p.block_id, PENDING),
        Param("stateOverrides", state_overrides, None),
        blocking="evm",
    )
    def create_access_list(self, request: CallRequest, block: BlockId,
                           overrides: dict[bytes, AccountOverride] | None) -> dict[str, Any]:
        with deadline(self.timeout):
            access_list, gas_used = self._simulator(block).create_access_list(request, overrides, self.gas_cap)
        return {
            "accessList": [
                {"address": d(address), "storageKeys": [d(slot.to_bytes(32, "big")) for slot in slots]}
                for address, slots in access_list
            ],
            "gasUsed": q(gas_used),
        }

    @rpc(
        "eth_getProof",
        Param("address", p.address),
        Param("storageKeys", p.list_of(p.any_value, MAX_PROOF_KEYS)),
        Param("block", p.block_id),
        blocking=True,
    )
    def get_proof(self, address: bytes, raw_keys: list[Any], block: BlockId) -> dict[str, Any]:
        keys: list[tuple[str, int]] = []
        for i, raw in enumerate(raw_keys):
            try:
                keys.append((p.string(raw), p.storage_slot(raw)))
            except ParamError as exc:
                raise InvalidParams(f"invalid argument 1: storage key {i}: {exc}") from None
        header = self.b.header_or_error(block)
        proof = get_proof(self.b.chain.state_db, bytes(header.state_root), address, [k for _, k in keys])
        return {
            "address": d(address),
            "balance": q(proof.balance),
            "nonce": q(proof.nonce),
            "codeHash": d(proof.code_hash),
            "storageHash": d(proof.storage_hash),
            "accountProof": [d(node) for node in proof.account_proof],
            "storageProof": [
                # geth echoes each key as the caller wrote it
                {"key": raw, "value": q(sp.value), "proof": [d(node) for node in sp.proof]}
                for (raw, _), sp in zip(keys, proof.storage_proofs)
            ],
        }
