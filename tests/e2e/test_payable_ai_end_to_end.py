"""Payable AI end to end on a real node, every step through the command line or over HTTP:
contributors register digits data in two datanets (one curated, accepted by its
owner), the model owner trains, indexes and registers the model, a staked
provider serves paid inferences (the real service process), settles and
finalizes them, and each contributor can claim exactly its share of the split to
the wei. A second, dishonest provider with its own key and stake settles a
perturbed split: a staked verifier disputes it, the honest provider's verifier
votes, the vote overturns the settlement, slashes the dishonest provider and
pays the corrected split. A request nobody answers is refunded after its
deadline."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from eth_account import Account
from eth_hash.auto import keccak

from attribution.examples import digits
from attribution.payable.chain import Economy
from attribution.payable.models import ServedModel, attribute_query, load_served_model
from attribution.payable.record import QueryRecord
from attribution.split import split_fee
from openledger_node.execution.genesis import dev_private_keys
from tests.processes import stop_process_group
from tests.rpc.helpers import NodeProcess, start_node, wait_until

REPO = Path(__file__).resolve().parents[2]
OPEN = 10**18
FEE = 10 * OPEN
OWNER_SHARE_BPS = 2_000
STAKE = 1_000 * OPEN
EXAMPLES_EACH = 25
KEYS = dev_private_keys()
OWNER, HONEST, USER, DISHONEST, VERIFIER = (KEYS[i] for i in (1, 2, 3, 8, 7))
CONTRIBUTORS = KEYS[4:7]

pytestmark = pytest.mark.timeout(900)


def cli(key: bytes | None, rpc: str | None, *args: str, module: str = "attribution.cli") -> list[dict[str, Any]]:
    """Run ``openledger-attribution ARGS [--rpc RPC] --json`` signed by ``key``; its JSON lines."""
    env = {k: v for k, v in os.environ.items() if k != "OPENLEDGER_PRIVATE_KEY"}
    if key is not None:
        env["OPENLEDGER_PRIVATE_KEY"] = "0x" + key.hex()
    chain = ["--rpc", rpc] if rpc is not None else []
    run = subprocess.run([sys.executable, "-m", module, *args, *chain, "--json"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, f"{args[0]} failed: {run.stderr}"
    return [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]


class Service:
    """A provider's ``serve`` process (or the dishonest wrapper of it) on a free port."""

    def __init__(self, key: bytes, node: NodeProcess, model_dir: Path, model_id: int, journal: Path,
                 module: str = "attribution.cli") -> None:
        self.log = journal.parent / f"{journal.name}.log"
        env = {**os.environ, "OPENLEDGER_PRIVATE_KEY": "0x" + key.hex(), "PYTHONUNBUFFERED": "1"}
        argv = [sys.executable, "-m", module, "serve", "--model-dir", str(model_dir), "--model-id", str(model_id),
                "--rpc", node.http, "--listen", "127.0.0.1:0", "--journal", str(journal), "--batch-window", "0.05",
                "--poll-interval", "0.2"]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        self.url = wait_until(self._url, what="the service to listen", timeout=120)

    def _url(self) -> str | None:
        if self.process.poll() is not None:
            raise AssertionError(f"the service exited: {self.log.read_text()}")
        match = re.search(r"on (http://127\.0\.0\.1:\d+)", self.log.read_text())
        return match.group(1) if match else None

    def infer(self, inference_id: int, data: bytes) -> dict[str, Any]:
        response = requests.post(f"{self.url}/v1/inferences",
                                 json={"inferenceId": inference_id, "input": "0x" + data.hex()}, timeout=120)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def stop(self) -> None:
        stop_process_group(self.process, timeout=20)


