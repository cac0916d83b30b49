"""The chain client of Payable AI: one object over the four AI-economy predeploys.

Every off-chain part talks to the chain through `Economy`: the contributor and
model-owner CLI (datanets, contributions, models, requests, earnings), the
inference service (settle, finalize, batches of transactions in flight) and the
verifier (settlement events, disputes, votes). It sits on web3.py and adds what
those callers need and web3 leaves to them:

- reverts decoded into the contract's custom error with its named arguments
  (`ContractRevert`: ``InvalidInferenceStatus(inferenceId=3, status=Settled)``),
  from the ABIs in ``contracts/artifacts``, whether the revert shows at gas
  estimation or in a mined receipt (then the call is replayed at its block);
- sends that wait for the receipt and raise on a failed one;
- one local nonce counter per key, so several transactions can be in flight at
  once (`Economy.send` with ``wait=False``, then `Economy.wait`); a nonce the node
  refuses resynchronises the counter from the node and the send is retried once;
- keys only from the environment or a keystore file (`load_account`), never from
  a command line.
"""

from __future__ import annotations

import functools
import json
import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import ContractLogicError, TimeExhausted, Web3RPCError
from web3.logs import DISCARD as _DISCARD

from attribution.errors import AttributionError
from contracts import ARTIFACTS_DIR, load_artifact
from openledger_node.primitives import (
    ATTRIBUTION_STAKING_ADDRESS,
    DATANET_REGISTRY_ADDRESS,
    MODEL_REGISTRY_ADDRESS,
    PAYABLE_AI_ADDRESS,
)

__all__ = [
    "AccountError",
    "ChainError",
    "ContractRevert",
    "Contribution",
    "Economy",
    "Inference",
    "Model",
    "Reward",
    "SentTransaction",
    "Settlement",
    "TransactionFailed",
    "decode_revert",
    "load_account",
]

CONTRACTS: dict[str, bytes] = {
    "DatanetRegistry": bytes(DATANET_REGISTRY_ADDRESS),
    "ModelRegistry": bytes(MODEL_REGISTRY_ADDRESS),
    "PayableAI": bytes(PAYABLE_AI_ADDRESS),
    "AttributionStaking": bytes(ATTRIBUTION_STAKING_ADDRESS),
}
"""Predeploy name -> address (the artifact of the same name holds its ABI)."""

POLICIES = {"open": 0, "curated": 1}
_ERROR_STRING = bytes.fromhex("08c379a0")  # Error(string)
_PANIC = bytes.fromhex("4e487b71")  # Panic(uint256)
_LOG_CHUNK = 10_000  # blocks per eth_getLogs request
# geth's answers (ours use the same wording) to a nonce another sender of the key already used.
_STALE_NONCE = ("nonce too low", "nonce too high", "already known", "replacement transaction underpriced")


# ------------------------------------------------------------------ errors


class ChainError(AttributionError):
    """A chain interaction that did not do what was asked (the message says why)."""


class ContractRevert(ChainError):
    """A call reverted; ``name`` is the contract's custom error and ``args`` its named arguments.

    ``name`` is ``"Error"`` for a revert string (``args["message"]``), ``"Panic"``
    for a Solidity panic (``args["code"]``) and ``"UnknownError"`` for data that
    matches no error of the predeploys' ABIs (``args["data"]``, hex).
    """

    def __init__(self, name: str, args: Mapping[str, Any], contract: str | None = None) -> None:
        self.name = name
        self.args_by_name = dict(args)
        self.contract = contract
        inner = ", ".join(f"{key}={_show(value)}" for key, value in self.args_by_name.items())
        where = f"{contract} reverted: " if contract else "reverted: "
        super().__init__(f"{where}{name}({inner})")

    @property
    def arguments(self) -> dict[str, Any]:
        return self.args_by_name


class TransactionFailed(ChainError):
    """A mined transaction with status 0 whose replay gave no revert reason."""


