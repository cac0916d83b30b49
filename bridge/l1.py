"""A thin typed client of an L1 Ethereum JSON-RPC endpoint.

Every component that reads or writes L1 (the transaction manager, the
deployment, the L1 traversal and deposit watcher next) goes through `L1Client`:
it speaks JSON-RPC over web3.py's `HTTPProvider` (with a timeout and without
web3.py's own retries: the loops retry by severity), answers with frozen
dataclasses of domain types, and turns failures into the node's errors
(`bridge.errors`): an endpoint that does not answer is a `TemporaryError`
naming the endpoint and the call, an endpoint of another chain a
`CriticalError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import requests
from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from web3 import HTTPProvider
from web3.types import RPCEndpoint

from bridge.errors import (
    L1AlreadyKnown,
    L1ChainIdMismatch,
    L1NonceTooLow,
    L1RateLimited,
    L1ReplacementUnderpriced,
    L1RpcError,
    L1Unavailable,
    L1Underpriced,
    TxRejected,
)
from openledger_node.exceptions import ExecutionReverted
from openledger_node.primitives import Address, BlockNumber, Hash32, Wei

BlockTag = Literal["latest", "pending", "safe", "finalized", "earliest"]
BlockId = int | BlockTag

RATE_LIMITED_CODE = -32005  # EIP-1474 "limit exceeded"
REVERTED_CODE = 3  # geth: execution reverted, with the revert data
ERROR_STRING_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)


@dataclass(frozen=True)
class L1Block:
    number: BlockNumber
    hash: Hash32
    parent_hash: Hash32
    timestamp: int
    base_fee: Wei | None  # None before London
    state_root: Hash32 | None = None  # None when the endpoint's answer has none


@dataclass(frozen=True)
class Log:
    address: Address
    topics: tuple[Hash32, ...]
    data: bytes
    block_number: BlockNumber
    block_hash: Hash32
    transaction_hash: Hash32
    transaction_index: int
    log_index: int  # among all the logs of the block
    removed: bool = False


@dataclass(frozen=True)
class Receipt:
    transaction_hash: Hash32
    transaction_index: int
    block_number: BlockNumber
    block_hash: Hash32
    sender: Address
    to: Address | None  # None for a contract creation
    contract_address: Address | None
    status: int  # 1 success, 0 reverted
    gas_used: int
    cumulative_gas_used: int
    effective_gas_price: Wei
    logs: tuple[Log, ...]

    @property
    def succeeded(self) -> bool:
        return self.status == 1


@dataclass(frozen=True)
class StorageProof:
    slot: int
    value: int
    proof: tuple[bytes, ...]  # trie nodes, root first (eth_getProof's storageProof[i].proof)


@dataclass(frozen=True)
class AccountProof:
    """eth_getProof's answer: an account in a block's state and some of its slots."""

    address: Address
    balance: Wei
    nonce: int
    code_hash: Hash32
    storage_hash: Hash32  # the account's storage root
    account_proof: tuple[bytes, ...]
    storage_proofs: tuple[StorageProof, ...]  # in the order the slots were asked for


@dataclass(frozen=True)
class FeeHistory:
    oldest_block: BlockNumber
    base_fees: tuple[Wei, ...]  # one per block, then the next block's
    gas_used_ratios: tuple[float, ...]  # one per block
    rewards: tuple[tuple[Wei, ...], ...]  # per block, one per requested percentile

    @property
    def next_base_fee(self) -> Wei:
        return self.base_fees[-1]


class L1Client:
    """Typed calls to one L1 endpoint. `chain_id`, when given, is the chain the
    endpoint must serve: `chain_id()` raises `L1ChainIdMismatch` otherwise.
    Safe to share between threads (web3.py keeps one HTTP session per thread)."""

    def __init__(self, url: str, *, timeout: float = 10.0, chain_id: int | None = None) -> None:
        self.endpoint = url
        self.timeout = timeout
        self.expected_chain_id = chain_id
        self._provider = HTTPProvider(url, request_kwargs={"timeout": timeout}, exception_retry_configuration=None)

    def __repr__(self) -> str:
        return f"L1Client({self.endpoint!r})"

    # --- transport --------------------------------------------------------------

    def request(self, method: str, params: Sequence[Any] = ()) -> Any:
        """The result of one JSON-RPC call, or the typed error of its failure."""
        try:
            response = self._provider.make_request(RPCEndpoint(method), list(params))
        except requests.Timeout:
            raise L1Unavailable(self.endpoint, method, f"no answer within {self.timeout}s") from None
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if status == 429:
                raise L1RateLimited(self.endpoint, method, "HTTP 429 Too Many Requests") from None
            raise L1Unavailable(self.endpoint, method, f"HTTP {status}") from None
        except requests.ConnectionError as exc:
            raise L1Unavailable(self.endpoint, method, f"connection failed ({_root_cause(exc)})") from None
        except requests.RequestException as exc:
            raise L1Unavailable(self.endpoint, method, str(exc)) from None
        except ValueError as exc:  # the body is not JSON
            raise L1Unavailable(self.endpoint, method, f"malformed answer: {exc}") from None
        if not isinstance(response, dict):
            raise L1Unavailable(self.endpoint, method, f"malformed answer: {response!r:.200}")
        error = response.get("error")
        if error is not None:
            raise self._error(method, error)
        if "result" not in response:
            raise L1Unavailable(self.endpoint, method, f"answer without result: {response!r:.200}")
        return response["result"]

    def _error(self, method: str, error: Any) -> Exception:
        if not isinstance(error, dict):
            return L1Unavailable(self.endpoint, method, f"malformed error: {error!r:.200}")
        code = int(error.get("code", 0))
        message = str(error.get("message", ""))
        lowered = message.lower()
        if code == RATE_LIMITED_CODE or "rate limit" in lowered:
            return L1RateLimited(self.endpoint, method, f"error {code}: {message}")
        if method in ("eth_call", "eth_estimateGas") and (
            code == REVERTED_CODE or lowered.startswith("execution reverted")
        ):
            raw_data = error.get("data")
            data = _hex_bytes(raw_data) if isinstance(raw_data, str) else b""
            return ExecutionReverted(data, _revert_reason(data))
        if method == "eth_sendRawTransaction":
            return _rejection(self.endpoint, method, code, message)
        return L1RpcError(self.endpoint, method, code, message)

    # --- calls --------------------------------------------------------------------

    def chain_id(self) -> int:
        chain_id = _int(self.request("eth_chainId"))
        if self.expected_chain_id is not None and chain_id != self.expected_chain_id:
            raise L1ChainIdMismatch(self.endpoint, self.expected_chain_id, chain_id)
        return chain_id

    def block_number(self) -> BlockNumber:
        return BlockNumber(_int(self.request("eth_blockNumber")))

    def block(self, at: BlockId = "latest") -> L1Block | None:
        """The header fields of the block at a number or tag; None if there is none."""
        raw = self.request("eth_getBlockByNumber", [_block_id(at), False])
        if raw is None:
            return None
        base_fee = raw.get("baseFeePerGas")
        state_root = raw.get("stateRoot")
        return L1Block(
            number=BlockNumber(_int(raw["number"])),
            hash=Hash32(_hex_bytes(raw["hash"])),
            parent_hash=Hash32(_hex_bytes(raw["parentHash"])),
            timestamp=_int(raw["timestamp"]),
            base_fee=None if base_fee is None else Wei(_int(base_fee)),
            state_root=None if state_root is None else Hash32(_hex_bytes(state_root)),
        )

    def logs(
        self,
        *,
        from_block: BlockId | None = None,
        to_block: BlockId | None = None,
        block_hash: Hash32 | None = None,
        address: Address | Sequence[Address] | None = None,
        topics: Sequence[Hash32 | Sequence[Hash32] | None] = (),
    ) -> list[Log]:
        """eth_getLogs over a block range or one block (by hash); `topics` as in the
        filter: a position is one topic, any of several, or None for any."""
        query: dict[str, Any] = {}
        if block_hash is not None:
            query["blockHash"] = _hex(block_hash)
        if from_block is not None:
            query["fromBlock"] = _block_id(from_block)
        if to_block is not None:
            query["toBlock"] = _block_id(to_block)
        if isinstance(address, bytes):
            query["address"] = _hex(address)
        elif address is not None:
            query["address"] = [_hex(a) for a in address]
        if topics:
            query["topics"] = [
                None if t is None else _hex(t) if isinstance(t, bytes) else [_hex(x) for x in t] for t in topics
            ]
        return [_log(raw) for raw in self.request("eth_getLogs", [query])]

    def transaction_count(self, address: Address, block: BlockId = "pending") -> int:
        return _int(self.request("eth_getTransactionCount", [_hex(address), _block_id(block)]))

    def balance(self, address: Address, block: BlockId = "latest") -> Wei:
        return Wei(_int(self.request("eth_getBalance", [_hex(address), _block_id(block)])))

    def get_proof(self, address: Address, slots: Sequence[int], block: BlockId = "latest") -> AccountProof:
        """eth_getProof: the account's Merkle-Patricia proof and its `slots`' storage
        proofs in the state of `block`."""
        keys = ["0x" + slot.to_bytes(32, "big").hex() for slot in slots]
        raw = self.request("eth_getProof", [_hex(address), keys, _block_id(block)])
        storage = raw.get("storageProof") or []
        if len(storage) != len(slots):
            raise L1Unavailable(self.endpoint, "eth_getProof", f"{len(storage)} storage proofs for {len(slots)} keys")
        return AccountProof(
            address=Address(_hex_bytes(raw["address"])),
            balance=Wei(_int(raw["balance"])),
            nonce=_int(raw["nonce"]),
            code_hash=Hash32(_hex_bytes(raw["codeHash"])),
            storage_hash=Hash32(_hex_bytes(raw["storageHash"])),
            account_proof=tuple(_hex_bytes(node) for node in raw["accountProof"]),
            storage_proofs=tuple(
                StorageProof(slot, _int(item["value"]), tuple(_hex_bytes(node) for node in item["proof"]))
                for slot, item in zip(slots, storage, strict=True)
            ),
        )

    def fee_history(
        self, block_count: int, newest: BlockId = "latest", percentiles: Sequence[float] = ()
    ) -> FeeHistory:
        raw = self.request("eth_feeHistory", [hex(block_count), _block_id(newest), list(percentiles)])
        return FeeHistory(
            oldest_block=BlockNumber(_int(raw["oldestBlock"])),
            base_fees=tuple(Wei(_int(v)) for v in raw["baseFeePerGas"]),
            gas_used_ratios=tuple(float(v) for v in raw["gasUsedRatio"]),
            rewards=tuple(tuple(Wei(_int(v)) for v in row) for row in raw.get("reward") or ()),
        )

    def send_raw_transaction(self, raw: bytes) -> Hash32:
        return Hash32(_hex_bytes(self.request("eth_sendRawTransaction", [_hex(raw)])))

    def receipt(self, tx_hash: Hash32) -> Receipt | None:
        raw = self.request("eth_getTransactionReceipt", [_hex(tx_hash)])
        if raw is None or raw.get("blockHash") is None:
            return None
        return Receipt(
            transaction_hash=Hash32(_hex_bytes(raw["transactionHash"])),
            transaction_index=_int(raw["transactionIndex"]),
            block_number=BlockNumber(_int(raw["blockNumber"])),
            block_hash=Hash32(_hex_bytes(raw["blockHash"])),
            sender=Address(_hex_bytes(raw["from"])),
            to=_address_or_none(raw.get("to")),
            contract_address=_address_or_none(raw.get("contractAddress")),
            status=_int(raw["status"]),
            gas_used=_int(raw["gasUsed"]),
            cumulative_gas_used=_int(raw["cumulativeGasUsed"]),
            effective_gas_price=Wei(_int(raw.get("effectiveGasPrice", "0x0"))),
            logs=tuple(_log(log) for log in raw["logs"]),
        )

    def call(
        self, to: Address, data: bytes, *, sender: Address | None = None, value: int = 0, block: BlockId = "latest"
    ) -> bytes:
        """eth_call; a revert raises `ExecutionReverted` with the revert data."""
        return _hex_bytes(self.request("eth_call", [_call_object(to, data, sender, value), _block_id(block)]))

    def estimate_gas(self, to: Address | None, data: bytes, *, sender: Address, value: int = 0) -> int:
        """eth_estimateGas (`to` None estimates a contract creation); a revert raises
        `ExecutionReverted`."""
        return _int(self.request("eth_estimateGas", [_call_object(to, data, sender, value)]))


# --- JSON-RPC values -----------------------------------------------------------------


def _rejection(endpoint: str, method: str, code: int, message: str) -> TxRejected:
    lowered = message.lower()
    if "nonce too low" in lowered:
        return L1NonceTooLow(endpoint, method, code, message)
    if "replacement transaction underpriced" in lowered:
        return L1ReplacementUnderpriced(endpoint, method, code, message)
    if any(known in lowered for known in ("already known", "known transaction", "already imported")):
        return L1AlreadyKnown(endpoint, method, code, message)
    if "underpriced" in lowered or "less than block base fee" in lowered:
        return L1Underpriced(endpoint, method, code, message)
    return TxRejected(endpoint, method, code, message)


def _revert_reason(data: bytes) -> str | None:
    if data[:4] != ERROR_STRING_SELECTOR:
        return None
    try:
        (reason,) = abi_decode(["string"], data[4:])
    except (DecodingError, ValueError, OverflowError):  # malformed revert data carries no reason
        return None
    return str(reason)


def _root_cause(exc: BaseException) -> str:
    while exc.__context__ is not None and exc.__context__ is not exc:
        exc = exc.__context__
    return type(exc).__name__ if not str(exc) else f"{type(exc).__name__}: {str(exc)[:200]}"


def _call_object(to: Address | None, data: bytes, sender: Address | None, value: int) -> dict[str, str]:
    call = {"data": _hex(data)}
    if to is not None:
        call["to"] = _hex(to)
    if sender is not None:
        call["from"] = _hex(sender)
    if value:
        call["value"] = hex(value)
    return call


def _log(raw: dict[str, Any]) -> Log:
    return Log(
        address=Address(_hex_bytes(raw["address"])),
        topics=tuple(Hash32(_hex_bytes(t)) for t in raw["topics"]),
        data=_hex_bytes(raw["data"]),
        block_number=BlockNumber(_int(raw["blockNumber"])),
        block_hash=Hash32(_hex_bytes(raw["blockHash"])),
        transaction_hash=Hash32(_hex_bytes(raw["transactionHash"])),
        transaction_index=_int(raw["transactionIndex"]),
        log_index=_int(raw["logIndex"]),
        removed=bool(raw.get("removed", False)),
    )


def _block_id(at: BlockId) -> str:
    return hex(at) if isinstance(at, int) else at


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _hex_bytes(value: str) -> bytes:
    return bytes.fromhex(value[2:] if value.startswith(("0x", "0X")) else value)


def _int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


def _address_or_none(value: str | None) -> Address | None:
    return None if value is None else Address(_hex_bytes(value))