@dataclass
class World:
    node: NodeProcess
    root: Path
    model_dir: Path
    served: ServedModel
    model_id: int
    contributions: dict[int, str]  # contribution id -> contributor address
    honest: Service
    dishonest: Service
    chain: Economy  # read-only
    inputs: list[bytes]

    def advance(self, seconds: int) -> None:
        self.node.advance_time(seconds)

    def request(self, data: bytes) -> int:
        (line,) = cli(USER, self.node.http, "request", "--model-id", str(self.model_id), "--input-hex", data.hex())
        assert line["inputHash"] == "0x" + keccak(data).hex()
        return int(line["inferenceId"])

    def verify(self, key: bytes, state: str, *extra: str) -> list[dict[str, Any]]:
        return cli(key, self.node.http, "verify", "--model-dir", str(self.model_dir), "--model-id",
                   str(self.model_id), "--content", f"{self.honest.url},{self.dishonest.url}",
                   "--state", str(self.root / state), "--once", *extra)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("payable")
    node = start_node(root / "data", mode="instant")
    services: list[Service] = []
    try:
        rpc = node.http
        content = root / "content"
        (curated,) = cli(OWNER, rpc, "datanet", "create", "--policy", "curated", "--metadata", "ipfs://digits-a")
        (open_,) = cli(OWNER, rpc, "datanet", "create", "--policy", "open", "--metadata", "ipfs://digits-b")
        contributions: dict[int, str] = {}
        blobs = digits.example_contributions(6, EXAMPLES_EACH)
        for i, blob in enumerate(blobs):
            key = CONTRIBUTORS[i % len(CONTRIBUTORS)]
            datanet = curated if i % 2 == 0 else open_
            path = root / f"contribution-{i}.json"
            path.write_bytes(blob)
            (line,) = cli(key, rpc, "contribute", "--datanet", str(datanet["datanetId"]), "--file", str(path),
                          "--content", str(content))
            assert line["contentHash"] == "0x" + keccak(blob).hex()
            contributions[int(line["contributionId"])] = Account.from_key(key).address
            if datanet is curated:
                (accepted,) = cli(OWNER, rpc, "accept", "--contribution", str(line["contributionId"]))
                assert accepted["status"] == "Accepted"
        model_dir = root / "model"
        datanets = f"{curated['datanetId']},{open_['datanetId']}"
        cli(OWNER, rpc, "train", "--kind", "digits", "--datanets", datanets, "--content", str(content),
            "--out", str(model_dir))
        cli(None, None, "index", "--model-dir", str(model_dir))
        (registered,) = cli(OWNER, rpc, "register-model", "--model-dir", str(model_dir), "--fee", "10OPEN",
                            "--owner-share-bps", str(OWNER_SHARE_BPS))
        model_id = int(registered["modelId"])
        for key in (HONEST, DISHONEST, VERIFIER):
            (staked,) = cli(key, rpc, "stake", "--amount", "1000OPEN")
            assert staked["activeProvider"] is True
        services.append(Service(HONEST, node, model_dir, model_id, root / "honest"))
        services.append(Service(DISHONEST, node, model_dir, model_id, root / "dishonest",
                                module="tests.e2e.dishonest_provider"))
        _, _, x_test, _ = digits.load_digits_split()
        inputs = [digits.input_bytes(x_test[i]) for i in range(8)]
        yield World(node, root, model_dir, load_served_model(model_dir), model_id, contributions, services[0],
                    services[1], Economy(rpc), inputs)
    finally:
        for service in services:
            service.stop()
        node.stop()


def settled(world: World, inference_id: int) -> Any:
    events = [e for e in world.chain.settled_events(model_id=world.model_id) if e.inference_id == inference_id]
    return events[0] if events else None


def shares(world: World, ids: tuple[int, ...], weights: tuple[int, ...]) -> dict[str, int]:
    protocol_bps = int(world.chain.call("PayableAI", "protocolShareBps"))
    _, _, amounts = split_fee(FEE, protocol_bps, OWNER_SHARE_BPS, list(weights))
    paid: dict[str, int] = {}
    for cid, amount in zip(ids, amounts, strict=True):
        paid[world.contributions[cid]] = paid.get(world.contributions[cid], 0) + amount
    return paid


def test_honest_inference_is_settled_finalized_and_claimed_to_the_wei(world: World) -> None:
    data = world.inputs[0]
    inference_id = world.request(data)
    answer = world.honest.infer(inference_id, data)
    truth = attribute_query(world.served, world.model_id, data)
    assert answer["attributionHash"] == "0x" + truth.attribution_hash.hex()
    assert [(c["id"], c["weight"]) for c in answer["contributions"]] == truth.split
    record = requests.get(f"{world.honest.url}/content/{answer['queryHash']}", timeout=10).content
    assert QueryRecord.decode(record) == truth.record

    event = wait_until(lambda: settled(world, inference_id), what="the settlement", timeout=60)
    assert (event.query_hash, event.attribution_hash) == (truth.query_hash, truth.attribution_hash)
    lines = [line for line in world.verify(VERIFIER, "watcher") if line["inferenceId"] == inference_id]
    assert [line["verdict"] for line in lines] == ["agrees"]

    before = {address: world.chain.claimable(address) for address in set(world.contributions.values())}
    world.advance(int(world.chain.call("PayableAI", "disputeWindow")) + 1)
    wait_until(lambda: world.chain.inference(inference_id).status == "Finalized", what="the service to finalize", timeout=60)
    expected = shares(world, truth.ids, truth.weights)
    assert expected and all(amount > 0 for amount in expected.values())
    for address, was in before.items():
        assert world.chain.claimable(address) - was == expected.get(address, 0)

    # Every paid contributor claims through the command line: the balance grows by exactly the claim.
    for key in CONTRIBUTORS:
        address = Account.from_key(key).address
        owed = world.chain.claimable(address)
        if owed == 0:
            continue
        balance = world.chain.w3.eth.get_balance(address)
        (claimed,) = cli(key, world.node.http, "claim")
        assert int(claimed["amount"]) == owed
        (event,) = world.chain.events("PayableAI", "Claimed", {"account": address})
        receipt = world.chain.w3.eth.get_transaction_receipt(event["transactionHash"])
        gas = receipt["gasUsed"] * receipt["effectiveGasPrice"]
        assert world.chain.w3.eth.get_balance(address) == balance + owed - gas
        assert world.chain.claimable(address) == 0


