"""The inference service: paid inferences in, answers with their attribution out, settlements on chain.

``openledger-attribution serve`` runs one served model (a model directory,
`attribution.payable.models`) registered on chain as one model id. A requester
pays with ``PayableAI.requestInference(modelId, keccak256(input))`` and posts
``{"inferenceId", "input"}`` to ``POST /v1/inferences``. The service checks the
request on chain (the model, status Requested, the deadline, the input hash
of the InferenceRequested event), runs the model in a bounded worker queue
(503 with Retry-After when it is full), computes the attribution with
`attribute_query` (what a verifier recomputes), stores the query record in the
content store (``GET /content/0x<queryHash>``), journals the settlement
(fsynced) and only then answers. The settler thread (`settler.py`) sends the
settle transactions in batches and finalizes after the dispute window.

Routes: ``POST /v1/inferences``, ``GET /v1/inferences/{id}``, ``GET /metrics``
(Prometheus text), ``GET /openapi.json`` (also docs/openapi.json),
``GET /healthz``, ``GET /content/0x<hash>``. Errors are JSON
``{"error": {"code", "message"}}`` with the status of `ERRORS`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from attribution.errors import AttributionError
from attribution.payable.chain import ChainError, Economy, load_account
from attribution.payable.content import ContentStore, content_routes
from attribution.payable.journal import Entry, Journal
from attribution.payable.models import (
    InputError,
    ServedModel,
    attribute_query,
    load_served_model,
)
from attribution.payable.record import input_hash
from attribution.payable.settler import Metrics, Settler
from attribution.split import NoPositiveAttribution

log = logging.getLogger("openledger.attribution.service")

OPENAPI_DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
MAX_BODY_BYTES = 1 << 20

ERRORS: dict[str, tuple[int, str]] = {
    "invalid_request": (400, "the body is not the JSON object the route takes"),
    "malformed_input": (400, "the input bytes are not an input of this model kind"),
    "input_hash_mismatch": (400, "keccak256(input) is not the inputHash the requester paid for"),
    "payment_required": (402, "the inference was refunded: nothing is paid for"),
    "unknown_inference": (404, "no inference with this id was requested (or none was served here)"),
    "unknown_model": (404, "the inference is for a model this service does not serve"),
    "already_served": (409, "this service already answered the inference"),
    "in_progress": (409, "the inference is being computed for another request"),
    "already_settled": (409, "the inference is settled or finalized on chain"),
    "deadline_passed": (410, "the settlement deadline of the inference has passed"),
    "deadline_too_close": (410, "too little time is left before the settlement deadline to settle an answer"),
    "chain_unavailable": (502, "the chain's JSON-RPC endpoint failed"),
    "model_busy": (503, "the worker queue is full: retry after Retry-After seconds"),
}
"""Error code -> (HTTP status, when it is returned)."""


class ServiceError(AttributionError):
    """A request the service refuses; `code` is a key of `ERRORS`."""

    def __init__(self, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        self.code = code
        self.status = ERRORS[code][0]
        self.headers = headers or {}
        super().__init__(message)


@dataclass(frozen=True)
class ServiceConfig:
    model_id: int
    queue_size: int = 32
    workers: int = 1
    batch_size: int = 16
    batch_window: float = 0.5
    poll_interval: float = 1.0
    # Chain seconds an inference must have left before its settlement deadline to
    # be served: an answer that cannot be settled in time would be free (the
    # requester is refunded after the deadline).
    settle_margin: float = 60.0

    def check(self) -> None:
        for name, minimum in (("queue_size", 1), ("workers", 1), ("batch_size", 1)):
            if getattr(self, name) < minimum:
                raise ValueError(f"{name} must be at least {minimum}, got {getattr(self, name)}")
        for name in ("batch_window", "poll_interval", "settle_margin"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be non-negative, got {getattr(self, name)}")


@dataclass
class _Job:
    inference_id: int
    input: bytes
    future: asyncio.Future[dict[str, Any]]


def _hex(data: bytes) -> str:
    return "0x" + bytes(data).hex()


def _error_response(error: ServiceError) -> web.Response:
    return web.json_response({"error": {"code": error.code, "message": str(error)}}, status=error.status,
                             headers=error.headers)


class InferenceService:
    """The service's state: served model, chain reader, journal, content store, queue, settler."""

    def __init__(self, served: ServedModel, config: ServiceConfig, reader: Economy, journal: Journal,
                 store: ContentStore, settler: Settler | None, metrics: Metrics) -> None:
        config.check()
        self.served, self.config, self.reader = served, config, reader
        self.journal, self.store, self.settler, self.metrics = journal, store, settler, metrics
        self._busy: set[int] = set()
        self._input_hashes: dict[int, bytes] = {}
        self._scanned_to = -1
        self._scan_lock = threading.Lock()
        self._queue: asyncio.Queue[_Job] | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._pool = ThreadPoolExecutor(config.workers, thread_name_prefix="model")
        self._chain_pool = ThreadPoolExecutor(4, thread_name_prefix="chain")
        self._running = 0
        self._seconds_per_job = 0.05
        self._job_lock = threading.Lock()

    # ---------------------------------------------------------- application

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[self._errors])
        app.add_routes([
            web.post("/v1/inferences", self.post_inference),
            web.get("/v1/inferences/{id}", self.get_inference),
            web.get("/metrics", self.get_metrics),
            web.get("/openapi.json", self.get_openapi),
            web.get("/healthz", self.get_health),
            *content_routes(self.store),
        ])
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)
        return app

    async def _start(self, _: web.Application) -> None:
        self._queue = asyncio.Queue(self.config.queue_size)
        self._workers = [asyncio.create_task(self._worker()) for _ in range(self.config.workers)]
        if self.settler is not None:
            self.settler.start()

    async def _stop(self, _: web.Application) -> None:
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        if self.settler is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.settler.stop)
        self._pool.shutdown(wait=True)
        self._chain_pool.shutdown(wait=False)
        self.journal.close()

    @web.middleware
    async def _errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            response: web.StreamResponse = await handler(request)
            return response
        except ServiceError as exc:
            self.metrics.count_error(exc.code)
            return _error_response(exc)
        except web.HTTPRequestEntityTooLarge:
            error = ServiceError("invalid_request", f"the body is larger than {MAX_BODY_BYTES} bytes")
            self.metrics.count_error(error.code)
            return _error_response(error)

    async def _chain(self, fn: Any, *args: Any) -> Any:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._chain_pool, fn, *args)
        except ChainError as exc:
            raise ServiceError("chain_unavailable", f"reading the chain failed: {exc}") from exc
        except (OSError, ValueError) as exc:  # connection errors of web3's HTTP provider
            raise ServiceError("chain_unavailable", f"reading the chain at {self.reader.rpc_url} failed: {exc}") from exc

    # ---------------------------------------------------------- POST /v1/inferences

    async def post_inference(self, request: web.Request) -> web.Response:
        inference_id, data = await self._parse_body(request)
        entry = self.journal.get(inference_id)
        if entry is not None and entry.served:
            raise ServiceError("already_served", f"inference {inference_id} was already answered by this service "
                               f"(GET /v1/inferences/{inference_id})")
        if inference_id in self._busy:
            raise ServiceError("in_progress", f"inference {inference_id} is being computed for another request")
        self._busy.add(inference_id)
        try:
            await self._check_on_chain(inference_id, data)
            try:
                self.served.parse_input(data)
            except InputError as exc:
                raise ServiceError("malformed_input", str(exc)) from exc
            assert self._queue is not None
            future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            try:
                self._queue.put_nowait(_Job(inference_id, data, future))
            except asyncio.QueueFull:
                retry = self._retry_after()
                raise ServiceError("model_busy", f"the model is too busy: {self._queue.qsize()} requests queued, "
                                   f"retry in {retry} s", {"Retry-After": str(retry)}) from None
            body = await future
        finally:
            self._busy.discard(inference_id)
        return web.json_response(body)

    async def _parse_body(self, request: web.Request) -> tuple[int, bytes]:
        try:
            body = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError) as exc:
            raise ServiceError("invalid_request", f"the body is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise ServiceError("invalid_request", 'the body must be a JSON object {"inferenceId": N, "input": "0x..."}')
        unknown = sorted(set(body) - {"inferenceId", "input"})
        if unknown:
            raise ServiceError("invalid_request", f"unknown field {unknown[0]!r}")
        raw_id = body.get("inferenceId")
        if isinstance(raw_id, str) and raw_id.isdigit():
            raw_id = int(raw_id)
        if isinstance(raw_id, bool) or not isinstance(raw_id, int) or not 0 < raw_id < 2**256:
            raise ServiceError("invalid_request", f"inferenceId must be a positive integer, got {body.get('inferenceId')!r}")
        text = body.get("input")
        if not isinstance(text, str) or not text.startswith("0x"):
            raise ServiceError("invalid_request", 'input must be a 0x-prefixed hex string of the input bytes')
        try:
            data = bytes.fromhex(text[2:])
        except ValueError:
            raise ServiceError("invalid_request", "input is not hex (an even number of hex digits after 0x)") from None
        return raw_id, data

    async def _check_on_chain(self, inference_id: int, data: bytes) -> None:
        inference = await self._chain(self.reader.inference, inference_id)
        if inference.status == "None":
            raise ServiceError("unknown_inference", f"inference {inference_id} was never requested on chain")
        if inference.model_id != self.config.model_id:
            raise ServiceError("unknown_model", f"inference {inference_id} is for model {inference.model_id}; "
                               f"this service serves model {self.config.model_id}")
        if inference.status == "Refunded":
            raise ServiceError("payment_required", f"inference {inference_id} was refunded to its requester")
        if inference.status != "Requested":
            raise ServiceError("already_settled", f"inference {inference_id} is already {inference.status} on chain")
        now = await self._chain(self._chain_time)
        if now > inference.deadline:
            raise ServiceError("deadline_passed", f"inference {inference_id}'s settlement deadline {inference.deadline} "
                               f"has passed (chain time {now})")
        if now + self.config.settle_margin > inference.deadline:
            raise ServiceError("deadline_too_close", f"inference {inference_id}'s settlement deadline {inference.deadline} "
                               f"is {inference.deadline - now} s away (chain time {now}), less than this service's "
                               f"settle margin of {self.config.settle_margin:g} s: an answer could not be settled "
                               "in time (the fee is refunded to the requester after the deadline)")
        paid = await self._chain(self._requested_input_hash, inference_id)
        actual = input_hash(data)
        if actual != paid:
            raise ServiceError("input_hash_mismatch", f"keccak256(input) is {_hex(actual)} but inference {inference_id} "
                               f"paid for inputHash {_hex(paid)}")

    def _chain_time(self) -> int:
        return int(self.reader.w3.eth.get_block("latest")["timestamp"])

    def _requested_input_hash(self, inference_id: int) -> bytes:
        """The inputHash the requester paid for (PayableAI keeps it only in the event).

        The model's InferenceRequested events are read once, from a cursor that
        moves forward, so a request costs one log query over the new blocks."""
        with self._scan_lock:
            if inference_id not in self._input_hashes:
                last = self.reader.block_number()
                if last >= self._scanned_to + 1:
                    for event in self.reader.events("PayableAI", "InferenceRequested", {"modelId": self.config.model_id},
                                                    self._scanned_to + 1, last):
                        self._input_hashes[int(event["inferenceId"])] = bytes(event["inputHash"])
                    self._scanned_to = last
            paid = self._input_hashes.get(inference_id)
        if paid is None:
            raise ChainError(f"no InferenceRequested event for inference {inference_id} of model {self.config.model_id}")
        return paid

    def _retry_after(self) -> int:
        assert self._queue is not None
        waiting = self._queue.qsize() + self._running
        return max(1, math.ceil(self._seconds_per_job * waiting / self.config.workers))

    # ---------------------------------------------------------- workers

    async def _worker(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            job = await self._queue.get()
            self._running += 1
            try:
                body = await loop.run_in_executor(self._pool, self._serve, job.inference_id, job.input)
            except ServiceError as exc:
                if not job.future.done():
                    job.future.set_exception(exc)
            except Exception as exc:  # the request gets the error; the worker goes on
                log.exception("inference %d failed", job.inference_id)
                if not job.future.done():
                    job.future.set_exception(exc)
            else:
                if not job.future.done():
                    job.future.set_result(body)
            finally:
                self._running -= 1
                self._queue.task_done()

    def _serve(self, inference_id: int, data: bytes) -> dict[str, Any]:
        """Compute, store the record, journal (fsync); the answer only after all three."""
        started = time.monotonic()
        self.journal.record(inference_id, "requested", modelId=self.config.model_id)
        try:
            result = attribute_query(self.served, self.config.model_id, data)
        except InputError as exc:
            raise ServiceError("malformed_input", str(exc)) from exc
        except NoPositiveAttribution:
            output = self.served.infer(self.served.parse_input(data))
            from attribution.payable.record import QueryRecord

            record = QueryRecord(self.config.model_id, self.served.index_version, data, output)
            self.store.put(record.encode())
            self.journal.record(inference_id, "unattributable", queryHash=_hex(record.query_hash), output=_hex(output),
                                reason="no contribution has a positive attribution: the fee is refunded after the deadline")
            self.metrics.count("served")
            self.metrics.count("unattributable")
            return {"inferenceId": inference_id, "output": _hex(output), "queryHash": _hex(record.query_hash),
                    "attributionHash": None, "contributions": [], "settlement": "none"}
        stored = self.store.put(result.record.encode())
        assert stored == result.query_hash
        self.journal.record(
            inference_id, "answered", queryHash=_hex(result.query_hash), attributionHash=_hex(result.attribution_hash),
            output=_hex(result.record.output), contributionIds=list(result.ids), weights=list(result.weights),
        )
        self.metrics.count("served")
        with self._job_lock:
            self._seconds_per_job = 0.8 * self._seconds_per_job + 0.2 * (time.monotonic() - started)
        if self.settler is not None:
            self.settler.wake()
        scores = dict(result.top)
        return {
            "inferenceId": inference_id,
            "output": _hex(result.record.output),
            "queryHash": _hex(result.query_hash),
            "attributionHash": _hex(result.attribution_hash),
            "contributions": [{"id": cid, "weight": weight, "score": float(scores[cid])}
                              for cid, weight in zip(result.ids, result.weights)],
            "settlement": "pending",
        }

    # ---------------------------------------------------------- other routes

    async def get_inference(self, request: web.Request) -> web.Response:
        text = request.match_info["id"]
        if not text.isdigit():
            raise ServiceError("invalid_request", f"inference id {text!r} is not a decimal integer")
        entry = self.journal.get(int(text))
        if entry is None:
            raise ServiceError("unknown_inference", f"inference {text} was not served by this service")
        return web.json_response(entry_view(entry))

    async def get_metrics(self, _: web.Request) -> web.Response:
        depth = (self._queue.qsize() if self._queue is not None else 0) + self._running
        return web.Response(text=metrics_text(self.metrics, depth, self.journal), content_type="text/plain",
                            charset="utf-8", headers={"X-Content-Type-Options": "nosniff"})

    async def get_openapi(self, _: web.Request) -> web.Response:
        return web.json_response(openapi_schema())

    async def get_health(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "modelId": self.config.model_id, "kind": self.served.kind,
                                  "indexVersion": _hex(self.served.index_version),
                                  "queueDepth": (self._queue.qsize() if self._queue else 0) + self._running})


SETTLEMENT_OF_STATE = {
    "requested": "computing", "answered": "pending", "settle_sent": "sent", "settled": "settled",
    "finalized": "finalized", "unattributable": "none", "lost": "lost",
}


def entry_view(entry: Entry) -> dict[str, Any]:
    """The JSON of ``GET /v1/inferences/{id}``."""
    f = entry.fields
    settlement: dict[str, Any] = {"state": SETTLEMENT_OF_STATE[entry.state]}
    for key in ("settleTx", "settleBlock", "disputeDeadline", "finalizeTx", "finalizeBlock", "reason", "overturned"):
        if key in f:
            settlement[key] = f[key]
    weights = list(zip(f.get("contributionIds", []), f.get("weights", [])))
    return {
        "inferenceId": entry.inference_id,
        "modelId": f.get("modelId"),
        "output": f.get("output"),
        "queryHash": f.get("queryHash"),
        "attributionHash": f.get("attributionHash"),
        "contributions": [{"id": cid, "weight": weight} for cid, weight in weights],
        "settlement": settlement,
    }


def metrics_text(metrics: Metrics, queue_depth: int, journal: Journal) -> str:
    """Prometheus text exposition (version 0.0.4) of the service's counters."""
    states: dict[str, int] = {}
    for entry in journal.entries():
        states[entry.state] = states.get(entry.state, 0) + 1
    with metrics.lock:
        lines = [
            "# HELP openledger_inferences_served_total Inferences answered (attributed or not).",
            "# TYPE openledger_inferences_served_total counter",
            f"openledger_inferences_served_total {metrics.served}",
            "# HELP openledger_inferences_unattributable_total Answered inferences with no positive attribution (not settled).",
            "# TYPE openledger_inferences_unattributable_total counter",
            f"openledger_inferences_unattributable_total {metrics.unattributable}",
            "# HELP openledger_inference_errors_total Refused requests by error code.",
            "# TYPE openledger_inference_errors_total counter",
            *[f'openledger_inference_errors_total{{code="{code}"}} {n}' for code, n in sorted(metrics.errors.items())],
            "# HELP openledger_queue_depth Inferences queued or being computed.",
            "# TYPE openledger_queue_depth gauge",
            f"openledger_queue_depth {queue_depth}",
            "# HELP openledger_settlements_total Settle receipts seen (or reconciled from the chain).",
            "# TYPE openledger_settlements_total counter",
            f"openledger_settlements_total {metrics.settled}",
            "# HELP openledger_finalizations_total Finalized settlements.",
            "# TYPE openledger_finalizations_total counter",
            f"openledger_finalizations_total {metrics.finalized}",
            "# HELP openledger_settlements_lost_total Inferences the chain settled or refunded otherwise.",
            "# TYPE openledger_settlements_lost_total counter",
            f"openledger_settlements_lost_total {metrics.lost}",
            "# HELP openledger_settle_failures_total Settle attempts that failed and were retried.",
            "# TYPE openledger_settle_failures_total counter",
            f"openledger_settle_failures_total {metrics.settle_failures}",
            "# HELP openledger_finalize_failures_total Finalize attempts that failed and were retried.",
            "# TYPE openledger_finalize_failures_total counter",
            f"openledger_finalize_failures_total {metrics.finalize_failures}",
            "# HELP openledger_settlement_latency_seconds From the answer to the settle receipt.",
            "# TYPE openledger_settlement_latency_seconds histogram",
            *[f'openledger_settlement_latency_seconds_bucket{{le="{_le(b)}"}} {n}'
              for b, n in zip((*metrics.settle_latency_buckets, math.inf), metrics.settle_latency_counts)],
            f"openledger_settlement_latency_seconds_sum {metrics.settle_latency_sum!r}",
            f"openledger_settlement_latency_seconds_count {metrics.settle_latency_count}",
        ]
    lines += [
        "# HELP openledger_journal_entries Journal entries by state.",
        "# TYPE openledger_journal_entries gauge",
        *[f'openledger_journal_entries{{state="{s}"}} {n}' for s, n in sorted(states.items())],
    ]
    return "\n".join(lines) + "\n"


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(float(bound))


# -------------------------------------------------------------------- OpenAPI

_HEX = {"type": "string", "pattern": "^0x([0-9a-fA-F]{2})*$"}
_HASH = {"type": "string", "pattern": "^0x[0-9a-f]{64}$"}


def openapi_schema() -> dict[str, Any]:
    """The service's OpenAPI 3.1 document (docs/openapi.json holds a copy)."""
    error = {"$ref": "#/components/schemas/Error"}

    def errors(*codes: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for code in codes:
            status, when = ERRORS[code]
            described = out.setdefault(str(status), {"description": "", "content": {"application/json": {"schema": error}}})
            described["description"] = "; ".join(filter(None, [described["description"], f"`{code}`: {when}"]))
        return out

    contribution = {"type": "object", "required": ["id", "weight"], "properties": {
        "id": {"type": "integer", "minimum": 1, "description": "contribution id (DatanetRegistry)"},
        "weight": {"type": "integer", "minimum": 1, "maximum": 1000000, "description": "share of 1,000,000"},
        "score": {"type": "number", "description": "attribution score (informational; the weights are exact)"},
    }}
    return {
        "openapi": "3.1.0",
        "info": {"title": "OpenLedger inference service", "version": "1",
                 "description": "Paid inferences with their attribution; settled on PayableAI. "
                                "See docs/attribution.md, \"Inference service\"."},
        "paths": {
            "/v1/inferences": {"post": {
                "summary": "Serve a paid inference",
                "description": "The inference must be requested on chain for this service's model, with "
                               "inputHash = keccak256(input), still Requested and at least the settle margin before its deadline. The answer "
                               "comes after the query record is stored and the settlement journaled.",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["inferenceId", "input"], "additionalProperties": False,
                    "properties": {"inferenceId": {"type": "integer", "minimum": 1},
                                   "input": {**_HEX, "description": "the input bytes (digits: 64 bytes 0..16; text: UTF-8)"}},
                }}}},
                "responses": {
                    "200": {"description": "The output and its attribution",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Answer"}}}},
                    **errors("invalid_request", "malformed_input", "input_hash_mismatch", "payment_required",
                             "unknown_inference", "unknown_model", "already_served", "in_progress", "already_settled",
                             "deadline_passed", "deadline_too_close", "chain_unavailable"),
                    "503": {"description": f"`model_busy`: {ERRORS['model_busy'][1]}",
                            "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
                            "content": {"application/json": {"schema": error}}},
                },
            }},
            "/v1/inferences/{id}": {"get": {
                "summary": "An inference served here and its settlement",
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}],
                "responses": {
                    "200": {"description": "The journal's view",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}}},
                    **errors("invalid_request", "unknown_inference"),
                },
            }},
            "/content/{hash}": {"get": {
                "summary": "A stored blob (query records) by its keccak256",
                "parameters": [{"name": "hash", "in": "path", "required": True, "schema": _HASH}],
                "responses": {
                    "200": {"description": "The bytes", "content": {"application/octet-stream": {
                        "schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}},
                    "400": {"description": "`invalid_hash`", "content": {"application/json": {"schema": error}}},
                    "404": {"description": "`content_not_found`", "content": {"application/json": {"schema": error}}},
                },
            }},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {
                "description": "Text exposition format 0.0.4", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
            "/healthz": {"get": {"summary": "Liveness and the served model", "responses": {"200": {
                "description": "Serving", "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "status": {"const": "ok"}, "modelId": {"type": "integer"}, "kind": {"type": "string"},
                    "indexVersion": _HASH, "queueDepth": {"type": "integer"}}}}}}}}},
            "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {
                "description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
        },
        "components": {"schemas": {
            "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                "type": "object", "required": ["code", "message"],
                "properties": {"code": {"enum": sorted({*ERRORS, "invalid_hash", "content_not_found", "content_corrupt"})},
                               "message": {"type": "string"}}}}},
            "Answer": {"type": "object",
                       "required": ["inferenceId", "output", "queryHash", "attributionHash", "contributions", "settlement"],
                       "properties": {
                           "inferenceId": {"type": "integer"},
                           "output": {**_HEX, "description": "output bytes (digits: one byte, the class)"},
                           "queryHash": {**_HASH, "description": "keccak256 of the query record, served at /content/{queryHash}"},
                           "attributionHash": {"oneOf": [_HASH, {"type": "null"}],
                                               "description": "null when nothing is attributed (no settlement; refunded)"},
                           "contributions": {"type": "array", "items": contribution},
                           "settlement": {"enum": ["pending", "none"]},
                       }},
            "Status": {"type": "object", "properties": {
                "inferenceId": {"type": "integer"}, "modelId": {"type": "integer"}, "output": _HEX,
                "queryHash": _HASH, "attributionHash": {"oneOf": [_HASH, {"type": "null"}]},
                "contributions": {"type": "array", "items": contribution},
                "settlement": {"type": "object", "required": ["state"], "properties": {
                    "state": {"enum": sorted(set(SETTLEMENT_OF_STATE.values()))},
                    "settleTx": _HASH, "settleBlock": {"type": "integer"}, "disputeDeadline": {"type": "integer"},
                    "finalizeTx": _HASH, "finalizeBlock": {"type": "integer"}, "reason": {"type": "string"},
                    "overturned": {"type": "boolean"}}},
            }},
        }},
    }


