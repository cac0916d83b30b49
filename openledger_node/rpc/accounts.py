"""Dev accounts: `eth_accounts`, the node-side signing methods and anvil's
impersonation, so that `cast send --unlocked`, ethers' `provider.getSigner()`
and viem's JSON-RPC accounts work against a dev node.

A dev node holds the keys of the funded dev accounts (the public test mnemonic);
every other network holds none: `eth_accounts` is empty there and the signing
methods are refused as dev-only. `eth_sendTransaction` fills in what the caller
left out as geth's `TransactionArgs.setDefaults` does (nonce from the pool's
pending view, gas by estimation on the pending block, fees from the fee oracle:
maxFeePerGas = 2 * base fee + tip), then signs with the sender's key, or, for
an impersonated sender, builds an impersonated transaction
(openledger_node/execution/impersonation.py) that only a dev pool accepts.
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any

from eth_account import Account
from eth_account.messages import SignableMessage, encode_defunct, encode_typed_data
from eth_keys.datatypes import PrivateKey
from eth_utils.address import to_checksum_address

from openledger_node.execution.block import execution_header
from openledger_node.execution.impersonation import build_impersonated
from openledger_node.execution.simulate import CallRequest, Simulator, deadline
from openledger_node.rpc import params as p
from openledger_node.rpc.backend import Backend, DevPool
from openledger_node.rpc.errors import InvalidParams, Unavailable, UnknownAccount
from openledger_node.rpc.format import d
from openledger_node.rpc.params import ParamError
from openledger_node.rpc.registry import Param, rpc
from openledger_node.rpc.simulation import call_request

if TYPE_CHECKING:
    from openledger_node.rpc.eth import EthApi

LEGACY, ACCESS_LIST, DYNAMIC_FEE = 0, 1, 2


class AccountsApi:
    def __init__(self, backend: Backend, eth: EthApi, gas_cap: int, timeout: float | None) -> None:
        self.b = backend
        self.eth = eth
        self.gas_cap = gas_cap
        self.timeout = timeout
        self._keys: dict[bytes, PrivateKey] = {}
        for key in backend.accounts.keys:
            private = PrivateKey(bytes(key))
            self._keys[bytes(private.public_key.to_canonical_address())] = private
        self._impersonated: set[bytes] = set()
        self._auto_impersonate = False
        self._lock = threading.Lock()

    # --- accounts --------------------------------------------------------------------

    @rpc("eth_accounts")
    def accounts(self) -> list[str]:
        """The dev accounts, then the impersonated ones (as anvil lists them)."""
        with self._lock:
            extra = sorted(a for a in self._impersonated if a not in self._keys)
        return [d(a) for a in self._keys] + [d(a) for a in extra]

    def _key(self, address: bytes) -> PrivateKey:
        key = self._keys.get(bytes(address))
        if key is None:
            raise UnknownAccount()
        return key

    def _impersonating(self, address: bytes) -> bool:
        with self._lock:
            return self._auto_impersonate or bytes(address) in self._impersonated

    # --- impersonation ---------------------------------------------------------------

    def _dev_pool(self) -> DevPool:
        refused = self.b.accounts.impersonation_refused
        if refused is not None or self.b.dev_pool is None:
            raise Unavailable(f"impersonated transactions are refused on this node: {refused or 'it has no pool'}")
        return self.b.dev_pool

    @rpc("anvil_impersonateAccount", Param("address", p.address), dev_only=True)
    def impersonate(self, address: bytes) -> None:
        self._dev_pool()
        with self._lock:
            self._impersonated.add(bytes(address))

    @rpc("anvil_stopImpersonatingAccount", Param("address", p.address), dev_only=True)
    def stop_impersonating(self, address: bytes) -> None:
        self._dev_pool()
        with self._lock:
            self._impersonated.discard(bytes(address))

    @rpc("anvil_autoImpersonateAccount", Param("enabled", p.boolean), dev_only=True)
    def auto_impersonate(self, enabled: bool) -> None:
        self._dev_pool()
        with self._lock:
            self._auto_impersonate = enabled

    # Hardhat's names, answered as anvil answers them.
    @rpc("hardhat_impersonateAccount", Param("address", p.address), dev_only=True)
    def hardhat_impersonate(self, address: bytes) -> None:
        self.impersonate(address)

    @rpc("hardhat_stopImpersonatingAccount", Param("address", p.address), dev_only=True)
    def hardhat_stop_impersonating(self, address: bytes) -> None:
        self.stop_impersonating(address)

    # --- transactions ----------------------------------------------------------------

    @rpc("eth_sendTransaction", Param("transaction", p.obj), dev_only=True, blocking="tx")
    def send_transaction(self, spec: dict[str, Any]) -> str:
        request = _request(spec)
        sender = request.sender
        if sender is None:
            raise UnknownAccount()
        key = self._keys.get(bytes(sender))
        if key is None and not self._impersonating(sender):
            raise UnknownAccount()
        fields = self._fill(spec, request)
        if key is not None:
            raw = _sign_transaction(fields, key, self.b.chain_id)
            return d(self.b.submit(lambda: self.b.pool.add_raw(raw)))
        pool = self._dev_pool()
        tx = build_impersonated(fields, sender, self.b.chain_id)
        return d(self.b.submit(lambda: pool.add_impersonated(tx)))

    @rpc("eth_signTransaction", Param("transaction", p.obj), dev_only=True, blocking="tx")
    def sign_transaction(self, spec: dict[str, Any]) -> str:
        request = _request(spec)
        if request.sender is None:
            raise UnknownAccount()
        key = self._key(request.sender)
        return d(_sign_transaction(self._fill(spec, request), key, self.b.chain_id))

    def _fill(self, spec: dict[str, Any], request: CallRequest) -> dict[str, Any]:
        """geth's setDefaults: the transaction type from the fee fields given (or
        `type`), fees, nonce, then gas by estimation with everything else set."""
        chain_id = spec.get("chainId")
        if chain_id is not None:
            have = _quantity(chain_id, "chainId")
            if have != self.b.chain_id:
                raise InvalidParams(f"chainId does not match node's (have={have}, want={self.b.chain_id})")
        type_id = _tx_type(spec, request)
        fields: dict[str, Any] = {
            "type": type_id,
            "to": bytes(request.to) if request.to is not None else b"",
            "value": request.value,
            "data": request.data,
            "access_list": request.access_list,
        }
        if type_id == DYNAMIC_FEE:
            tip = request.max_priority_fee_per_gas
            if tip is None:
                tip = self.eth.suggested_tip()
            fee_cap = request.max_fee_per_gas
            if fee_cap is None:
                fee_cap = 2 * self.b.next_base_fee() + tip
            if fee_cap < tip:
                raise InvalidParams(f"maxFeePerGas ({fee_cap}) < maxPriorityFeePerGas ({tip})")
            fields["max_fee_per_gas"], fields["max_priority_fee_per_gas"] = fee_cap, tip
        else:
            price = request.gas_price
            if price is None:
                price = self.eth.suggested_tip() + self.b.next_base_fee()
            fields["gas_price"] = price
        nonce = request.nonce
        if nonce is None:
            assert request.sender is not None
            nonce = self.b.pool.pending_nonce(request.sender)
        fields["nonce"] = nonce
        gas = request.gas
        if gas is None:
            gas = self._estimate(request, fields)
        fields["gas"] = gas
        return fields

    def _estimate(self, request: CallRequest, fields: dict[str, Any]) -> int:
        filled = CallRequest(
            sender=request.sender, to=request.to, gas=None,
            gas_price=fields.get("gas_price"), max_fee_per_gas=fields.get("max_fee_per_gas"),
            max_priority_fee_per_gas=fields.get("max_priority_fee_per_gas"),
            value=request.value, data=request.data, nonce=fields["nonce"], access_list=request.access_list,
        )
        env = self.b.pending_env()
        simulator = Simulator(self.b.chain.state_db, self.b.chain_id, execution_header(env), env.prev_hashes)
        with deadline(self.timeout):
            return int(simulator.estimate_gas(filled, None, self.gas_cap))

    # --- messages --------------------------------------------------------------------

    @rpc("eth_sign", Param("address", p.address), Param("data", p.data), dev_only=True)
    def sign(self, address: bytes, data: bytes) -> str:
        """EIP-191 version 0x45: the personal-message prefix, then the data."""
        return _sign_message(encode_defunct(primitive=data), self._key(address))

    @rpc("personal_sign", Param("data", p.data), Param("address", p.address), dev_only=True)
    def personal_sign(self, data: bytes, address: bytes) -> str:
        return _sign_message(encode_defunct(primitive=data), self._key(address))

    @rpc("eth_signTypedData_v4", Param("address", p.address), Param("typedData", p.any_value), dev_only=True)
    def sign_typed_data(self, address: bytes, typed: Any) -> str:
        """EIP-712: the typed data as an object or as its JSON text (MetaMask's form)."""
        key = self._key(address)
        if isinstance(typed, str):
            try:
                typed = json.loads(typed)
            except ValueError as exc:
                raise InvalidParams(f"invalid argument 1: typed data is not JSON: {exc}") from None
        if not isinstance(typed, dict):
            raise InvalidParams("invalid argument 1: typed data must be an object")
        missing = [k for k in ("types", "primaryType", "domain", "message") if k not in typed]
        if missing:
            raise InvalidParams(f"invalid argument 1: typed data has no {missing[0]!r}")
        try:
            signable = encode_typed_data(full_message=typed)
        except Exception as exc:  # noqa: BLE001 - eth_account raises assorted errors on bad typed data
            raise InvalidParams(f"invalid argument 1: invalid typed data: {exc}") from None
        return _sign_message(signable, key)


def _request(spec: dict[str, Any]) -> CallRequest:
    try:
        return call_request(spec)
    except ParamError as exc:
        raise InvalidParams(f"invalid argument 0: {exc}") from None


def _quantity(value: Any, what: str) -> int:
    try:
        return p.quantity(value)
    except ParamError as exc:
        raise InvalidParams(f"invalid argument 0: {what}: {exc}") from None


def _tx_type(spec: dict[str, Any], request: CallRequest) -> int:
    """geth's choice: fee-market fields or none make a 1559 transaction, a gas
    price a legacy one (2930 with an access list); an explicit `type` wins."""
    raw_type = spec.get("type")
    has_1559 = request.max_fee_per_gas is not None or request.max_priority_fee_per_gas is not None
    if raw_type is not None:
        type_id = _quantity(raw_type, "type")
        if type_id not in (LEGACY, ACCESS_LIST, DYNAMIC_FEE):
            raise InvalidParams(f"invalid argument 0: transaction type {type_id} is not supported here")
        if type_id != DYNAMIC_FEE and has_1559:
            raise InvalidParams(f"invalid argument 0: a type {type_id} transaction has no maxFeePerGas")
        if type_id == DYNAMIC_FEE and request.gas_price is not None:
            raise InvalidParams("invalid argument 0: a type 2 transaction has no gasPrice")
        return type_id
    if request.gas_price is not None:
        return ACCESS_LIST if spec.get("accessList") is not None else LEGACY
    return DYNAMIC_FEE


def _sign_transaction(fields: dict[str, Any], key: PrivateKey, chain_id: int) -> bytes:
    tx: dict[str, Any] = {
        "chainId": chain_id,
        "nonce": fields["nonce"],
        "gas": fields["gas"],
        "value": fields["value"],
        "data": fields["data"],
    }
    if fields["to"]:
        tx["to"] = to_checksum_address(fields["to"])
    if fields["type"] == LEGACY:
        tx["gasPrice"] = fields["gas_price"]
    else:
        tx["type"] = fields["type"]
        tx["accessList"] = [
            {
                "address": to_checksum_address(bytes(address)),
                "storageKeys": ["0x" + slot.to_bytes(32, "big").hex() for slot in slots],
            }
            for address, slots in fields["access_list"]
        ]
        if fields["type"] == ACCESS_LIST:
            tx["gasPrice"] = fields["gas_price"]
        else:
            tx["maxFeePerGas"] = fields["max_fee_per_gas"]
            tx["maxPriorityFeePerGas"] = fields["max_priority_fee_per_gas"]
    return bytes(Account.sign_transaction(tx, key.to_bytes()).raw_transaction)


def _sign_message(message: SignableMessage, key: PrivateKey) -> str:
    return d(bytes(Account.sign_message(message, key.to_bytes()).signature))
