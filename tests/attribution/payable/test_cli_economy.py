"""The contributor and model-owner commands of `openledger-attribution`, each run
as its own process from a directory outside the repository against a real node:
a curated datanet, contributions put in a content store that `content-serve`
serves, acceptance, training from the chain (every blob checked against its
on-chain contentHash), the index, registration, a paid request, a settlement,
earnings and a claim; reverts printed by their decoded names; keys from the
environment or a keystore, never from the command line."""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_hash.auto import keccak
from web3 import Web3

from attribution.payable.chain import Economy
from attribution.payable.content import fetch_content
from openledger_node.execution.genesis import dev_private_keys
from tests.rpc.helpers import NodeProcess, start_node

CLI = str(Path(sys.executable).parent / "openledger-attribution")
OPEN = 10**18
WEIGHT_DENOMINATOR = 1_000_000
KEYS = dev_private_keys()
CURATOR, ALICE, BOB, OWNER, PROVIDER, USER = KEYS[4:10]


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        assert self.code == 0, self.stderr
        lines = [json.loads(line) for line in self.stdout.splitlines() if line.strip()]
        return lines[0] if len(lines) == 1 else lines


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    running = start_node(tmp_path_factory.mktemp("economy") / "data", mode="instant")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Commands run from here, so nothing they do depends on the repository being the cwd.
    return tmp_path_factory.mktemp("cwd")


def cli(workdir: Path, node: NodeProcess, *args: str, key: bytes | None = None,
        env: dict[str, str] | None = None, timeout: float = 300) -> Run:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OPENLEDGER_")}
    environ["OPENLEDGER_RPC_URL"] = node.http
    if key is not None:
        environ["OPENLEDGER_PRIVATE_KEY"] = "0x" + key.hex()
    environ.update(env or {})
    done = subprocess.run([CLI, *args], check=False, cwd=workdir, env=environ, capture_output=True, text=True, timeout=timeout)
    return Run(done.returncode, done.stdout, done.stderr)


def call(workdir: Path, node: NodeProcess, *args: str, key: bytes | None = None,
         env: dict[str, str] | None = None) -> Run:
    """`cli` in this process (same entry point, same environment rules): for the
    refusals, so the suite does not pay a Python start-up for each of them."""
    from attribution.cli import main

    saved, cwd = dict(os.environ), os.getcwd()
    out, err = io.StringIO(), io.StringIO()
    try:
        for name in [k for k in os.environ if k.startswith("OPENLEDGER_")]:
            del os.environ[name]
        os.environ["OPENLEDGER_RPC_URL"] = node.http
        if key is not None:
            os.environ["OPENLEDGER_PRIVATE_KEY"] = "0x" + key.hex()
        os.environ.update(env or {})
        os.chdir(workdir)
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse refusing the command line
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(saved)
    return Run(code, out.getvalue(), err.getvalue())


