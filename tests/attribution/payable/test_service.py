"""The inference service against a real node process: a paid inference served,
its record stored, settled in a transaction whose split is attribute_query's,
finalized after the dispute window; every refusal with its status and code;
a full queue answering 503 with Retry-After; a kill -9 between the answer and
the settlement costing nothing (settled exactly once after the restart); a
settle the chain already holds reconciled, not resent; the metrics parsed."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from eth_account import Account

from attribution.examples import digits
from attribution.payable.chain import Economy
from attribution.payable.content import ContentStore
from attribution.payable.journal import Journal
from attribution.payable.models import ServedModel, attribute_query, load_served_model
from attribution.payable.record import QueryRecord, input_hash
from attribution.payable.service import InferenceService, ServiceConfig, openapi_text
from attribution.payable.settler import Metrics
from attribution.split import split_fee
from openledger_node.execution.genesis import dev_private_keys
from tests.rpc.helpers import NodeProcess, start_node, wait_until

REPO = Path(__file__).resolve().parents[3]
OPEN = 10**18
FEE = OPEN
OWNER_SHARE_BPS = 2_000


@dataclass
class Economy_:
    node: NodeProcess
    model_dir: Path
    model_id: int
    other_model_id: int
    contribution_ids: list[int]
    user: Economy
    provider: Economy
    provider_key: bytes
    served: ServedModel
    test_inputs: list[bytes]
    settlement_period: int
    dispute_window: int

    def request(self, data: bytes, model_id: int | None = None) -> int:
        return self.user.request_inference(model_id or self.model_id, input_hash(data), FEE)

    def advance(self, seconds: int) -> None:
        self.node.advance_time(seconds)


@pytest.fixture(scope="module")
def economy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Economy_]:
    root = tmp_path_factory.mktemp("service")
    node = start_node(root / "node", mode="instant")
    try:
        keys = dev_private_keys()
        curator, alice, bob, owner, provider, user = (Economy(node.http, Account.from_key(k)) for k in keys[4:10])
        datanet = curator.create_datanet("ipfs://digits", "open")
        blobs = digits.example_contributions(4, 30)
        ids = [(alice if i % 2 == 0 else bob).contribute(datanet, input_hash(blob), f"digits-{i}") for i, blob in enumerate(blobs)]
        model_dir = root / "model"
        digits.train(list(zip(ids, blobs)), model_dir)
        digits.build_index(model_dir)
        served = load_served_model(model_dir)
        model_id = owner.register_model(served.index_version, [datanet], FEE, OWNER_SHARE_BPS, "ipfs://digits-model")
        other = owner.register_model(b"\x01" * 32, [datanet], FEE, OWNER_SHARE_BPS, "ipfs://other-model")
        provider.stake(1_000 * OPEN)
        _, _, x_test, _ = digits.load_digits_split()
        inputs = [digits.input_bytes(x_test[i]) for i in range(40)]
        period, window = user.call("PayableAI", "settlementPeriod"), user.call("PayableAI", "disputeWindow")
        yield Economy_(node, model_dir, model_id, other, ids, user, provider, keys[8], served, inputs, period, window)
    finally:
        node.stop()


class ServiceProcess:
    """`openledger-attribution serve` as a separate process in its own session."""

    def __init__(self, economy: Economy_, journal: Path, *extra: str) -> None:
        self.log = journal.parent / f"{journal.name}-{time.monotonic_ns()}.log"
        env = {**os.environ, "OPENLEDGER_PRIVATE_KEY": "0x" + economy.provider_key.hex(), "PYTHONUNBUFFERED": "1"}
        argv = [sys.executable, "-m", "attribution.cli", "serve", "--model-dir", str(economy.model_dir),
                "--model-id", str(economy.model_id), "--rpc", economy.node.http, "--listen", "127.0.0.1:0",
                "--journal", str(journal), *extra]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        self.url = self._wait_url()

    def _wait_url(self, timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(r"on (http://127\.0\.0\.1:\d+)", self.log.read_text())
            if match:
                return match.group(1)
            if self.process.poll() is not None:
                raise AssertionError(f"the service exited: {self.log.read_text()}")
            time.sleep(0.1)
        raise AssertionError(f"the service did not start: {self.log.read_text()}")

    def post(self, inference_id: Any, data: bytes | str) -> requests.Response:
        body = {"inferenceId": inference_id, "input": data if isinstance(data, str) else "0x" + data.hex()}
        return requests.post(f"{self.url}/v1/inferences", json=body, timeout=60)

    def status(self, inference_id: int) -> dict[str, Any]:
        response = requests.get(f"{self.url}/v1/inferences/{inference_id}", timeout=10)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(15)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture(scope="module")
def service(economy: Economy_, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    running = ServiceProcess(economy, tmp_path_factory.mktemp("journal") / "journal", "--batch-window", "0.2",
                             "--poll-interval", "0.5")
    yield running
    running.stop()


def settled_events(economy: Economy_, inference_id: int) -> list[Any]:
    return [s for s in economy.user.settled_events(model_id=economy.model_id) if s.inference_id == inference_id]


def error_of(response: requests.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["error"]["code"], body["error"]["message"]


# ---------------------------------------------------------------- the happy path


def test_paid_inference_is_answered_settled_and_finalized(economy: Economy_, service: ServiceProcess) -> None:
    data = economy.test_inputs[0]
    inference_id = economy.request(data)
    response = service.post(inference_id, data)
    assert response.status_code == 200, response.text
    answer = response.json()

    expected = attribute_query(economy.served, economy.model_id, data)
    assert answer["inferenceId"] == inference_id
    assert answer["output"] == "0x" + expected.record.output.hex()
    assert answer["queryHash"] == "0x" + expected.query_hash.hex()
    assert answer["attributionHash"] == "0x" + expected.attribution_hash.hex()
    assert [(c["id"], c["weight"]) for c in answer["contributions"]] == expected.split
    assert set(expected.ids) <= set(economy.contribution_ids) and answer["settlement"] == "pending"

    # The record is served by its hash and names this model, index version, input and output.
    record_bytes = requests.get(f"{service.url}/content/{answer['queryHash']}", timeout=10).content
    assert QueryRecord.decode(record_bytes) == expected.record

    settled = wait_until(lambda: settled_events(economy, inference_id), what="the settle transaction", timeout=60)
    assert len(settled) == 1
    event = settled[0]
    assert (event.query_hash, event.attribution_hash) == (expected.query_hash, expected.attribution_hash)
    assert list(zip(event.contribution_ids, event.weights)) == expected.split
    assert event.provider == economy.provider.address
    status = wait_until(lambda: (s := service.status(inference_id))["settlement"]["state"] == "settled" and s,
                      what="the journal to record the settlement", timeout=60)
    assert status["settlement"]["settleTx"] == "0x" + event.transaction_hash.hex()
    assert status["settlement"]["disputeDeadline"] == event.dispute_deadline

    before = {cid: economy.user.contribution(cid).contributor for cid in expected.ids}
    claimable_before = {a: economy.user.claimable(a) for a in set(before.values())}
    economy.advance(economy.dispute_window + 5)
    wait_until(lambda: economy.user.inference(inference_id).status == "Finalized", what="finalize", timeout=30)
    status = wait_until(lambda: (s := service.status(inference_id))["settlement"]["state"] == "finalized" and s,
                      what="the journal to record finalization", timeout=60)
    assert status["settlement"]["finalizeTx"].startswith("0x")
    _, _, amounts = split_fee(FEE, 500, OWNER_SHARE_BPS, list(expected.weights))
    paid: dict[str, int] = {}
    for cid, amount in zip(expected.ids, amounts):
        paid[before[cid]] = paid.get(before[cid], 0) + amount
    for address, amount in paid.items():
        assert economy.user.claimable(address) - claimable_before[address] == amount


# ---------------------------------------------------------------- refusals


def test_bad_bodies_are_refused_with_the_field_named(service: ServiceProcess) -> None:
    url = f"{service.url}/v1/inferences"
    cases = [
        (b"{not json", "the body is not JSON"),
        (b"[1, 2]", "the body must be a JSON object"),
        (json.dumps({"inferenceId": 1}).encode(), "input must be a 0x-prefixed hex string"),
        (json.dumps({"inferenceId": 0, "input": "0x00"}).encode(), "inferenceId must be a positive integer, got 0"),
        (json.dumps({"inferenceId": True, "input": "0x00"}).encode(), "inferenceId must be a positive integer"),
        (json.dumps({"inferenceId": 1, "input": "0xabc"}).encode(), "input is not hex"),
        (json.dumps({"inferenceId": 1, "input": "00"}).encode(), "0x-prefixed"),
        (json.dumps({"inferenceId": 1, "input": "0x00", "fee": 1}).encode(), "unknown field 'fee'"),
    ]
    for body, message in cases:
        response = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=10)
        status, code, text = error_of(response)
        assert (status, code) == (400, "invalid_request"), (body, response.text)
        assert message in text, (body, text)
    status, code, _ = error_of(requests.get(f"{service.url}/v1/inferences/abc", timeout=10))
    assert (status, code) == (400, "invalid_request")
    status, code, _ = error_of(requests.get(f"{service.url}/v1/inferences/987654", timeout=10))
    assert (status, code) == (404, "unknown_inference")


def test_requests_the_chain_does_not_back_are_refused(economy: Economy_, service: ServiceProcess) -> None:
    data = economy.test_inputs[1]
    status, code, message = error_of(service.post(10**9, data))
    assert (status, code) == (404, "unknown_inference") and "never requested" in message

    other = economy.request(data, economy.other_model_id)
    status, code, message = error_of(service.post(other, data))
    assert (status, code) == (404, "unknown_model")
    assert f"is for model {economy.other_model_id}; this service serves model {economy.model_id}" in message

    paid = economy.request(data)
    wrong = economy.test_inputs[2]
    status, code, message = error_of(service.post(paid, wrong))
    assert (status, code) == (400, "input_hash_mismatch")
    assert f"keccak256(input) is 0x{input_hash(wrong).hex()}" in message and input_hash(data).hex() in message

    short = bytes(63)
    unparseable = economy.request(short)
    status, code, message = error_of(service.post(unparseable, short))
    assert (status, code) == (400, "malformed_input") and "must be 64 bytes" in message

    # The refused ones are still servable: the correct input is answered.
    assert service.post(paid, data).status_code == 200
    status, code, message = error_of(service.post(paid, data))
    assert (status, code) == (409, "already_served") and f"GET /v1/inferences/{paid}" in message

    settled_elsewhere = economy.request(data)
    expected = attribute_query(economy.served, economy.model_id, data)
    economy.provider.settle(settled_elsewhere, expected.query_hash, expected.ids, expected.weights)
    status, code, message = error_of(service.post(settled_elsewhere, data))
    assert (status, code) == (409, "already_settled") and "Settled" in message


def test_requests_past_their_deadline_are_refused(economy: Economy_, service: ServiceProcess) -> None:
    data = economy.test_inputs[3]
    late, refunded = economy.request(data), economy.request(data)
    # Inside the settle margin (60 s by default): an answer could not be settled in time.
    economy.advance(economy.settlement_period - 30)
    status, code, message = error_of(service.post(late, data))
    assert (status, code) == (410, "deadline_too_close") and "settle margin of 60 s" in message
    economy.advance(40)
    status, code, message = error_of(service.post(late, data))
    assert (status, code) == (410, "deadline_passed") and "settlement deadline" in message
    economy.user.refund(refunded)
    status, code, message = error_of(service.post(refunded, data))
    assert (status, code) == (402, "payment_required") and "refunded" in message


# ---------------------------------------------------------------- the queue


class GatedModel:
    """The served model, with attribution held until the test opens the gate."""

    def __init__(self, served: ServedModel) -> None:
        self.inner = served
        self.kind, self.model_dir, self.index_version = served.kind, served.model_dir, served.index_version
        self.entered = threading.Event()
        self.gate = threading.Event()

    def parse_input(self, data: bytes) -> Any:
        return self.inner.parse_input(data)

    def infer(self, parsed: Any) -> bytes:
        return self.inner.infer(parsed)

    def attribute(self, data: bytes, output: bytes) -> Any:
        self.entered.set()
        assert self.gate.wait(60)
        return self.inner.attribute(data, output)


def test_a_full_queue_answers_503_with_retry_after(economy: Economy_, tmp_path: Path) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    model = GatedModel(economy.served)
    service = InferenceService(model, ServiceConfig(economy.model_id, queue_size=1, workers=1), Economy(economy.node.http),
                               Journal(tmp_path / "journal"), ContentStore(tmp_path / "content"), None, Metrics())
    inputs = economy.test_inputs[4:7]
    ids = [economy.request(data) for data in inputs]

    async def scenario() -> None:
        async with TestClient(TestServer(service.app())) as client:
            def post(i: int) -> Any:
                return client.post("/v1/inferences", json={"inferenceId": ids[i], "input": "0x" + inputs[i].hex()})

            running = asyncio.ensure_future(post(0))
            while not model.entered.is_set():
                await asyncio.sleep(0.02)
            twice = await post(0)
            assert twice.status == 409 and (await twice.json())["error"]["code"] == "in_progress"
            queued = asyncio.ensure_future(post(1))
            while service._queue is None or service._queue.qsize() < 1:
                await asyncio.sleep(0.02)
            busy = await post(2)
            assert busy.status == 503
            assert int(busy.headers["Retry-After"]) >= 1
            body = await busy.json()
            assert body["error"]["code"] == "model_busy" and "too busy" in body["error"]["message"]
            metrics = await (await client.get("/metrics")).text()
            assert "openledger_queue_depth 2\n" in metrics
            model.gate.set()
            for response in (await running, await queued):
                assert response.status == 200, await response.text()
            # Once the queue has room again the refused request is served.
            assert (await post(2)).status == 200

    asyncio.run(scenario())


class OpposedModel(GatedModel):
    """A served model under which every contribution opposes the output."""

    def attribute(self, data: bytes, output: bytes) -> Any:
        return {cid: -abs(float(score)) - 1.0 for cid, score in self.inner.attribute(data, output).items()}


def test_an_output_nothing_supports_is_answered_and_not_settled(economy: Economy_, tmp_path: Path) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    journal = Journal(tmp_path / "journal")
    store = ContentStore(tmp_path / "content")
    service = InferenceService(OpposedModel(economy.served), ServiceConfig(economy.model_id),
                               Economy(economy.node.http), journal, store, None, Metrics())
    data = economy.test_inputs[7]
    inference_id = economy.request(data)

    async def scenario() -> tuple[int, dict[str, Any], dict[str, Any]]:
        async with TestClient(TestServer(service.app())) as client:
            response = await client.post("/v1/inferences", json={"inferenceId": inference_id, "input": "0x" + data.hex()})
            body = await response.json()
            status = await (await client.get(f"/v1/inferences/{inference_id}")).json()
            return response.status, body, status

    code, body, status = asyncio.run(scenario())
    assert code == 200, body
    record = QueryRecord(economy.model_id, economy.served.index_version, data,
                         economy.served.infer(economy.served.parse_input(data)))
    assert body == {"inferenceId": inference_id, "output": "0x" + record.output.hex(),
                    "queryHash": "0x" + record.query_hash.hex(), "attributionHash": None, "contributions": [],
                    "settlement": "none"}
    assert status["settlement"]["state"] == "none" and "refunded" in status["settlement"]["reason"]
    assert store.get(record.query_hash) == record.encode()
    assert economy.user.inference(inference_id).status == "Requested"


def test_settles_are_sent_together_and_mined_in_nonce_order(economy: Economy_, tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    inputs = economy.test_inputs[11:14]
    ids = [economy.request(data) for data in inputs]
    running = ServiceProcess(economy, journal, "--batch-window", "5", "--batch-size", "3")
    try:
        for inference_id, data in zip(ids, inputs):
            assert running.post(inference_id, data).status_code == 200
        for inference_id in ids:
            wait_until(lambda i=inference_id: running.status(i)["settlement"]["state"] == "settled", what="the batch", timeout=60)
    finally:
        running.stop()
    events = [json.loads(line) for line in (journal / "journal.jsonl").read_text().splitlines()]
    order = [(e["state"], e["inferenceId"]) for e in events if e["state"] in ("settle_sent", "settled")]
    # Every settle of the batch was in flight before the first receipt was read.
    assert order == [("settle_sent", i) for i in ids] + [("settled", i) for i in ids]
    nonces = [e["nonce"] for e in events if e["state"] == "settle_sent"]
    assert nonces == list(range(nonces[0], nonces[0] + 3))
    blocks = [e["settleBlock"] for e in events if e["state"] == "settled"]
    assert blocks == sorted(blocks)


# ---------------------------------------------------------------- crashes


def test_kill_9_between_answer_and_settlement_settles_exactly_once(economy: Economy_, tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    data = economy.test_inputs[8]
    inference_id = economy.request(data)
    # A long batch window holds the settlement back, so the kill lands after the answer.
    first = ServiceProcess(economy, journal, "--batch-window", "600")
    try:
        response = first.post(inference_id, data)
        assert response.status_code == 200, response.text
        assert first.status(inference_id)["settlement"]["state"] == "pending"
    finally:
        first.kill()
    assert economy.user.inference(inference_id).status == "Requested"
    assert settled_events(economy, inference_id) == []

    second = ServiceProcess(economy, journal, "--batch-window", "0")
    try:
        wait_until(lambda: second.status(inference_id)["settlement"]["state"] == "settled", what="settlement after restart", timeout=60)
        status, code, _ = error_of(second.post(inference_id, data))
        assert (status, code) == (409, "already_served")
        time.sleep(1.5)  # a few settler passes: nothing is sent again
    finally:
        second.stop()
    events = settled_events(economy, inference_id)
    assert len(events) == 1 and "0x" + events[0].query_hash.hex() == response.json()["queryHash"]


def test_a_settlement_already_on_chain_is_reconciled_not_resent(economy: Economy_, tmp_path: Path) -> None:
    """The crash this stands for: the settle was mined but the process died before journaling it."""
    data = economy.test_inputs[9]
    inference_id = economy.request(data)
    expected = attribute_query(economy.served, economy.model_id, data)
    journal = Journal(tmp_path / "journal")
    journal.record(inference_id, "answered", queryHash="0x" + expected.query_hash.hex(),
                   attributionHash="0x" + expected.attribution_hash.hex(), output="0x" + expected.record.output.hex(),
                   contributionIds=list(expected.ids), weights=list(expected.weights))
    journal.close()
    economy.provider.settle(inference_id, expected.query_hash, expected.ids, expected.weights)
    nonce = economy.provider.w3.eth.get_transaction_count(economy.provider.address)

    running = ServiceProcess(economy, tmp_path / "journal", "--batch-window", "0")
    try:
        status = wait_until(lambda: (s := running.status(inference_id))["settlement"]["state"] == "settled" and s,
                          what="reconciliation", timeout=60)
        metrics = requests.get(f"{running.url}/metrics", timeout=10).text
    finally:
        running.stop()
    assert "settleTx" not in status["settlement"]
    assert economy.provider.w3.eth.get_transaction_count(economy.provider.address) == nonce
    assert len(settled_events(economy, inference_id)) == 1
    assert "openledger_settle_failures_total 0\n" in metrics
    assert "openledger_settlements_total 1\n" in metrics


def test_a_settle_sent_before_a_crash_is_awaited_by_its_hash(economy: Economy_, tmp_path: Path) -> None:
    """The crash this stands for: the settle was sent and journaled, the process died before its receipt."""
    data = economy.test_inputs[14]
    inference_id = economy.request(data)
    expected = attribute_query(economy.served, economy.model_id, data)
    sent = economy.provider.settle(inference_id, expected.query_hash, expected.ids, expected.weights, wait=False)
    journal = Journal(tmp_path / "journal")
    journal.record(inference_id, "answered", queryHash="0x" + expected.query_hash.hex(),
                   attributionHash="0x" + expected.attribution_hash.hex(), output="0x" + expected.record.output.hex(),
                   contributionIds=list(expected.ids), weights=list(expected.weights))
    journal.record(inference_id, "settle_sent", settleTx="0x" + sent.tx_hash.hex(), nonce=sent.nonce)
    journal.close()
    receipt = economy.provider.wait(sent)

    running = ServiceProcess(economy, tmp_path / "journal", "--batch-window", "0")
    try:
        status = wait_until(lambda: (s := running.status(inference_id))["settlement"]["state"] == "settled" and s,
                          what="the receipt of the earlier settle", timeout=60)
    finally:
        running.stop()
    assert status["settlement"]["settleTx"] == "0x" + sent.tx_hash.hex()
    assert status["settlement"]["settleBlock"] == receipt["blockNumber"]
    assert economy.provider.w3.eth.get_transaction_count(economy.provider.address) == sent.nonce + 1
    assert len(settled_events(economy, inference_id)) == 1


# ---------------------------------------------------------------- metrics and schema


def _parse_metrics(text: str) -> dict[str, float]:
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, value = line.rsplit(" ", 1)
        samples[name] = float(value)
    return samples


def test_metrics_count_what_happened(economy: Economy_, service: ServiceProcess) -> None:
    before = _parse_metrics(requests.get(f"{service.url}/metrics", timeout=10).text)
    data = economy.test_inputs[10]
    inference_id = economy.request(data)
    assert service.post(inference_id, data).status_code == 200
    assert service.post(inference_id, data).status_code == 409
    wait_until(lambda: service.status(inference_id)["settlement"]["state"] == "settled", what="settlement", timeout=60)
    response = requests.get(f"{service.url}/metrics", timeout=10)
    assert response.headers["Content-Type"].startswith("text/plain")
    after = _parse_metrics(response.text)
    assert after["openledger_inferences_served_total"] == before["openledger_inferences_served_total"] + 1
    key = 'openledger_inference_errors_total{code="already_served"}'
    assert after[key] == before.get(key, 0) + 1
    assert after["openledger_settlements_total"] == before["openledger_settlements_total"] + 1
    assert after["openledger_settlement_latency_seconds_count"] == before["openledger_settlement_latency_seconds_count"] + 1
    assert after['openledger_settlement_latency_seconds_bucket{le="+Inf"}'] == after["openledger_settlement_latency_seconds_count"]
    assert after["openledger_settlement_latency_seconds_sum"] > before["openledger_settlement_latency_seconds_sum"]
    assert after["openledger_queue_depth"] == 0
    assert after['openledger_journal_entries{state="settled"}'] >= 1


def test_openapi_document_is_served_and_current(service: ServiceProcess) -> None:
    served = requests.get(f"{service.url}/openapi.json", timeout=10).json()
    assert served["openapi"] == "3.1.0"
    assert set(served["paths"]) >= {"/v1/inferences", "/v1/inferences/{id}", "/metrics", "/healthz", "/content/{hash}"}
    assert (REPO / "docs" / "openapi.json").read_text() == openapi_text(), \
        "docs/openapi.json is stale: python -c 'from attribution.payable.service import openapi_text; print(openapi_text(), end=\"\")' > docs/openapi.json"
    assert json.loads(openapi_text()) == served
    health = requests.get(f"{service.url}/healthz", timeout=10).json()
    assert health["status"] == "ok" and health["kind"] == "digits"



def test_serve_refuses_to_start_without_a_key_or_a_registered_model(economy: Economy_, tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "attribution.cli", "serve", "--model-dir", str(economy.model_dir), "--rpc",
            economy.node.http, "--journal", str(tmp_path / "journal"), "--listen", "127.0.0.1:0"]
    env = {k: v for k, v in os.environ.items() if k != "OPENLEDGER_PRIVATE_KEY"}
    no_key = subprocess.run(check=False, args=[*argv, "--model-id", str(economy.model_id)], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=120)
    assert no_key.returncode == 2
    assert "openledger-attribution serve: error: no signing key: set OPENLEDGER_PRIVATE_KEY" in no_key.stderr
    env["OPENLEDGER_PRIVATE_KEY"] = "0x" + economy.provider_key.hex()
    unknown = subprocess.run(check=False, args=[*argv, "--model-id", "999"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert unknown.returncode == 1  # a revert: the command line's chain-error status
    assert "openledger-attribution serve: error: ModelRegistry reverted: UnknownModel(modelId=999)" in unknown.stderr
    bad_listen = subprocess.run([*argv[:-1], "localhost", "--model-id", "1"], check=False, cwd=REPO, env=env, capture_output=True,
                                text=True, timeout=120)
    assert bad_listen.returncode == 2 and "--listen must be HOST:PORT, got 'localhost'" in bad_listen.stderr


@pytest.mark.parametrize("value", ["-5", "nan", "inf", "soon"])
def test_bad_settle_margin_is_refused_naming_the_flag(value: str, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from attribution.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--model-dir", str(tmp_path), "--model-id", "1", "--rpc", "http://127.0.0.1:1",
              "--journal", str(tmp_path / "journal"), "--settle-margin", value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--settle-margin" in err and "seconds" in err and repr(value) in err
    with pytest.raises(ValueError, match="settle_margin must be non-negative, got -1"):
        ServiceConfig(1, settle_margin=-1).check()