def openapi_text() -> str:
    return json.dumps(openapi_schema(), indent=2, sort_keys=True) + "\n"


# -------------------------------------------------------------------- command line


def _listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise argparse.ArgumentTypeError(f"--listen must be HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def _count(minimum: int) -> Any:
    def parse(text: str) -> int:
        if not text.isdigit() or int(text) < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer of at least {minimum}, got {text!r}")
        return int(text)
    return parse


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not value >= 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"must be a finite non-negative number of seconds, got {text!r}")
    return value


def register_commands(subparsers: Any) -> None:
    """Add ``serve`` to the ``openledger-attribution`` command line."""
    p = subparsers.add_parser("serve", help="serve paid inferences of one model and settle them on chain")
    p.add_argument("--model-dir", required=True, type=Path, metavar="DIR", help="trained and indexed model directory")
    p.add_argument("--model-id", required=True, type=_count(1), metavar="N", help="the model's id in ModelRegistry")
    p.add_argument("--rpc", required=True, metavar="URL", help="JSON-RPC endpoint of the chain")
    p.add_argument("--listen", type=_listen, default=("127.0.0.1", 8645), metavar="HOST:PORT",
                   help="address to serve on (port 0: any free port; the bound address is printed)")
    p.add_argument("--journal", required=True, type=Path, metavar="DIR", help="settlement journal directory")
    p.add_argument("--content", type=Path, metavar="DIR", help="content store for query records (default: JOURNAL/content)")
    p.add_argument("--keystore", type=Path, metavar="FILE",
                   help="provider key as a keystore file (password in OPENLEDGER_KEYSTORE_PASSWORD); "
                        "default: the hex key in OPENLEDGER_PRIVATE_KEY")
    p.add_argument("--queue-size", type=_count(1), default=ServiceConfig.queue_size, metavar="N",
                   help="inferences waiting for a worker before 503")
    p.add_argument("--workers", type=_count(1), default=ServiceConfig.workers, metavar="N", help="model worker threads")
    p.add_argument("--batch-size", type=_count(1), default=ServiceConfig.batch_size, metavar="N",
                   help="settle transactions sent together")
    p.add_argument("--batch-window", type=_seconds, default=ServiceConfig.batch_window, metavar="S",
                   help="how long an answered inference waits for others to settle with")
    p.add_argument("--poll-interval", type=_seconds, default=ServiceConfig.poll_interval, metavar="S",
                   help="how often the settler checks the chain (finalization)")
    p.add_argument("--settle-margin", type=_seconds, default=ServiceConfig.settle_margin, metavar="S",
                   help="refuse inferences with fewer chain seconds than this left before their settlement deadline")
    p.set_defaults(func=cmd_serve)


def build_service(args: argparse.Namespace) -> InferenceService:
    account = load_account(keystore=args.keystore)
    served = load_served_model(args.model_dir)
    config = ServiceConfig(args.model_id, args.queue_size, args.workers, args.batch_size, args.batch_window,
                           args.poll_interval, args.settle_margin)
    reader = Economy(args.rpc)
    model = reader.model(args.model_id)
    if int(model.owner, 16) == 0:
        raise AttributionError(f"model {args.model_id} is not registered in ModelRegistry at {args.rpc}")
    journal = Journal(args.journal)
    store = ContentStore(args.content if args.content is not None else args.journal / "content")
    metrics = Metrics()
    settler = Settler(Economy(args.rpc, account), journal, metrics, batch_size=args.batch_size,
                      batch_window=args.batch_window, poll_interval=args.poll_interval)
    return InferenceService(served, config, reader, journal, store, settler, metrics)


def cmd_serve(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    service = build_service(args)
    host, port = args.listen

    async def run() -> None:
        runner = web.AppRunner(service.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0]
        print(f"serving model {service.config.model_id} ({service.served.kind}) on http://{bound[0]}:{bound[1]}",
              flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    asyncio.run(run())