class AccountError(ChainError):
    """No signing key, or a key that cannot be loaded."""


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)


@functools.cache
def _enum_names() -> dict[str, tuple[str, ...]]:
    """``Contract.Enum`` -> member names, read from the Solidity sources when they are present."""
    names: dict[str, tuple[str, ...]] = {}
    src = ARTIFACTS_DIR.parent / "src"
    for path in sorted(src.rglob("*.sol")) if src.is_dir() else ():
        text = re.sub(r"//[^\n]*|/\*.*?\*/", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
        contracts = list(re.finditer(r"^(?:abstract\s+)?(?:contract|interface|library)\s+(\w+)[^{]*\{", text, re.MULTILINE))
        for n, contract in enumerate(contracts):
            body_end = contracts[n + 1].start() if n + 1 < len(contracts) else len(text)
            for enum in re.finditer(r"\benum\s+(\w+)\s*\{([^}]*)\}", text[contract.end():body_end]):
                members = tuple(m.strip() for m in enum.group(2).split(",") if m.strip())
                names.setdefault(f"{contract.group(1)}.{enum.group(1)}", members)
    return names


def _named(value: Any, internal_type: str) -> Any:
    """An enum argument by its member name, when the source names it."""
    if internal_type.startswith("enum ") and isinstance(value, int):
        members = _enum_names().get(internal_type[5:])
        if members is not None and value < len(members):
            return members[value]
    return value


def _arg(value: Any, param: Mapping[str, Any]) -> Any:
    if param.get("type") == "address":
        return to_checksum_address(value)
    return _named(value, str(param.get("internalType", "")))


@functools.cache
def _error_table() -> dict[bytes, tuple[tuple[str, str, tuple[dict[str, Any], ...]], ...]]:
    """4-byte selector -> every (contract, error name, inputs) declaring it in the predeploys' ABIs
    (one error can be declared by several contracts, with different argument names)."""
    table: dict[bytes, tuple[tuple[str, str, tuple[dict[str, Any], ...]], ...]] = {}
    for contract in CONTRACTS:
        for entry in load_artifact(contract).abi:
            if entry.get("type") != "error":
                continue
            signature = f"{entry['name']}({','.join(_canonical_type(i) for i in entry['inputs'])})"
            selector = keccak(signature.encode())[:4]
            table[selector] = (*table.get(selector, ()), (contract, entry["name"], tuple(entry["inputs"])))
    return table


def _canonical_type(param: Mapping[str, Any]) -> str:
    kind = str(param["type"])
    if kind.startswith("tuple"):
        return "(" + ",".join(_canonical_type(c) for c in param["components"]) + ")" + kind[5:]
    return kind


def decode_revert(data: bytes | str | None, contract: str | None = None) -> ContractRevert:
    """The `ContractRevert` for raw revert data (bytes or 0x-hex)."""
    if isinstance(data, str):
        data = bytes.fromhex(data.removeprefix("0x"))
    data = bytes(data or b"")
    selector, body = data[:4], data[4:]
    try:
        if selector == _ERROR_STRING:
            return ContractRevert("Error", {"message": abi_decode(["string"], body)[0]}, contract)
        if selector == _PANIC:
            return ContractRevert("Panic", {"code": hex(abi_decode(["uint256"], body)[0])}, contract)
        known = _error_table().get(selector)
        if known is not None:
            # The called contract's declaration first (its argument names); without
            # one, a contract is named only when it is the only one declaring the error.
            owner, name, inputs = next((k for k in known if k[0] == contract), known[0])
            values = abi_decode([_canonical_type(i) for i in inputs], body)
            args = {i["name"] or f"arg{n}": _arg(v, i) for n, (i, v) in enumerate(zip(inputs, values))}
            return ContractRevert(name, args, contract or (owner if len(known) == 1 else None))
    except (DecodingError, ValueError, OverflowError):
        pass  # a body that does not match its selector: reported raw below
    if not data:
        return ContractRevert("UnknownError", {"data": "0x"}, contract)
    return ContractRevert("UnknownError", {"data": "0x" + data.hex()}, contract)


def _revert_from(exc: Exception, contract: str | None) -> ContractRevert:
    data = getattr(exc, "data", None)
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, (str, bytes)) and data not in ("", "0x", b""):
        return decode_revert(data, contract)
    message = str(getattr(exc, "message", None) or exc)
    return ContractRevert("Error", {"message": message}, contract)