def one_line_error(run: Run, code: int) -> str:
    assert run.code == code, (run.code, run.stdout, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    return lines[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def content_server(tmp_path_factory: pytest.TempPathFactory, workdir: Path) -> Iterator[tuple[str, Path]]:
    store = tmp_path_factory.mktemp("store")
    port = free_port()
    proc = subprocess.Popen([CLI, "content-serve", "--dir", str(store), "--listen", f"127.0.0.1:{port}"],
                            cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"content-serve did not start: {proc.stdout.read() if proc.stdout else ''}") from None
            time.sleep(0.1)
    yield url, store
    proc.terminate()
    proc.wait(timeout=10)


def test_payable_ai_loop_through_the_cli_succeeds(node: NodeProcess, workdir: Path,
                                                  content_server: tuple[str, Path]) -> None:
    from attribution.examples import digits
    from attribution.payable.models import attribute_query, load_served_model

    url, store = content_server
    w3 = Web3(Web3.HTTPProvider(node.http))

    created = cli(workdir, node, "datanet", "create", "--policy", "curated", "--metadata", "ipfs://digits", "--json",
                  key=CURATOR).json()
    datanet_id = created["datanetId"]
    assert created["owner"] == Account.from_key(CURATOR).address

    blobs = digits.example_contributions(2, 40)
    contributions = []
    for key, blob, name in ((ALICE, blobs[0], "alice.json"), (BOB, blobs[1], "bob.json")):
        (workdir / name).write_bytes(blob)
        out = cli(workdir, node, "contribute", "--datanet", str(datanet_id), "--file", name, "--content", str(store),
                  "--json", key=key).json()
        assert out["contentHash"] == "0x" + keccak(blob).hex()
        assert out["status"] == "Pending"
        assert (store / keccak(blob).hex()).read_bytes() == blob
        contributions.append(out["contributionId"])
    # Submitting the same content again is refused by the registry, by name.
    again = call(workdir, node, "contribute", "--datanet", str(datanet_id), "--file", "alice.json",
                "--content", str(store), key=ALICE)
    assert one_line_error(again, 1).endswith(
        f"DuplicateContent(datanetId={datanet_id}, contentHash=0x{keccak(blobs[0]).hex()}, "
        f"existingContributionId={contributions[0]})")

    model_dir = workdir / "model"
    nothing = call(workdir, node, "train", "--kind", "digits", "--datanets", str(datanet_id), "--content", url,
                  "--out", str(model_dir))
    assert "no accepted contributions" in one_line_error(nothing, 2)

    # Only the owner or a curator accepts; a contribution is decided once.
    stranger = call(workdir, node, "accept", "--contribution", str(contributions[0]), key=USER)
    assert one_line_error(stranger, 1).endswith(
        f"NotCuratorOrOwner(datanetId={datanet_id}, caller={Account.from_key(USER).address})")
    for cid in contributions:
        assert cli(workdir, node, "accept", "--contribution", str(cid), "--json", key=CURATOR).json()["status"] == "Accepted"
    twice = call(workdir, node, "accept", "--contribution", str(contributions[0]), key=CURATOR)
    assert one_line_error(twice, 1).endswith(f"ContributionNotPending(contributionId={contributions[0]}, status=Accepted)")

    trained = cli(workdir, node, "train", "--kind", "digits", "--datanets", str(datanet_id), "--content", url,
                  "--out", str(model_dir), "--json").json()
    assert trained["contributions"] == sorted(contributions)
    provenance = json.loads((model_dir / "provenance.json").read_text())
    assert provenance["datanets"] == [datanet_id]
    assert {c["contentHash"] for c in provenance["contributions"]} == {"0x" + keccak(b).hex() for b in blobs}
    indexed = cli(workdir, node, "index", "--model-dir", str(model_dir), "--json").json()
    model_json = (model_dir / "model.json").read_bytes()
    assert indexed["indexVersion"] == "0x" + keccak(model_json).hex()
    assert json.loads(model_json)["index"] is not None

    registered = cli(workdir, node, "register-model", "--model-dir", str(model_dir), "--fee", "2OPEN",
                     "--owner-share-bps", "2000", "--json", key=OWNER).json()
    model_id = registered["modelId"]
    weights = json.loads(model_json)["weights"]
    expected_weights_hash = hashlib.sha256((model_dir / weights["file"]).read_bytes()).digest()
    economy = Economy(node.http, Account.from_key(PROVIDER))
    on_chain = economy.model(model_id)
    assert (on_chain.weights_hash, on_chain.datanet_ids, on_chain.fee, on_chain.owner_share_bps) == (
        expected_weights_hash, (datanet_id,), 2 * OPEN, 2_000)

    _, _, x_test, _ = digits.load_digits_split()
    image = digits.input_bytes(x_test[0])
    (workdir / "query.bin").write_bytes(image)
    unknown = call(workdir, node, "request", "--model-id", "999", "--input-file", "query.bin", "--fee", "1", key=USER)
    assert one_line_error(unknown, 1).endswith("UnknownModel(modelId=999)")
    wrong_fee = call(workdir, node, "request", "--model-id", str(model_id), "--input-file", "query.bin", "--fee", "1OPEN",
                    key=USER)
    assert one_line_error(wrong_fee, 1).endswith(f"IncorrectFee(sent={OPEN}, required={2 * OPEN})")
    requested = cli(workdir, node, "request", "--model-id", str(model_id), "--input-file", "query.bin", "--json",
                    key=USER).json()
    inference_id = requested["inferenceId"]
    assert requested["inputHash"] == "0x" + keccak(image).hex()
    event = economy.events("PayableAI", "InferenceRequested", {"inferenceId": inference_id})[0]
    assert (event["inputHash"], event["fee"], event["modelId"]) == (keccak(image), 2 * OPEN, model_id)

    staked = cli(workdir, node, "stake", "--amount", "1000OPEN", "--json", key=PROVIDER).json()
    assert staked["stake"] >= 1000 * OPEN and staked["activeProvider"] is True

    # The provider's side (the service does this): attribute, settle, and after the window finalize.
    attribution = attribute_query(load_served_model(model_dir), model_id, image)
    economy.settle(inference_id, attribution.query_hash, attribution.ids, attribution.weights)
    window = economy.inference(inference_id).dispute_deadline - w3.eth.get_block("latest")["timestamp"]
    node.advance_time(window + 1)
    economy.finalize(inference_id, attribution.ids, attribution.weights)

    pool = 2 * OPEN - 2 * OPEN * 500 // 10_000 - 2 * OPEN * 2_000 // 10_000
    share = {cid: pool * w // WEIGHT_DENOMINATOR for cid, w in attribution.split}
    for key, cid in ((ALICE, contributions[0]), (BOB, contributions[1])):
        address = Account.from_key(key).address
        lines = cli(workdir, node, "earnings", "--contributor", address, "--json").json()
        lines = lines if isinstance(lines, list) else [lines]
        summary = lines[-1]
        earned = share.get(cid, 0)
        assert summary == {"contributor": address, "total": earned, "claimable": earned}
        assert lines[:-1] == ([{"contributionId": cid, "total": earned,
                                "inferences": [{"inferenceId": inference_id, "amount": earned,
                                                "block": lines[0]["inferences"][0]["block"]}]}] if earned else [])
    paid = next(cid for cid in contributions if share.get(cid))
    payee = ALICE if paid == contributions[0] else BOB
    before = w3.eth.get_balance(Account.from_key(payee).address)
    claimed = cli(workdir, node, "claim", "--json", key=payee).json()
    assert claimed["amount"] == share[paid]
    assert w3.eth.get_balance(Account.from_key(payee).address) > before
    empty = call(workdir, node, "claim", key=payee)
    assert one_line_error(empty, 1).endswith(f"NothingToClaim(account={Account.from_key(payee).address})")
    human = call(workdir, node, "earnings", key=payee)
    assert human.code == 0 and f"contribution {paid}:" in human.stdout and "claimable 0 OPEN" in human.stdout


def test_train_refuses_content_that_does_not_match_its_hash_on_chain(node: NodeProcess, workdir: Path,
                                                                     tmp_path: Path) -> None:
    from attribution.examples import digits

    blob = digits.example_contributions(1, 10, offset=200)[0]
    store = tmp_path / "store"
    datanet_id = call(workdir, node, "datanet", "create", "--json", key=CURATOR).json()["datanetId"]
    (tmp_path / "c.json").write_bytes(blob)
    call(workdir, node, "contribute", "--datanet", str(datanet_id), "--file", str(tmp_path / "c.json"),
        "--content", str(store), "--json", key=ALICE).json()
    # The store now holds other bytes under the registered hash.
    (store / keccak(blob).hex()).write_bytes(digits.example_contributions(1, 10, offset=300)[0])
    refused = call(workdir, node, "train", "--kind", "digits", "--datanets", str(datanet_id), "--content", str(store),
                  "--out", str(tmp_path / "model"))
    line = one_line_error(refused, 2)
    assert f"content 0x{keccak(blob).hex()} unavailable" in line and "keccak256 is 0x" in line
    assert not (tmp_path / "model" / "model.json").exists()


def test_keys_come_from_the_environment_or_a_keystore(node: NodeProcess, workdir: Path, tmp_path: Path) -> None:
    account = Account.create()
    funder = Economy(node.http, Account.from_key(KEYS[3]))
    funder.w3.eth.wait_for_transaction_receipt(funder.w3.eth.send_raw_transaction(funder.account.sign_transaction({
        "to": account.address, "value": 10 * OPEN, "gas": 21_000, "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9,
        "nonce": funder.w3.eth.get_transaction_count(funder.account.address), "chainId": funder.w3.eth.chain_id,
    }).raw_transaction))
    keystore = tmp_path / "key.json"
    keystore.write_text(json.dumps(Account.encrypt(account.key, "correct horse", iterations=2**10)))

    created = cli(workdir, node, "datanet", "create", "--keystore", str(keystore), "--json",
                  env={"OPENLEDGER_KEYSTORE_PASSWORD": "correct horse"}).json()
    assert created["owner"] == account.address

    wrong = call(workdir, node, "datanet", "create", "--keystore", str(keystore),
                env={"OPENLEDGER_KEYSTORE_PASSWORD": "wrong"})
    assert f"cannot decrypt keystore {keystore}" in one_line_error(wrong, 2)
    no_password = call(workdir, node, "datanet", "create", "--keystore", str(keystore))
    assert "OPENLEDGER_KEYSTORE_PASSWORD" in one_line_error(no_password, 2)
    no_key = call(workdir, node, "stake", "--amount", "1")
    assert "no signing key: set OPENLEDGER_PRIVATE_KEY" in one_line_error(no_key, 2)
    bad_key = call(workdir, node, "stake", "--amount", "1", env={"OPENLEDGER_PRIVATE_KEY": "0x1234"})
    assert "OPENLEDGER_PRIVATE_KEY is not a 32-byte hex private key" in one_line_error(bad_key, 2)
    # A key is never an argument.
    assert call(workdir, node, "stake", "--amount", "1", "--private-key", "0x" + KEYS[0].hex()).code == 2


def test_unreachable_node_is_one_line(workdir: Path, node: NodeProcess) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    run = call(workdir, node, "datanet", "create", "--rpc", dead, key=CURATOR)
    assert one_line_error(run, 1).endswith(f"cannot reach a node at {dead}")


def test_content_serve_answers_absent_content_with_a_json_404(content_server: tuple[str, Path]) -> None:
    import urllib.error
    import urllib.request

    url, store = content_server
    data = b"served bytes"
    (store / keccak(data).hex()).write_bytes(data)
    assert fetch_content(url, keccak(data)) == data
    absent = keccak(b"absent")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{url}/content/0x{absent.hex()}", timeout=10)
    assert info.value.code == 404
    assert json.loads(info.value.read())["error"]["code"] == "content_not_found"
