"""The verifier: recompute every settlement of one model and dispute the wrong ones.

Sits beside the inference service, on anyone's machine. It follows PayableAI's
``InferenceSettled`` and ``SettlementOverturned`` events from a block cursor kept
in its state directory, fetches each settlement's query record by ``queryHash``
from the content endpoints, checks the record against the request on chain
(``keccak256(input) == inputHash``, the model id) and recomputes output and split
with `attribution.payable.models.attribute_query`, the function the service
settles with. A settlement whose attribution hash differs from the recomputed
one is disputed with the bond. With ``--vote`` (a staked provider) it also votes
its recomputed hash in every open dispute of the model and resolves the disputes
whose vote has ended, supplying its recomputed record hash and split.

Reorgs: every pass re-reads the last `REORG_DEPTH` blocks before the cursor, and
an event is identified by (transaction hash, log index) and handled at most once,
so a re-read changes nothing and an event that moves to another block is handled
where it lands. The chain is the source of truth for what was already done: an
inference is disputed only while its dispute state is None, a vote is cast only
while the verifier has not voted, a resolve only while the dispute is open.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from eth_hash.auto import keccak

from attribution.errors import AttributionError
from attribution.payable.chain import ContractRevert, Economy, load_account
from attribution.payable.content import ContentError, ContentNotFound, fetch_content
from attribution.payable.models import (
    Attribution,
    ServedModel,
    attribute_query,
    load_served_model,
)
from attribution.payable.record import QueryRecord, RecordError
from attribution.split import NoPositiveAttribution

REORG_DEPTH = 8
"""Blocks re-read before the cursor on every pass."""

MAX_BLOCK_RANGE = 1_000
"""Blocks per log query (the node's eth_getLogs range limit is larger)."""

STATE_FILE = "verifier.json"
STATE_VERSION = 1



class VerifierError(AttributionError):
    """A verifier that cannot run: a state directory of another chain or model, a bad endpoint."""


# ------------------------------------------------------------------ chain data


@dataclass(frozen=True)
class SettlementEvent:
    """An ``InferenceSettled`` or ``SettlementOverturned`` log, where it was seen."""

    kind: str  # "settled" | "overturned"
    inference_id: int
    query_hash: bytes
    attribution_hash: bytes
    contribution_ids: tuple[int, ...]
    weights: tuple[int, ...]
    block_number: int
    tx_hash: bytes
    log_index: int
    model_id: int | None = None  # InferenceSettled only
    provider: str | None = None  # InferenceSettled only

    @property
    def key(self) -> str:
        return f"0x{self.tx_hash.hex()}:{self.log_index}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "inferenceId": self.inference_id, "queryHash": self.query_hash.hex(),
                "attributionHash": self.attribution_hash.hex(), "contributionIds": list(self.contribution_ids),
                "weights": list(self.weights), "block": self.block_number, "tx": self.tx_hash.hex(),
                "logIndex": self.log_index, "modelId": self.model_id, "provider": self.provider}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> SettlementEvent:
        return cls(raw["kind"], int(raw["inferenceId"]), bytes.fromhex(raw["queryHash"]),
                   bytes.fromhex(raw["attributionHash"]), tuple(raw["contributionIds"]), tuple(raw["weights"]),
                   int(raw["block"]), bytes.fromhex(raw["tx"]), int(raw["logIndex"]), raw["modelId"],
                   raw["provider"])


@dataclass(frozen=True)
class InferenceView:
    """The fields of ``PayableAI.inference(id)`` the verifier reads."""

    model_id: int
    input_hash: bytes
    status: str  # PayableAI.Status member name
    dispute_state: str  # PayableAI.DisputeState member name
    dispute_deadline: int
    query_hash: bytes
    attribution_hash: bytes


@dataclass(frozen=True)
class DisputeView:
    """An open or ended stake-weighted dispute of ``AttributionStaking``."""

    dispute_id: int
    inference_id: int
    open: bool
    voting_ends_at: int
    """Votes are accepted while the block timestamp is below this; resolve from then on."""
    voted: bool  # whether this verifier's account has voted (a disputing provider's vote is cast for it)


