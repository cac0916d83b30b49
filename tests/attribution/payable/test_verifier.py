"""The verifier against a real node process: settlements of a trained digits model
posted by a staked provider, query records served over HTTP, and the
`openledger-attribution verify` command (and its `Verifier` loop) checking them:
an honest settlement agrees, a perturbed split or a wrong output is disputed with
the recomputed hash, a missing record is retried, a record of another input is
not disputed, a cursor that is re-read or restarted handles nothing twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from eth_account import Account
from eth_hash.auto import keccak

from attribution.examples import digits
from attribution.payable.chain import Economy
from attribution.payable.content import ContentStore
from attribution.payable.models import (
    Attribution,
    ServedModel,
    attribute_query,
    load_served_model,
)
from attribution.payable.verifier import (
    REORG_DEPTH,
    STATE_FILE,
    EconomyChain,
    Verifier,
    VerifierError,
    VerifierState,
    content_fetcher,
)
from openledger_node.execution.genesis import dev_private_keys
from tests.rpc.helpers import NodeProcess, start_node

REPO = Path(__file__).resolve().parents[3]
OPEN = 10**18
FEE = 10 * OPEN
CONTRIBUTIONS = 6
EXAMPLES_EACH = 20


class LyingEndpoint:
    """An HTTP endpoint that answers every ``GET /content/0x<hash>`` with the same wrong bytes."""

    def __init__(self, body: bytes) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@dataclass
class Economy_:
    node: NodeProcess
    model_dir: Path
    served: ServedModel
    model_id: int
    provider: Economy
    user: Economy
    verifier_key: bytes
    content: ContentStore
    content_dir: Path
    inputs: list[bytes] = field(default_factory=list)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Economy_]:
    root = tmp_path_factory.mktemp("verifier")
    node = start_node(root / "data", mode="instant")
    try:
        keys = dev_private_keys()
        owner, provider, user = (Economy(node.http, Account.from_key(k)) for k in keys[1:4])
        contributors = [Economy(node.http, Account.from_key(k)) for k in keys[4:7]]
        datanet_id = owner.create_datanet("ipfs://digits", "open")
        blobs = digits.example_contributions(CONTRIBUTIONS, EXAMPLES_EACH)
        tagged = []
        for i, blob in enumerate(blobs):
            tagged.append((contributors[i % len(contributors)].contribute(datanet_id, keccak(blob), ""), blob))
        model_dir = root / "model"
        digits.train(tagged, model_dir)
        digits.build_index(model_dir)
        served = load_served_model(model_dir)
        model_id = owner.register_model(served.index_version, [datanet_id], FEE, 2_000)
        provider.stake(1_000 * OPEN)
        _, _, x_test, _ = digits.load_digits_split()
        inputs = [digits.input_bytes(x_test[i]) for i in range(40)]
        yield Economy_(node, model_dir, served, model_id, provider, user, keys[7], ContentStore(root / "content"),
                       root / "content", inputs)
    finally:
        node.stop()


def settle(s: Economy_, input: bytes, *, output: bytes | None = None, perturb: bool = False,
           publish: bool = True, record_input: bytes | None = None) -> tuple[int, Attribution]:
    """Request an inference of ``input`` and settle it as the provider, honestly unless told otherwise."""
    inference_id = s.user.request_inference(s.model_id, keccak(input), FEE)
    attribution = attribute_query(s.served, s.model_id, record_input or input, output)
    ids, weights = list(attribution.ids), list(attribution.weights)
    if perturb:
        assert len(ids) >= 2
        weights[0] -= 1
        weights[-1] += 1
    if publish:
        s.content.put(attribution.record.encode())
    s.provider.settle(inference_id, attribution.query_hash, ids, weights)
    return inference_id, attribution


def verify_cli(s: Economy_, state: Path, *extra: str, model_id: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPENLEDGER_PRIVATE_KEY": "0x" + s.verifier_key.hex()}
    return subprocess.run(
        [sys.executable, "-m", "attribution.cli", "verify", "--model-dir", str(s.model_dir),
         "--model-id", str(model_id or s.model_id), "--rpc", s.node.http, "--content", str(s.content_dir),
         "--state", str(state), "--once", "--json", *extra],
        check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )


def in_process(s: Economy_, state_dir: Path, sources: list[str] | None = None, *, key: bytes | None = None,
               vote: bool = False) -> Verifier:
    chain = EconomyChain(Economy(s.node.http, Account.from_key(key or s.verifier_key)))
    state = VerifierState.load(state_dir, chain.chain_id(), s.model_id)
    return Verifier(chain, s.served, s.model_id, content_fetcher(sources or [str(s.content_dir)]), state, vote=vote)


def test_verify_agrees_with_honest_and_disputes_perturbed_settlement_succeeds(setup: Economy_, tmp_path: Path) -> None:
    honest_id, honest = settle(setup, setup.inputs[0])
    wrong_id, wrong = settle(setup, setup.inputs[1], perturb=True)
    run = verify_cli(setup, tmp_path)
    assert run.returncode == 0, run.stderr
    lines = {line["inferenceId"]: line for line in map(json.loads, run.stdout.splitlines())}
    assert lines[honest_id]["verdict"] == "agrees"
    assert lines[honest_id]["recomputedAttributionHash"] == "0x" + honest.attribution_hash.hex()
    assert lines[wrong_id]["verdict"] == "disputed"
    assert lines[wrong_id]["recomputedAttributionHash"] == "0x" + wrong.attribution_hash.hex()
    assert lines[wrong_id]["settledAttributionHash"] != lines[wrong_id]["recomputedAttributionHash"]

    chain = setup.provider
    assert chain.inference(honest_id).dispute_state == "None"
    assert chain.inference(wrong_id).dispute_state == "Open"
    opened = chain.events("AttributionStaking", "DisputeOpened", {"inferenceId": wrong_id})
    assert len(opened) == 1
    assert opened[0]["disputeId"] == lines[wrong_id]["disputeId"]
    assert opened[0]["claimedAttributionHash"] == wrong.attribution_hash
    assert opened[0]["disputer"] == Account.from_key(setup.verifier_key).address

    # The cursor persisted: a second run re-reads the last blocks and handles nothing again.
    again = verify_cli(setup, tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout == ""
    assert len(chain.events("AttributionStaking", "DisputeOpened", {"inferenceId": wrong_id})) == 1


def test_verify_wrong_output_is_disputed_with_the_recomputed_output_succeeds(setup: Economy_, tmp_path: Path) -> None:
    input = setup.inputs[2]
    true_output = setup.served.infer(setup.served.parse_input(input))
    lie = bytes([(true_output[0] + 1) % 10])
    inference_id, _ = settle(setup, input, output=lie)  # an honest split of a wrong output
    checks = in_process(setup, tmp_path).run_once()
    (check,) = [c for c in checks if c.inference_id == inference_id]
    assert check.verdict == "disputed"
    assert f"record output 0x{lie.hex()}, recomputed 0x{true_output.hex()}" in check.detail
    assert check.recomputed_hash == attribute_query(setup.served, setup.model_id, input).attribution_hash
    assert setup.provider.inference(inference_id).dispute_state == "Open"


def test_verify_missing_record_is_retried_until_published_succeeds(setup: Economy_, tmp_path: Path) -> None:
    verifier = in_process(setup, tmp_path)
    verifier.run_once()
    inference_id, attribution = settle(setup, setup.inputs[3], publish=False)
    (check,) = verifier.run_once()
    assert (check.inference_id, check.verdict) == (inference_id, "pending")
    assert "not found at any content endpoint" in check.detail
    verifier.state.save(tmp_path)

    # Past the re-read window and after a restart, the pending settlement is still retried.
    for _ in range(REORG_DEPTH + 1):
        setup.node.rpc("evm_mine")
    restarted = in_process(setup, tmp_path)
    assert restarted.run_once() == []  # still not published: pending, no line
    setup.content.put(attribution.record.encode())
    (check,) = restarted.run_once()
    assert (check.inference_id, check.verdict) == (inference_id, "agrees")
    assert restarted.run_once() == []


def test_verify_record_of_another_input_is_not_disputed_succeeds(setup: Economy_, tmp_path: Path) -> None:
    inference_id, _ = settle(setup, setup.inputs[4], record_input=setup.inputs[5])
    checks = [c for c in in_process(setup, tmp_path).run_once() if c.inference_id == inference_id]
    assert [c.verdict for c in checks] == ["unverifiable"]
    assert f"inference {inference_id} requested 0x{keccak(setup.inputs[4]).hex()}" in checks[0].detail
    assert setup.provider.inference(inference_id).dispute_state == "None"


def test_verify_reread_and_crash_before_save_dispute_once_succeeds(setup: Economy_, tmp_path: Path) -> None:
    verifier = in_process(setup, tmp_path)
    verifier.run_once()
    verifier.state.save(tmp_path)
    inference_id, _ = settle(setup, setup.inputs[6], perturb=True)
    (check,) = verifier.run_once()
    assert (check.inference_id, check.verdict) == (inference_id, "disputed")
    # Every pass re-reads the last REORG_DEPTH blocks: the same log is skipped.
    assert verifier.run_once() == []
    # A crash after the dispute but before the state was saved: the restarted
    # verifier sees the settlement again, and the chain tells it it is disputed.
    (again,) = in_process(setup, tmp_path).run_once()
    assert (again.inference_id, again.verdict) == (inference_id, "differs")
    assert "already disputed" in again.detail
    assert len(setup.provider.events("AttributionStaking", "DisputeOpened", {"inferenceId": inference_id})) == 1


def test_verify_state_of_another_model_reverts(setup: Economy_, tmp_path: Path) -> None:
    assert verify_cli(setup, tmp_path).returncode == 0
    assert (tmp_path / STATE_FILE).is_file()
    run = verify_cli(setup, tmp_path, model_id=setup.model_id + 1)
    assert run.returncode == 2
    assert f"belongs to chain 161299 model {setup.model_id}, not chain 161299 model {setup.model_id + 1}" in run.stderr
    with pytest.raises(VerifierError, match="use another --state directory"):
        VerifierState.load(tmp_path, 1, setup.model_id)


def test_verify_without_key_reverts(setup: Economy_, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENLEDGER_PRIVATE_KEY"}
    run = subprocess.run(
        [sys.executable, "-m", "attribution.cli", "verify", "--model-dir", str(setup.model_dir),
         "--model-id", str(setup.model_id), "--rpc", setup.node.http, "--content", str(setup.content_dir),
         "--state", str(tmp_path), "--once"],
        check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 2
    assert run.stderr.startswith("openledger-attribution verify: error: no signing key")


def test_verify_skips_an_endpoint_serving_other_bytes_succeeds(setup: Economy_, tmp_path: Path) -> None:
    liar = LyingEndpoint(b"not the record")
    verifier = in_process(setup, tmp_path, [liar.url])
    verifier.run_once()
    inference_id, _ = settle(setup, setup.inputs[8])
    (check,) = [c for c in verifier.run_once() if c.inference_id == inference_id]
    assert check.verdict == "pending"
    assert f"served bytes whose keccak256 is 0x{keccak(b'not the record').hex()}" in check.detail
    verifier.state.save(tmp_path)
    # The same settlement through the liar first, then an honest store: checked.
    checks = in_process(setup, tmp_path, [liar.url, str(setup.content_dir)]).run_once()
    assert [c.verdict for c in checks if c.inference_id == inference_id] == ["agrees"]


def test_verify_vote_overturns_a_wrong_settlement_and_slashes_its_provider_succeeds(
        setup: Economy_, tmp_path: Path) -> None:
    keys = dev_private_keys()
    Economy(setup.node.http, Account.from_key(setup.verifier_key)).stake(1_000 * OPEN)
    Economy(setup.node.http, Account.from_key(keys[8])).stake(1_000 * OPEN)
    watcher = in_process(setup, tmp_path / "watcher")  # the disputer, a staked provider: its vote is cast with the dispute
    voter = in_process(setup, tmp_path / "voter", key=keys[8], vote=True)
    watcher.run_once()
    voter.run_once()
    stake_before = setup.provider.provider_info()["stake"]

    inference_id, truth = settle(setup, setup.inputs[9], perturb=True)
    (disputed,) = [c for c in watcher.run_once() if c.inference_id == inference_id]
    assert disputed.verdict == "disputed"
    # The voter sees the settlement already disputed, and votes its own hash in the dispute.
    assert [c.verdict for c in voter.run_once() if c.inference_id == inference_id] == ["differs", "voted"]
    assert [c for c in voter.run_once() if c.inference_id == inference_id] == []  # once
    ballot = setup.provider.call("AttributionStaking", "ballot", disputed.dispute_id, Account.from_key(keys[8]).address)
    assert bytes(ballot[0]) == truth.attribution_hash

    setup.node.advance_time(int(setup.provider.call("AttributionStaking", "votingPeriod")))
    (resolved,) = [c for c in voter.run_once() if c.inference_id == inference_id]
    assert (resolved.verdict, resolved.detail, resolved.dispute_id) == ("resolved", "overturned", disputed.dispute_id)
    after = setup.provider.inference(inference_id)
    assert (after.dispute_state, after.query_hash, after.attribution_hash) == (
        "Overturned", truth.query_hash, truth.attribution_hash)
    slash_bps = int(setup.provider.call("AttributionStaking", "slashBps"))
    assert setup.provider.provider_info()["stake"] == stake_before - stake_before * slash_bps // 10_000
    # The replacement split is checked like any settlement, and agrees.
    assert [(c.event, c.verdict) for c in watcher.run_once() if c.inference_id == inference_id] == [
        ("overturned", "agrees")]


def test_verify_after_the_dispute_window_does_not_dispute_succeeds(setup: Economy_, tmp_path: Path) -> None:
    if not setup.provider.is_active_provider():  # slashed by an overturn above
        setup.provider.stake(1_000 * OPEN)
    verifier = in_process(setup, tmp_path)
    verifier.run_once()
    inference_id, _ = settle(setup, setup.inputs[7], perturb=True)
    window = int(setup.provider.call("PayableAI", "disputeWindow"))
    setup.node.advance_time(window + 1)
    (check,) = verifier.run_once()
    assert (check.inference_id, check.verdict) == (inference_id, "differs")
    assert "dispute window closed" in check.detail
    assert setup.provider.inference(inference_id).dispute_state == "None"