# ------------------------------------------------------------------ keys


def load_account(
    key_env: str = "OPENLEDGER_PRIVATE_KEY",
    keystore: str | os.PathLike[str] | None = None,
    password_env: str = "OPENLEDGER_KEYSTORE_PASSWORD",
) -> LocalAccount:
    """The signing account: a keystore file (password from ``password_env``) when
    ``keystore`` is given, else the hex private key in ``key_env``."""
    if keystore is not None:
        path = Path(keystore)
        try:
            encrypted = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise AccountError(f"no keystore file at {path}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise AccountError(f"keystore {path} is not a JSON keystore: {exc}") from None
        password = os.environ.get(password_env)
        if password is None:
            raise AccountError(f"keystore {path} needs its password in the environment variable {password_env}")
        try:
            key = bytes(Account.decrypt(encrypted, password))
        except ValueError as exc:
            raise AccountError(f"cannot decrypt keystore {path}: {exc}") from None
        except (KeyError, TypeError) as exc:
            raise AccountError(f"keystore {path} lacks the field {exc}") from None
        account: LocalAccount = Account.from_key(key)
        return account
    text = os.environ.get(key_env, "").strip()
    if not text:
        raise AccountError(
            f"no signing key: set {key_env} to a hex private key, or pass a keystore file "
            f"(its password in {password_env})"
        )
    try:
        account = Account.from_key(text)
        return account
    except (ValueError, TypeError) as exc:
        raise AccountError(f"{key_env} is not a 32-byte hex private key ({type(exc).__name__})") from None


# ------------------------------------------------------------------ records


@dataclass(frozen=True)
class Contribution:
    contribution_id: int
    datanet_id: int
    contributor: str
    content_hash: bytes
    metadata_uri: str
    status: str  # None | Pending | Accepted | Rejected


@dataclass(frozen=True)
class Model:
    model_id: int
    owner: str
    weights_hash: bytes
    metadata_uri: str
    datanet_ids: tuple[int, ...]
    fee: int
    owner_share_bps: int


@dataclass(frozen=True)
class Inference:
    inference_id: int
    requester: str
    deadline: int
    status: str  # None | Requested | Settled | Finalized | Refunded
    dispute_state: str  # None | Open | Upheld | Overturned
    model_id: int
    fee: int
    protocol_share_bps: int
    owner_share_bps: int
    dispute_deadline: int
    provider: str
    query_hash: bytes
    attribution_hash: bytes


@dataclass(frozen=True)
class Settlement:
    """One ``InferenceSettled`` event."""

    inference_id: int
    model_id: int
    provider: str
    query_hash: bytes
    attribution_hash: bytes
    dispute_deadline: int
    contribution_ids: tuple[int, ...]
    weights: tuple[int, ...]
    block_number: int
    transaction_hash: bytes


@dataclass(frozen=True)
class Reward:
    """One ``ContributionRewarded`` event."""

    inference_id: int
    contribution_id: int
    contributor: str
    amount: int
    block_number: int
    transaction_hash: bytes


@dataclass(frozen=True)
class SentTransaction:
    """A signed transaction the node accepted; `Economy.wait` returns its receipt."""

    tx_hash: bytes
    nonce: int
    contract: str
    function: str
    tx: Mapping[str, Any]


# ------------------------------------------------------------------ client


class Economy:
    """Client of DatanetRegistry, ModelRegistry, PayableAI and AttributionStaking.

    Reads need no account; every send needs one (`load_account`). Sends estimate
    gas first, so a call that would revert raises `ContractRevert` before any
    nonce is spent; ``wait=True`` (the default) returns the receipt and raises on
    a failed one.
    """

    def __init__(
        self,
        rpc_url: str,
        account: LocalAccount | None = None,
        *,
        timeout: float = 120.0,
        poll_interval: float = 0.1,
        w3: Web3 | None = None,
    ) -> None:
        self.rpc_url = rpc_url
        self.w3 = w3 or Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
        self.account = account
        self.timeout = timeout
        self.poll_interval = poll_interval
        self._nonce_lock = threading.Lock()
        self._next_nonce: int | None = None
        self._chain_id: int | None = None
        self.contracts = {
            name: self.w3.eth.contract(address=to_checksum_address(address), abi=list(load_artifact(name).abi))
            for name, address in CONTRACTS.items()
        }
        self.datanets = self.contracts["DatanetRegistry"]
        self.models = self.contracts["ModelRegistry"]
        self.payable = self.contracts["PayableAI"]
        self.staking = self.contracts["AttributionStaking"]

    @property
    def address(self) -> str:
        if self.account is None:
            raise AccountError("this command sends a transaction and needs a signing key")
        return str(self.account.address)

    # -------------------------------------------------------------- sending

    def _function(self, contract: str, function: str, args: Sequence[Any]) -> Any:
        try:
            return getattr(self.contracts[contract].functions, function)(*args)
        except AttributeError:
            raise ChainError(f"{contract} has no function {function} in its ABI (contracts/artifacts)") from None

    def call(self, contract: str, function: str, *args: Any, block: int | str = "latest") -> Any:
        """A view call; a revert raises `ContractRevert`."""
        fn = self._function(contract, function, args)
        try:
            return fn.call(block_identifier=block)
        except ContractLogicError as exc:
            raise _revert_from(exc, contract) from None

    def send(self, contract: str, function: str, *args: Any, value: int = 0, wait: bool = True) -> Any:
        """Send ``contract.function(*args)``; the receipt, or a `SentTransaction` with ``wait=False``."""
        account = self.account
        if account is None:
            raise AccountError(f"{contract}.{function} sends a transaction and needs a signing key")
        fn = self._function(contract, function, args)
        sender = account.address
        try:
            gas = fn.estimate_gas({"from": sender, "value": value})
        except ContractLogicError as exc:
            raise _revert_from(exc, contract) from None
        except Web3RPCError as exc:
            raise ChainError(f"{contract}.{function}: {_rpc_message(exc)}") from None
        base = {"from": sender, "value": value, "gas": gas + gas // 5 + 10_000, "chainId": self._chain()}
        # Another process sending from the same key (a second service, a CLI
        # command) can take the nonce just read: resync and try again, a few times.
        attempts = 4
        for attempt in range(attempts):
            nonce = self._take_nonce()
            tx = fn.build_transaction({**base, "nonce": nonce})
            signed = account.sign_transaction(tx)
            try:
                tx_hash = bytes(self.w3.eth.send_raw_transaction(signed.raw_transaction))
            except (Web3RPCError, ValueError) as exc:
                message = _rpc_message(exc)
                self._release_nonce(nonce)
                if attempt < attempts - 1 and any(m in message.lower() for m in _STALE_NONCE):
                    self.resync_nonce()
                    continue
                raise ChainError(f"{contract}.{function}: the node refused the transaction: {message}") from None
            sent = SentTransaction(tx_hash, nonce, contract, function, tx)
            return self.wait(sent) if wait else sent
        raise AssertionError("unreachable")

    def wait(self, sent: SentTransaction) -> Any:
        """The receipt of ``sent``; a failed one raises its decoded revert."""
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(HexBytes(sent.tx_hash), timeout=self.timeout, poll_latency=self.poll_interval)
        except TimeExhausted:
            raise ChainError(
                f"{sent.contract}.{sent.function}: transaction 0x{sent.tx_hash.hex()} not mined within {self.timeout:g} s"
            ) from None
        if receipt["status"] != 1:
            raise self._replay_failure(sent, receipt)
        return receipt

    def _replay_failure(self, sent: SentTransaction, receipt: Mapping[str, Any]) -> ChainError:
        call: Any = {key: sent.tx[key] for key in ("from", "to", "data", "value", "gas") if key in sent.tx}
        block = receipt["blockNumber"]
        # After its block first: a transaction that lost a race to another one in
        # the same block (two settles of one inference) reverts there for the
        # reason it failed; then before the block, for one that failed alone.
        for at in (block, max(block - 1, 0)):
            try:
                self.w3.eth.call(call, block_identifier=at)
            except ContractLogicError as exc:
                return _revert_from(exc, sent.contract)
            except Web3RPCError:
                break
        return TransactionFailed(
            f"{sent.contract}.{sent.function}: transaction 0x{sent.tx_hash.hex()} failed in block {block} "
            f"(gas used {receipt['gasUsed']} of {sent.tx.get('gas')})"
        )

    def wait_all(self, sent: Iterable[SentTransaction]) -> list[Any]:
        """Receipts of several in-flight transactions, in order; the first failure raises."""
        return [self.wait(s) for s in sent]

    def _chain(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self.w3.eth.chain_id)
        return self._chain_id

    def _take_nonce(self) -> int:
        with self._nonce_lock:
            if self._next_nonce is None:
                self._next_nonce = int(self.w3.eth.get_transaction_count(to_checksum_address(self.address), "pending"))
            nonce = self._next_nonce
            self._next_nonce += 1
            return nonce

    def _release_nonce(self, nonce: int) -> None:
        """Give back a nonce whose transaction never reached the node. When later
        nonces were taken meanwhile, the counter is re-read from the node at the
        next send (its pending count stops at the gap, so the gap is filled)."""
        with self._nonce_lock:
            self._next_nonce = nonce if self._next_nonce == nonce + 1 else None

    def resync_nonce(self) -> int:
        """Reset the local nonce counter from the node's pending count."""
        with self._nonce_lock:
            self._next_nonce = int(self.w3.eth.get_transaction_count(to_checksum_address(self.address), "pending"))
            return self._next_nonce

    def _event(self, contract: str, event: str, receipt: Any) -> Any:
        logs = getattr(self.contracts[contract].events, event)().process_receipt(receipt, errors=_DISCARD)
        if not logs:
            raise ChainError(f"{contract}: the receipt of 0x{bytes(receipt['transactionHash']).hex()} has no {event} event")
        return logs[0]["args"]

    # -------------------------------------------------------------- datanets

    def create_datanet(self, metadata_uri: str, policy: str | int = "open") -> int:
        """Create a datanet owned by the sender; ``policy`` "open" (auto-accept) or "curated"."""
        code = POLICIES.get(policy) if isinstance(policy, str) else policy
        if code is None:
            raise ChainError(f"policy must be one of {', '.join(POLICIES)}, got {policy!r}")
        receipt = self.send("DatanetRegistry", "createDatanet", metadata_uri, code)
        return int(self._event("DatanetRegistry", "DatanetCreated", receipt)["datanetId"])

    def add_curator(self, datanet_id: int, curator: str) -> Any:
        return self.send("DatanetRegistry", "addCurator", datanet_id, to_checksum_address(curator))

    def contribute(self, datanet_id: int, content_hash: bytes, metadata_uri: str = "") -> int:
        receipt = self.send("DatanetRegistry", "contribute", datanet_id, bytes(content_hash), metadata_uri)
        return int(self._event("DatanetRegistry", "ContributionSubmitted", receipt)["contributionId"])

    def accept(self, contribution_id: int) -> Any:
        return self.send("DatanetRegistry", "acceptContribution", contribution_id)

    def reject(self, contribution_id: int) -> Any:
        return self.send("DatanetRegistry", "rejectContribution", contribution_id)

    def contribution(self, contribution_id: int) -> Contribution:
        datanet_id, contributor, content_hash, uri, status = self.call("DatanetRegistry", "contribution", contribution_id)
        return Contribution(contribution_id, int(datanet_id), str(contributor), bytes(content_hash), str(uri),
                            _enum_member("IDatanetRegistry.ContributionStatus", status))

    def contributions_of(self, datanet_id: int, *, accepted_only: bool = True) -> list[Contribution]:
        """Every contribution of a datanet (by ``ContributionSubmitted``), ascending by id,
        with its current status read from the registry."""
        if not self.call("DatanetRegistry", "datanetExists", datanet_id):
            raise ContractRevert("UnknownDatanet", {"datanetId": datanet_id}, "DatanetRegistry")
        ids = sorted({int(log["args"]["contributionId"])
                      for log in self._logs("DatanetRegistry", "ContributionSubmitted", {"datanetId": datanet_id})})
        out = [self.contribution(cid) for cid in ids]
        return [c for c in out if c.status == "Accepted"] if accepted_only else out

    # -------------------------------------------------------------- models

    def register_model(
        self,
        weights_hash: bytes,
        datanet_ids: Sequence[int],
        fee: int,
        owner_share_bps: int,
        metadata_uri: str = "",
    ) -> int:
        receipt = self.send("ModelRegistry", "registerModel", bytes(weights_hash), metadata_uri,
                            sorted(int(d) for d in datanet_ids), fee, owner_share_bps)
        return int(self._event("ModelRegistry", "ModelRegistered", receipt)["modelId"])

    def model(self, model_id: int) -> Model:
        owner, weights_hash, uri, datanets, fee, share = self.call("ModelRegistry", "model", model_id)
        return Model(model_id, str(owner), bytes(weights_hash), str(uri), tuple(int(d) for d in datanets), int(fee), int(share))

    # -------------------------------------------------------------- inferences

    def request_inference(self, model_id: int, input_hash: bytes, fee: int | None = None) -> int:
        """Pay for an inference; ``fee`` defaults to the model's current fee."""
        if fee is None:
            owner, fee, _ = self.call("ModelRegistry", "modelTerms", model_id)
            if int(owner, 16) == 0:
                raise ContractRevert("UnknownModel", {"modelId": model_id}, "ModelRegistry")
        receipt = self.send("PayableAI", "requestInference", model_id, bytes(input_hash), value=int(fee))
        return int(self._event("PayableAI", "InferenceRequested", receipt)["inferenceId"])

    def inference(self, inference_id: int) -> Inference:
        raw = self.call("PayableAI", "inference", inference_id)
        fields = raw if isinstance(raw, (tuple, list)) else tuple(raw.values())
        (requester, deadline, status, dispute_state, model_id, fee, protocol_bps, owner_bps,
         dispute_deadline, provider, query_hash, attribution_hash) = fields
        return Inference(inference_id, str(requester), int(deadline), _enum_member("PayableAI.Status", status),
                         _enum_member("PayableAI.DisputeState", dispute_state), int(model_id), int(fee), int(protocol_bps),
                         int(owner_bps), int(dispute_deadline), str(provider), bytes(query_hash), bytes(attribution_hash))

    def settle(self, inference_id: int, query_hash: bytes, contribution_ids: Sequence[int], weights: Sequence[int],
               *, wait: bool = True) -> Any:
        """``PayableAI.settle``: the contract computes and stores the attribution hash.

        With ``wait=False`` returns the `SentTransaction` (several settles in flight
        from one key); `Economy.wait` then gives the receipt."""
        return self.send("PayableAI", "settle", inference_id, bytes(query_hash), [int(c) for c in contribution_ids],
                         [int(w) for w in weights], wait=wait)

    def finalize(self, inference_id: int, contribution_ids: Sequence[int], weights: Sequence[int], *, wait: bool = True) -> Any:
        return self.send("PayableAI", "finalize", inference_id, [int(c) for c in contribution_ids],
                         [int(w) for w in weights], wait=wait)

    def refund(self, inference_id: int) -> Any:
        return self.send("PayableAI", "refund", inference_id)

    def claimable(self, address: str | None = None) -> int:
        return int(self.call("PayableAI", "claimable", to_checksum_address(address or self.address)))

    def claim(self) -> int:
        """Withdraw the sender's whole claimable balance from PayableAI; returns the amount."""
        receipt = self.send("PayableAI", "claim")
        return int(self._event("PayableAI", "Claimed", receipt)["amount"])

    # -------------------------------------------------------------- staking and disputes

    def stake(self, amount: int) -> int:
        """Add ``amount`` wei to the sender's provider stake; returns the active stake afterwards."""
        receipt = self.send("AttributionStaking", "stake", value=int(amount))
        return int(self._event("AttributionStaking", "Staked", receipt)["stake"])

    def request_unstake(self, amount: int) -> Any:
        return self.send("AttributionStaking", "requestUnstake", int(amount))

    def withdraw_stake(self) -> Any:
        return self.send("AttributionStaking", "withdraw")

    def provider_info(self, address: str | None = None) -> dict[str, int]:
        raw = self.call("AttributionStaking", "providerInfo", to_checksum_address(address or self.address))
        fields = raw if isinstance(raw, (tuple, list)) else tuple(raw.values())
        stake, unbonding, release_at, open_disputes = fields[:4]
        return {"stake": int(stake), "unbonding": int(unbonding), "unbondingReleaseAt": int(release_at),
                "openDisputes": int(open_disputes)}

    def is_active_provider(self, address: str | None = None) -> bool:
        return bool(self.call("AttributionStaking", "isActiveProvider", to_checksum_address(address or self.address)))

    def dispute(self, inference_id: int, claimed_attribution_hash: bytes, bond: int | None = None) -> int:
        """Dispute a settlement with the bond (default: the current ``disputeBond``); returns the dispute id."""
        if bond is None:
            bond = int(self.call("AttributionStaking", "disputeBond"))
        receipt = self.send("AttributionStaking", "dispute", inference_id, bytes(claimed_attribution_hash), value=bond)
        return int(self._event("AttributionStaking", "DisputeOpened", receipt)["disputeId"])

    def vote(self, dispute_id: int, attribution_hash: bytes) -> Any:
        """Vote ``attribution_hash`` in an open dispute, weighted by the sender's active stake."""
        return self.send("AttributionStaking", "vote", dispute_id, bytes(attribution_hash))

    def resolve(self, dispute_id: int, query_hash: bytes = b"\x00" * 32, contribution_ids: Sequence[int] = (),
                weights: Sequence[int] = ()) -> Any:
        """Resolve a dispute whose vote ended (the split travels with an overturn, ignored otherwise)."""
        return self.send("AttributionStaking", "resolve", dispute_id, bytes(query_hash),
                         [int(c) for c in contribution_ids], [int(w) for w in weights])

    def release_vote(self, dispute_id: int, voter: str | None = None) -> Any:
        """Release a voter's stake locked by a resolved dispute's vote (default: the sender's)."""
        return self.send("AttributionStaking", "releaseVote", dispute_id, to_checksum_address(voter or self.address))

    def dispute_info(self, dispute_id: int) -> dict[str, Any]:
        raw = self.call("AttributionStaking", "disputeInfo", dispute_id)
        entry: Any = next(e for e in self.staking.abi if e.get("name") == "disputeInfo")
        outputs = entry["outputs"][0]["components"]
        fields = raw if isinstance(raw, (tuple, list)) else tuple(raw.values())
        return {c["name"]: _named(_plain(v), c.get("internalType", "")) for c, v in zip(outputs, fields)}

    def staking_claimable(self, address: str | None = None) -> int:
        return int(self.call("AttributionStaking", "claimable", to_checksum_address(address or self.address)))

    def staking_claim(self) -> int:
        receipt = self.send("AttributionStaking", "claim")
        return int(self._event("AttributionStaking", "Claimed", receipt)["amount"])

    # -------------------------------------------------------------- events

    def block_number(self) -> int:
        return int(self.w3.eth.block_number)

    def _logs(self, contract: str, event: str, filters: Mapping[str, Any] | None = None,
              from_block: int = 0, to_block: int | str = "latest") -> Iterator[Any]:
        last = self.block_number() if to_block == "latest" else int(to_block)
        ev = getattr(self.contracts[contract].events, event)()
        start = from_block
        while start <= last:
            end = min(start + _LOG_CHUNK - 1, last)
            yield from ev.get_logs(from_block=start, to_block=end, argument_filters=dict(filters or {}))
            start = end + 1

    def settled_events(self, from_block: int = 0, to_block: int | str = "latest", model_id: int | None = None) -> list[Settlement]:
        """``InferenceSettled`` events in the block range, in chain order."""
        filters = {"modelId": model_id} if model_id is not None else None
        return [
            Settlement(int(a["inferenceId"]), int(a["modelId"]), str(a["provider"]), bytes(a["queryHash"]),
                       bytes(a["attributionHash"]), int(a["disputeDeadline"]), tuple(int(c) for c in a["contributionIds"]),
                       tuple(int(w) for w in a["weights"]), int(log["blockNumber"]), bytes(log["transactionHash"]))
            for log in self._logs("PayableAI", "InferenceSettled", filters, from_block, to_block)
            for a in (log["args"],)
        ]

    def rewards_of(self, contributor: str | None = None, from_block: int = 0, to_block: int | str = "latest",
                   contribution_id: int | None = None) -> list[Reward]:
        """``ContributionRewarded`` events of a contributor (default: the sender), in chain order."""
        filters: dict[str, Any] = {}
        if contributor is not None or contribution_id is None:
            filters["contributor"] = to_checksum_address(contributor or self.address)
        if contribution_id is not None:
            filters["contributionId"] = contribution_id
        return [
            Reward(int(a["inferenceId"]), int(a["contributionId"]), str(a["contributor"]), int(a["amount"]),
                   int(log["blockNumber"]), bytes(log["transactionHash"]))
            for log in self._logs("PayableAI", "ContributionRewarded", filters, from_block, to_block)
            for a in (log["args"],)
        ]

    def events(self, contract: str, event: str, filters: Mapping[str, Any] | None = None,
               from_block: int = 0, to_block: int | str = "latest") -> list[dict[str, Any]]:
        """Any event of the predeploys as plain dicts (args plus blockNumber and transactionHash)."""
        if not hasattr(self.contracts[contract].events, event):
            raise ChainError(f"{contract} has no event {event} in its ABI")
        return [
            {**{k: _plain(v) for k, v in log["args"].items()}, "blockNumber": int(log["blockNumber"]),
             "transactionHash": bytes(log["transactionHash"])}
            for log in self._logs(contract, event, filters, from_block, to_block)
        ]


def _plain(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _enum_member(enum: str, value: int) -> str:
    members = _enum_names().get(enum)
    return members[value] if members is not None and value < len(members) else str(value)


def _rpc_message(exc: Exception) -> str:
    message = getattr(exc, "message", None)
    if message:
        return str(message)
    if exc.args and isinstance(exc.args[0], dict):
        return str(exc.args[0].get("message", exc.args[0]))
    return str(exc)