class VerifierChain(Protocol):
    """What the verifier needs from the chain; `EconomyChain` is the real one."""

    def block_number(self) -> int: ...

    def timestamp(self) -> int: ...

    def settlement_events(self, from_block: int, to_block: int) -> list[SettlementEvent]: ...

    def disputes_opened(self, from_block: int, to_block: int) -> list[tuple[int, int]]:
        """(dispute id, inference id) of ``DisputeOpened`` logs in the range."""
        ...

    def inference(self, inference_id: int) -> InferenceView: ...

    def dispute_view(self, dispute_id: int) -> DisputeView: ...

    def dispute(self, inference_id: int, claimed_hash: bytes) -> int:
        """Post the bond and open a dispute; returns the dispute id."""
        ...

    def is_active_provider(self) -> bool:
        """Whether the verifier's own account may vote."""
        ...

    def vote(self, dispute_id: int, attribution_hash: bytes) -> None: ...

    def resolve(self, dispute_id: int, query_hash: bytes, ids: Sequence[int], weights: Sequence[int]) -> bool:
        """Decide an ended dispute; whether the settlement was overturned."""
        ...


Fetcher = Callable[[bytes], bytes | None]
"""queryHash -> the record bytes whose keccak256 is queryHash, or None when no endpoint has them."""


# ------------------------------------------------------------------ state


@dataclass
class VerifierState:
    """What survives a restart: the cursor and what was already handled."""

    chain_id: int
    model_id: int
    next_block: int = 0
    first_block: int = 0
    """No block below this is read (``--from-block`` of a new state directory)."""
    handled: dict[str, int] = field(default_factory=dict)
    """Event key -> block number of the events checked (pruned below the re-read window)."""
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Event key -> the settlement (`SettlementEvent.to_json`) whose record was not fetchable yet."""
    disputes: dict[str, int] = field(default_factory=dict)
    """Dispute id (decimal) -> inference id of the disputes not yet seen resolved."""

    @classmethod
    def load(cls, directory: Path, chain_id: int, model_id: int) -> VerifierState:
        path = directory / STATE_FILE
        try:
            raw = json.loads(path.read_bytes())
        except FileNotFoundError:
            return cls(chain_id, model_id)
        except (OSError, json.JSONDecodeError) as exc:
            raise VerifierError(f"{path}: unreadable verifier state: {exc}") from exc
        if not isinstance(raw, dict) or raw.get("version") != STATE_VERSION:
            raise VerifierError(f"{path}: not a version {STATE_VERSION} verifier state")
        if raw.get("chainId") != chain_id or raw.get("modelId") != model_id:
            raise VerifierError(
                f"{path} belongs to chain {raw.get('chainId')} model {raw.get('modelId')}, "
                f"not chain {chain_id} model {model_id}: use another --state directory"
            )
        return cls(chain_id, model_id, int(raw["nextBlock"]), int(raw.get("firstBlock", 0)),
                   dict(raw.get("handled", {})), dict(raw.get("pending", {})), dict(raw.get("disputes", {})))

    def save(self, directory: Path) -> None:
        """Write atomically and durably (temporary file, fsync, rename, fsync the directory)."""
        directory.mkdir(parents=True, exist_ok=True)
        data = json.dumps({
            "version": STATE_VERSION, "chainId": self.chain_id, "modelId": self.model_id,
            "nextBlock": self.next_block, "firstBlock": self.first_block, "handled": self.handled,
            "pending": self.pending, "disputes": self.disputes,
        }, sort_keys=True).encode()
        tmp = directory / (STATE_FILE + ".tmp")
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, directory / STATE_FILE)
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ------------------------------------------------------------------ checking


@dataclass(frozen=True)
class Check:
    """The outcome of one checked settlement or one dispute action: one output line."""

    inference_id: int
    verdict: str
    """"agrees", "disputed", "differs" (wrong, but no longer disputable), "unverifiable",
    "pending" (record not fetchable yet), "voted", "resolved", "unresolved" (resolve refused)."""
    detail: str = ""
    event: str = ""  # "settled" | "overturned" | "dispute"
    block: int | None = None
    settled_hash: bytes | None = None
    recomputed_hash: bytes | None = None
    dispute_id: int | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"inferenceId": self.inference_id, "event": self.event, "verdict": self.verdict}
        if self.block is not None:
            out["block"] = self.block
        if self.settled_hash is not None:
            out["settledAttributionHash"] = "0x" + self.settled_hash.hex()
        if self.recomputed_hash is not None:
            out["recomputedAttributionHash"] = "0x" + self.recomputed_hash.hex()
        if self.dispute_id is not None:
            out["disputeId"] = self.dispute_id
        if self.detail:
            out["detail"] = self.detail
        return out

    def as_text(self) -> str:
        line = f"inference {self.inference_id} {self.event}: {self.verdict}"
        if self.dispute_id is not None:
            line += f" (dispute {self.dispute_id})"
        return f"{line}: {self.detail}" if self.detail else line


@dataclass(frozen=True)
class Recomputation:
    """The verifier's own result for an inference, or why there is none (``retry``: maybe later)."""

    attribution: Attribution | None
    problem: str = ""
    retry: bool = False