def test_dishonest_settlement_is_disputed_outvoted_slashed_and_replaced(world: World) -> None:
    # Both verifiers start from the current head, as watchers that were already running.
    world.verify(VERIFIER, "disputer")
    world.verify(HONEST, "voter", "--vote")
    data = world.inputs[1]
    inference_id = world.request(data)
    answer = world.dishonest.infer(inference_id, data)
    truth = attribute_query(world.served, world.model_id, data)
    assert answer["output"] == "0x" + truth.record.output.hex()
    assert answer["attributionHash"] != "0x" + truth.attribution_hash.hex()
    event = wait_until(lambda: settled(world, inference_id), what="the dishonest settlement", timeout=60)
    assert event.provider == Account.from_key(DISHONEST).address
    dishonest_stake = world.chain.provider_info(event.provider)["stake"]

    (disputed,) = [line for line in world.verify(VERIFIER, "disputer") if line["inferenceId"] == inference_id]
    assert disputed["verdict"] == "disputed"
    assert disputed["recomputedAttributionHash"] == "0x" + truth.attribution_hash.hex()
    dispute_id = int(disputed["disputeId"])
    assert world.chain.inference(inference_id).dispute_state == "Open"

    voted = [line for line in world.verify(HONEST, "voter", "--vote") if line["inferenceId"] == inference_id]
    assert [line["verdict"] for line in voted] == ["differs", "voted"]
    ballot = world.chain.call("AttributionStaking", "ballot", dispute_id, Account.from_key(HONEST).address)
    assert bytes(ballot[0]) == truth.attribution_hash

    before = {address: world.chain.claimable(address) for address in set(world.contributions.values())}
    world.advance(int(world.chain.call("AttributionStaking", "votingPeriod")))
    resolved = [line for line in world.verify(HONEST, "voter", "--vote") if line["inferenceId"] == inference_id]
    assert [(line["verdict"], line.get("detail")) for line in resolved] == [("resolved", "overturned")]
    after = world.chain.inference(inference_id)
    assert (after.dispute_state, after.query_hash, after.attribution_hash) == (
        "Overturned", truth.query_hash, truth.attribution_hash)
    slash_bps = int(world.chain.call("AttributionStaking", "slashBps"))
    assert world.chain.provider_info(event.provider)["stake"] == dishonest_stake - dishonest_stake * slash_bps // 10_000

    # The corrected split is what finalize pays, to the wei (an overturned settlement
    # can be finalized at once; anyone may, the test does unless a service did first).
    if world.chain.inference(inference_id).status == "Settled":
        Economy(world.node.http, Account.from_key(USER)).finalize(inference_id, truth.ids, truth.weights)
    assert world.chain.inference(inference_id).status == "Finalized"
    expected = shares(world, truth.ids, truth.weights)
    for address, was in before.items():
        assert world.chain.claimable(address) - was == expected.get(address, 0)
    assert [line["verdict"] for line in world.verify(VERIFIER, "disputer") if line["inferenceId"] == inference_id] \
        == ["agrees"]  # the overturned split, rechecked


def test_unanswered_request_is_refunded_after_its_deadline(world: World) -> None:
    user = Economy(world.node.http, Account.from_key(USER))
    inference_id = world.request(world.inputs[2])
    request = world.chain.inference(inference_id)
    assert request.status == "Requested"
    world.advance(request.deadline - int(world.node.rpc("eth_getBlockByNumber", "latest", False)["timestamp"], 16) + 1)
    balance = world.chain.w3.eth.get_balance(user.address)
    receipt = user.refund(inference_id)
    gas = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert world.chain.w3.eth.get_balance(user.address) == balance + FEE - gas
    assert world.chain.inference(inference_id).status == "Refunded"
    # Nobody can serve it any more: the honest service refuses it.
    response = requests.post(f"{world.honest.url}/v1/inferences",
                             json={"inferenceId": inference_id, "input": "0x" + world.inputs[2].hex()}, timeout=30)
    assert (response.status_code, response.json()["error"]["code"]) == (402, "payment_required"), response.text
