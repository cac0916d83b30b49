"""The text model kind through the Payable-AI loop on a real node: twelve text
contributions by four contributors in three datanets, the model trained from
the chain by `openledger-attribution train --kind text` (every blob checked
against its contentHash) and indexed, registered, a paid prompt that echoes one
contributor's phrase served by `openledger-attribution serve`, settled with
that contributor taking most of the split, finalized and paid out."""

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

from attribution.examples import text
from attribution.payable.chain import Economy
from attribution.payable.content import ContentStore
from attribution.payable.models import attribute_query, load_served_model
from attribution.payable.record import QueryRecord, input_hash
from attribution.split import WEIGHT_DENOMINATOR, split_fee
from openledger_node.execution.genesis import dev_private_keys
from tests.processes import stop_process_group
from tests.rpc.helpers import NodeProcess, start_node, wait_until

CLI = str(Path(sys.executable).parent / "openledger-attribution")
OPEN = 10**18
FEE = OPEN
OWNER_SHARE_BPS = 2_000
KEYS = dev_private_keys()
CURATOR, OWNER, PROVIDER, USER = KEYS[6:10]
CONTRIBUTORS = KEYS[2:6]


@dataclass
class Loop:
    node: NodeProcess
    model_dir: Path
    model_id: int
    contributions: dict[int, bytes]  # contribution id -> blob
    user: Economy
    dispute_window: int


def _run(*args: str, cwd: Path, key: bytes | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENLEDGER_")}
    if key is not None:
        env["OPENLEDGER_PRIVATE_KEY"] = "0x" + key.hex()
    return subprocess.run([CLI, *args], check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    root = tmp_path_factory.mktemp("text-loop")
    node = start_node(root / "node", mode="instant")
    try:
        curator = Economy(node.http, Account.from_key(CURATOR))
        contributors = [Economy(node.http, Account.from_key(k)) for k in CONTRIBUTORS]
        store = ContentStore(root / "store")
        datanets: dict[str, int] = {}
        contributions: dict[int, bytes] = {}
        for n, (_, name, blob) in enumerate(text.example_datanets()):
            if name not in datanets:
                datanets[name] = curator.create_datanet(f"ipfs://{name}", "open")
            assert store.put(blob) == input_hash(blob)  # the content hash is keccak256 of the blob
            cid = contributors[n % len(contributors)].contribute(datanets[name], input_hash(blob), f"text-{n}")
            contributions[cid] = blob

        model_dir = root / "model"
        ids = ",".join(str(d) for d in datanets.values())
        trained = _run("train", "--kind", "text", "--rpc", node.http, "--datanets", ids, "--content", str(root / "store"),
                       "--out", str(model_dir), "--json", cwd=root)
        assert trained.returncode == 0, trained.stderr
        assert json.loads(trained.stdout)["contributions"] == sorted(contributions)
        indexed = _run("index", "--model-dir", str(model_dir), "--json", cwd=root)
        assert indexed.returncode == 0, indexed.stderr

        meta = json.loads((model_dir / "model.json").read_bytes())
        owner = Economy(node.http, Account.from_key(OWNER))
        model_id = owner.register_model(bytes.fromhex(meta["weights"]["sha256"]), list(datanets.values()), FEE,
                                        OWNER_SHARE_BPS, "ipfs://text-model")
        Economy(node.http, Account.from_key(PROVIDER)).stake(1_000 * OPEN)
        user = Economy(node.http, Account.from_key(USER))
        yield Loop(node, model_dir, model_id, contributions, user, user.call("PayableAI", "disputeWindow"))
    finally:
        node.stop()


class Service:
    """`openledger-attribution serve` for the text model, in its own process session."""

    def __init__(self, loop: Loop, journal: Path) -> None:
        self.log = journal.parent / "service.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENLEDGER_")}
        env.update(OPENLEDGER_PRIVATE_KEY="0x" + PROVIDER.hex(), PYTHONUNBUFFERED="1")
        argv = [CLI, "serve", "--model-dir", str(loop.model_dir),
                "--model-id", str(loop.model_id), "--rpc", loop.node.http, "--listen", "127.0.0.1:0",
                "--journal", str(journal), "--batch-window", "0.2", "--poll-interval", "0.5"]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(argv, cwd=journal.parent, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        self.url = wait_until(lambda: self._url(), what="the service to listen", timeout=90)

    def _url(self) -> str | None:
        if self.process.poll() is not None:
            raise AssertionError(f"the service exited: {self.log.read_text()}")
        match = re.search(r"on (http://127\.0\.0\.1:\d+)", self.log.read_text())
        return match.group(1) if match else None

    def post(self, inference_id: int, data: bytes) -> requests.Response:
        body: dict[str, Any] = {"inferenceId": inference_id, "input": "0x" + data.hex()}
        return requests.post(f"{self.url}/v1/inferences", json=body, timeout=60)

    def stop(self) -> None:
        stop_process_group(self.process, timeout=20)


@pytest.fixture(scope="module")
def service(loop: Loop, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    running = Service(loop, tmp_path_factory.mktemp("text-journal") / "journal")
    yield running
    running.stop()


def test_an_echoed_phrase_is_paid_to_its_contributor(loop: Loop, service: Service) -> None:
    # The beekeeper's words; the model was trained on them from the chain.
    beekeeper = next(cid for cid, blob in loop.contributions.items() if b"apiary" in blob)
    prompt = b"The beekeeper lights the smoker"
    inference_id = loop.user.request_inference(loop.model_id, input_hash(prompt), FEE)
    response = service.post(inference_id, prompt)
    assert response.status_code == 200, response.text
    answer = response.json()

    output = bytes.fromhex(answer["output"][2:])
    assert prompt + output[:30] in loop.contributions[beekeeper]
    expected = attribute_query(load_served_model(loop.model_dir), loop.model_id, prompt)
    assert answer["queryHash"] == "0x" + expected.query_hash.hex()
    assert answer["attributionHash"] == "0x" + expected.attribution_hash.hex()
    weights = {c["id"]: c["weight"] for c in answer["contributions"]}
    assert weights == dict(expected.split)
    assert weights[beekeeper] > WEIGHT_DENOMINATOR // 2
    record = QueryRecord.decode(requests.get(f"{service.url}/content/{answer['queryHash']}", timeout=10).content)
    assert (record.input, record.output) == (prompt, output)

    settled = wait_until(lambda: [s for s in loop.user.settled_events(model_id=loop.model_id)
                                if s.inference_id == inference_id], what="the settle transaction", timeout=60)
    assert list(zip(settled[0].contribution_ids, settled[0].weights)) == expected.split
    contributor = loop.user.contribution(beekeeper).contributor
    before = loop.user.claimable(contributor)
    loop.node.advance_time(loop.dispute_window + 5)
    wait_until(lambda: loop.user.inference(inference_id).status == "Finalized", what="finalize", timeout=30)
    _, _, amounts = split_fee(FEE, 500, OWNER_SHARE_BPS, list(expected.weights))
    owed = sum(amount for cid, amount in zip(expected.ids, amounts)
               if loop.user.contribution(cid).contributor == contributor)
    assert loop.user.claimable(contributor) - before == owed > FEE // 4


def test_a_prompt_that_is_not_utf8_is_refused_by_name(loop: Loop, service: Service) -> None:
    prompt = b"The keeper \xff"
    inference_id = loop.user.request_inference(loop.model_id, input_hash(prompt), FEE)
    response = service.post(inference_id, prompt)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["message"]) == ("malformed_input", "prompt is not valid UTF-8: invalid start byte at byte 11")