class Verifier:
    """One model's verifier; `run_once` is one pass over new blocks and open disputes."""

    def __init__(self, chain: VerifierChain, served: ServedModel, model_id: int, fetch: Fetcher,
                 state: VerifierState, *, vote: bool = False) -> None:
        self.chain = chain
        self.served = served
        self.model_id = model_id
        self.fetch = fetch
        self.state = state
        self.vote = vote
        self._recomputed: dict[bytes, Recomputation] = {}

    # -- recomputation

    def recompute(self, inference_id: int, query_hash: bytes, request: InferenceView) -> Recomputation:
        """Fetch the record of ``query_hash`` and recompute the inference it answers."""
        cached = self._recomputed.get(query_hash)
        if cached is not None:
            return cached
        try:
            blob = self.fetch(query_hash)
        except ContentError as exc:
            return Recomputation(None, f"record not fetched: {exc}", retry=True)
        if blob is None:
            return Recomputation(None, f"record 0x{query_hash.hex()} not found at any content endpoint", retry=True)
        result = self._recompute_record(inference_id, blob, request)
        self._recomputed[query_hash] = result
        return result

    def _recompute_record(self, inference_id: int, blob: bytes, request: InferenceView) -> Recomputation:
        try:
            record = QueryRecord.decode(blob)
        except RecordError as exc:
            return Recomputation(None, f"record is malformed: {exc}")
        if keccak(record.input) != request.input_hash:
            return Recomputation(None, f"record input hashes to 0x{keccak(record.input).hex()}, "
                                       f"inference {inference_id} requested 0x{request.input_hash.hex()}")
        try:
            # The output is recomputed, not taken from the record: a wrong output is a wrong settlement.
            attribution = attribute_query(self.served, self.model_id, record.input)
        except NoPositiveAttribution as exc:
            return Recomputation(None, f"nothing to settle: {exc}")
        except (AttributionError, ValueError) as exc:
            return Recomputation(None, f"input refused by the model: {exc}")
        notes = []
        if record.model_id != self.model_id:
            notes.append(f"record names model {record.model_id}")
        if record.index_version != self.served.index_version:
            notes.append(f"record index version 0x{record.index_version.hex()} is not ours "
                         f"0x{self.served.index_version.hex()}")
        if record.output != attribution.record.output:
            notes.append(f"record output 0x{record.output.hex()}, recomputed 0x{attribution.record.output.hex()}")
        return Recomputation(attribution, "; ".join(notes))

    # -- settlements

    def check_settlement(self, event: SettlementEvent) -> Check:
        request = self.chain.inference(event.inference_id)
        base: dict[str, Any] = {"inference_id": event.inference_id, "event": event.kind,
                                "block": event.block_number, "settled_hash": event.attribution_hash}
        result = self.recompute(event.inference_id, event.query_hash, request)
        if result.attribution is None:
            return Check(verdict="pending" if result.retry else "unverifiable", detail=result.problem, **base)
        ours = result.attribution
        if ours.attribution_hash == event.attribution_hash:
            return Check(verdict="agrees", recomputed_hash=ours.attribution_hash, **base)
        detail = result.problem or "split differs"
        if event.kind == "overturned":
            return Check(verdict="differs", detail=f"{detail} (an overturned split is final)",
                         recomputed_hash=ours.attribution_hash, **base)
        if request.status != "Settled" or request.dispute_state != "None":
            return Check(verdict="differs", detail=f"{detail} (already disputed or finalized)",
                         recomputed_hash=ours.attribution_hash, **base)
        if self.chain.timestamp() > request.dispute_deadline:
            return Check(verdict="differs", detail=f"{detail} (dispute window closed at {request.dispute_deadline})",
                         recomputed_hash=ours.attribution_hash, **base)
        dispute_id = self.chain.dispute(event.inference_id, ours.attribution_hash)
        self.state.disputes[str(dispute_id)] = event.inference_id
        return Check(verdict="disputed", detail=detail, recomputed_hash=ours.attribution_hash,
                     dispute_id=dispute_id, **base)

    # -- disputes

    def handle_dispute(self, dispute_id: int, inference_id: int) -> Check | None:
        """Vote in an open dispute of the model, resolve it once its vote has ended."""
        view = self.chain.dispute_view(dispute_id)
        if not view.open:
            self.state.disputes.pop(str(dispute_id), None)
            return None
        if not self.vote:
            return None
        request = self.chain.inference(inference_id)
        if request.model_id != self.model_id:
            self.state.disputes.pop(str(dispute_id), None)
            return None
        result = self.recompute(inference_id, request.query_hash, request)
        ours = result.attribution
        if ours is None:
            if not result.retry:
                self.state.disputes.pop(str(dispute_id), None)
            return Check(inference_id, "pending" if result.retry else "unverifiable", result.problem,
                         event="dispute", dispute_id=dispute_id)
        if self.chain.timestamp() < view.voting_ends_at:
            if view.voted or not self.chain.is_active_provider():
                return None
            self.chain.vote(dispute_id, ours.attribution_hash)
            return Check(inference_id, "voted", event="dispute", recomputed_hash=ours.attribution_hash,
                         dispute_id=dispute_id)
        try:
            overturned = self.chain.resolve(dispute_id, ours.query_hash, ours.ids, ours.weights)
        except ContractRevert as exc:
            # Another hash won and nobody proved it yet: from its correction deadline on,
            # the same call voids it; until then the dispute stays on the list.
            return Check(inference_id, "unresolved", str(exc), event="dispute", dispute_id=dispute_id)
        self.state.disputes.pop(str(dispute_id), None)
        return Check(inference_id, "resolved", "overturned" if overturned else "upheld", event="dispute",
                     recomputed_hash=ours.attribution_hash, dispute_id=dispute_id)

    # -- one pass

    def run_once(self) -> list[Check]:
        """Check the settlements of the blocks since the cursor, then act on open disputes.

        The caller saves the state after each pass; every action is guarded by the
        chain's own state (see the module docstring), so a crash between an action
        and the save repeats nothing harmful.
        """
        head = self.chain.block_number()
        start = max(self.state.first_block, self.state.next_block - REORG_DEPTH)
        checks: list[Check] = []
        fresh: set[str] = set()
        for lo in range(start, head + 1, MAX_BLOCK_RANGE):
            hi = min(head, lo + MAX_BLOCK_RANGE - 1)
            for dispute_id, inference_id in self.chain.disputes_opened(lo, hi):
                self.state.disputes.setdefault(str(dispute_id), inference_id)
            for event in self.chain.settlement_events(lo, hi):
                if event.key in self.state.handled or event.key in self.state.pending:
                    continue
                model_id = event.model_id
                if model_id is None:
                    model_id = self.chain.inference(event.inference_id).model_id
                if model_id != self.model_id:
                    self.state.handled[event.key] = event.block_number
                    continue
                check = self.check_settlement(event)
                checks.append(check)
                if check.verdict == "pending":
                    self.state.pending[event.key] = event.to_json()
                    fresh.add(event.key)
                else:
                    self.state.handled[event.key] = event.block_number
                    self.state.pending.pop(event.key, None)
        checks.extend(self._retry_pending(skip=fresh))
        for key, inference_id in sorted(self.state.disputes.items(), key=lambda item: int(item[0])):
            action = self.handle_dispute(int(key), inference_id)
            if action is not None:
                checks.append(action)
        self.state.next_block = max(self.state.next_block, head + 1)
        floor = self.state.next_block - REORG_DEPTH
        self.state.handled = {key: block for key, block in self.state.handled.items() if block >= floor}
        return checks

    def _retry_pending(self, skip: set[str]) -> Iterable[Check]:
        """Settlements whose record was not fetchable on an earlier pass: reported once
        when found, then retried quietly until the record comes or the window closes."""
        for key, raw in list(self.state.pending.items()):
            if key in skip:
                continue
            event = SettlementEvent.from_json(raw)
            check = self.check_settlement(event)
            if check.verdict != "pending":
                self.state.pending.pop(key, None)
                self.state.handled[key] = event.block_number
                yield check
                continue
            request = self.chain.inference(event.inference_id)
            if request.status != "Settled" or self.chain.timestamp() > request.dispute_deadline:
                self.state.pending.pop(key, None)
                yield Check(event.inference_id, "unverifiable", f"{check.detail} while it could be disputed",
                            event=event.kind, block=event.block_number, settled_hash=event.attribution_hash)


# ------------------------------------------------------------------ web3 adapter


class EconomyChain:
    """`VerifierChain` over `attribution.payable.chain.Economy`: its logs carry the
    log index an event is identified by; sends wait for their receipt and raise
    `ContractRevert` with the contract's custom error decoded."""

    def __init__(self, economy: Economy) -> None:
        self.economy = economy
        self._input_hashes: dict[int, bytes] = {}

    def chain_id(self) -> int:
        return int(self.economy.w3.eth.chain_id)

    def block_number(self) -> int:
        return self.economy.block_number()

    def timestamp(self) -> int:
        return int(self.economy.w3.eth.get_block("latest")["timestamp"])

    def settlement_events(self, from_block: int, to_block: int) -> list[SettlementEvent]:
        payable = self.economy.payable
        events: list[SettlementEvent] = []
        for log in payable.events.InferenceSettled().get_logs(from_block=from_block, to_block=to_block):
            a = log["args"]
            events.append(SettlementEvent("settled", int(a["inferenceId"]), bytes(a["queryHash"]),
                                          bytes(a["attributionHash"]), tuple(a["contributionIds"]),
                                          tuple(a["weights"]), int(log["blockNumber"]), bytes(log["transactionHash"]),
                                          int(log["logIndex"]), int(a["modelId"]), str(a["provider"])))
        for log in payable.events.SettlementOverturned().get_logs(from_block=from_block, to_block=to_block):
            a = log["args"]
            events.append(SettlementEvent("overturned", int(a["inferenceId"]), bytes(a["queryHash"]),
                                          bytes(a["attributionHash"]), tuple(a["contributionIds"]),
                                          tuple(a["weights"]), int(log["blockNumber"]), bytes(log["transactionHash"]),
                                          int(log["logIndex"])))
        events.sort(key=lambda e: (e.block_number, e.log_index))
        return events

    def disputes_opened(self, from_block: int, to_block: int) -> list[tuple[int, int]]:
        logs = self.economy.staking.events.DisputeOpened().get_logs(from_block=from_block, to_block=to_block)
        return [(int(log["args"]["disputeId"]), int(log["args"]["inferenceId"])) for log in logs]

    def inference(self, inference_id: int) -> InferenceView:
        inf = self.economy.inference(inference_id)
        return InferenceView(inf.model_id, self._input_hash(inference_id), inf.status, inf.dispute_state,
                             inf.dispute_deadline, inf.query_hash, inf.attribution_hash)

    def _input_hash(self, inference_id: int) -> bytes:
        # The request's inputHash is in its InferenceRequested event (indexed by id), not in storage.
        cached = self._input_hashes.get(inference_id)
        if cached is None:
            logs = self.economy.events("PayableAI", "InferenceRequested", {"inferenceId": inference_id})
            if not logs:
                raise VerifierError(f"inference {inference_id} has no InferenceRequested event")
            cached = self._input_hashes[inference_id] = bytes(logs[0]["inputHash"])
        return cached

    def dispute_view(self, dispute_id: int) -> DisputeView:
        info = self.economy.dispute_info(dispute_id)
        voted = False
        if self.economy.account is not None:
            ballot = self.economy.call("AttributionStaking", "ballot", dispute_id, self.economy.address)
            voted = bytes(ballot[0]) != bytes(32)
        return DisputeView(dispute_id, int(info["inferenceId"]), info["status"] == "Open",
                           int(info["votingEndsAt"]), voted)

    def dispute(self, inference_id: int, claimed_hash: bytes) -> int:
        return self.economy.dispute(inference_id, claimed_hash)

    def is_active_provider(self) -> bool:
        return self.economy.account is not None and self.economy.is_active_provider()

    def vote(self, dispute_id: int, attribution_hash: bytes) -> None:
        self.economy.vote(dispute_id, attribution_hash)

    def resolve(self, dispute_id: int, query_hash: bytes, ids: Sequence[int], weights: Sequence[int]) -> bool:
        receipt = self.economy.resolve(dispute_id, query_hash, ids, weights)
        return bool(self.economy._event("AttributionStaking", "DisputeResolved", receipt)["overturned"])


# ------------------------------------------------------------------ content


def content_fetcher(sources: Sequence[str]) -> Fetcher:
    """Fetch from the content sources in turn (`content.fetch_content`: http(s) URLs serving
    ``GET /content/0x<hash>`` or store directories; bytes of another hash are refused)."""

    def fetch(digest: bytes) -> bytes | None:
        try:
            return fetch_content(sources, digest)
        except ContentNotFound:
            return None

    return fetch


# ------------------------------------------------------------------ command line


def _content_sources(text: str) -> list[str]:
    sources = [part.strip() for part in text.split(",") if part.strip()]
    if not sources:
        raise argparse.ArgumentTypeError("expected one or more URLs or store directories separated by commas")
    return sources


def _model_id(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 < value < 2**256:
        raise argparse.ArgumentTypeError(f"model id {value} is not in 1..2**256-1")
    return value


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"interval {text} must be positive")
    return value


def register_commands(subparsers: Any) -> None:
    """Add ``verify`` to the openledger-attribution command line."""
    p = subparsers.add_parser(
        "verify", help="recompute every settlement of a model, dispute the wrong ones, vote in disputes",
        description="Follow InferenceSettled from a persisted block cursor, recompute each settlement from its "
                    "query record and dispute (with the bond) those whose attribution hash differs. The account "
                    "comes from OPENLEDGER_PRIVATE_KEY or --keystore (password in OPENLEDGER_KEYSTORE_PASSWORD).",
    )
    p.add_argument("--model-dir", required=True, type=Path, metavar="DIR", help="the model directory to recompute with")
    p.add_argument("--model-id", required=True, type=_model_id, metavar="N", help="the model's id on chain")
    p.add_argument("--rpc", required=True, metavar="URL", help="the node's JSON-RPC URL")
    p.add_argument("--content", required=True, type=_content_sources, metavar="URL[,URL]",
                   help="content endpoints serving GET /content/0x<hash> (or store directories), tried in order")
    p.add_argument("--vote", action="store_true",
                   help="as a staked provider, vote the recomputed hash in open disputes and resolve ended ones")
    p.add_argument("--state", type=Path, metavar="DIR", default=Path(".openledger-verifier"),
                   help="where the block cursor is kept (default: .openledger-verifier)")
    p.add_argument("--keystore", type=Path, metavar="FILE", help="Ethereum keystore JSON of the account")
    p.add_argument("--from-block", type=int, metavar="N", default=None,
                   help="first block to check when the state directory is new (default: 0)")
    p.add_argument("--once", action="store_true", help="one pass up to the current head, then exit")
    p.add_argument("--interval", type=_interval, metavar="SECONDS", default=2.0, help="seconds between passes")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=cmd_verify)


def cmd_verify(args: argparse.Namespace) -> None:
    chain = EconomyChain(Economy(args.rpc, load_account(keystore=args.keystore)))
    served = load_served_model(args.model_dir)
    state = VerifierState.load(args.state, chain.chain_id(), args.model_id)
    if not (args.state / STATE_FILE).exists() and args.from_block is not None:
        state.first_block = state.next_block = args.from_block
    verifier = Verifier(chain, served, args.model_id, content_fetcher(args.content), state, vote=args.vote)
    while True:
        checks = verifier.run_once()
        state.save(args.state)
        for check in checks:
            print(json.dumps(check.as_json(), sort_keys=True) if args.json else check.as_text(), flush=True)
        if args.once:
            return
        time.sleep(args.interval)
