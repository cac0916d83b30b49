"""The Payable-AI chain client against a real node that seals a block every
second, so transactions from one key are really in flight together: local nonce
tracking, a stale nonce resynchronised, reverts decoded into the contracts'
custom errors at estimation and from a failed receipt (two settles of one
inference racing in one block), and keys from the environment or a keystore."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from eth_abi.abi import encode
from eth_account import Account
from eth_hash.auto import keccak

from attribution.payable.chain import (
    AccountError,
    ContractRevert,
    Economy,
    decode_revert,
    load_account,
)
from attribution.split import attribution_hash
from openledger_node.execution.genesis import dev_private_keys
from openledger_node.primitives import DATANET_REGISTRY_ADDRESS
from tests.rpc.helpers import NodeProcess, start_node

OPEN = 10**18
KEYS = dev_private_keys()


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    running = start_node(tmp_path_factory.mktemp("chain") / "data", block_time=1.0, mode="interval")
    yield running
    running.stop()


@contextmanager
def one_block(economy: Economy) -> Iterator[None]:
    """Whatever is sent inside goes into one block: interval mining is off until
    the block is mined on leaving (then a block a second again)."""
    rpc = economy.w3.provider.make_request
    rpc("evm_setIntervalMining", [0])
    try:
        yield
        rpc("evm_mine", [])
    finally:
        rpc("evm_setIntervalMining", [1])


@pytest.fixture(scope="module")
def market(node: NodeProcess) -> dict[str, int]:
    """An open datanet with two contributions and a model over it."""
    owner = Economy(node.http, Account.from_key(KEYS[4]))
    datanet_id = owner.create_datanet("ipfs://d", "open")
    ids = [owner.contribute(datanet_id, keccak(bytes([i])), f"c{i}") for i in range(2)]
    model_id = owner.register_model(keccak(b"weights"), [datanet_id], OPEN, 1_000)
    return {"datanet": datanet_id, "a": ids[0], "b": ids[1], "model": model_id}


def test_requests_in_flight_from_one_key_take_consecutive_nonces_succeeds(node: NodeProcess,
                                                                         market: dict[str, int]) -> None:
    user = Economy(node.http, Account.from_key(KEYS[5]))
    start = user.w3.eth.get_transaction_count(user.address)
    with one_block(user):
        sent = [user.send("PayableAI", "requestInference", market["model"], keccak(bytes([i])), value=OPEN, wait=False)
                for i in range(6)]
    assert [s.nonce for s in sent] == list(range(start, start + 6))
    receipts = user.wait_all(sent)
    assert all(r["status"] == 1 for r in receipts)
    # They really were in flight together: all six in one block, in nonce order.
    assert len({r["blockNumber"] for r in receipts}) == 1
    assert [r["transactionIndex"] for r in receipts] == sorted(r["transactionIndex"] for r in receipts)
    requested = [user.payable.events.InferenceRequested().process_receipt(r)[0]["args"] for r in receipts]
    assert [e["inputHash"] for e in requested] == [keccak(bytes([i])) for i in range(6)]
    assert [e["requester"] for e in requested] == [user.address] * 6


def test_stale_local_nonce_is_resynchronised_succeeds(node: NodeProcess, market: dict[str, int]) -> None:
    account = Account.from_key(KEYS[6])
    ours, other = Economy(node.http, account), Economy(node.http, account)
    ours.request_inference(market["model"], keccak(b"first"))
    # Another client of the same key moves the nonce on behind our counter's back.
    other.request_inference(market["model"], keccak(b"elsewhere"))
    inference_id = ours.request_inference(market["model"], keccak(b"after"))
    assert ours.inference(inference_id).requester == account.address
    assert ours.w3.eth.get_transaction_count(account.address) == ours.resync_nonce()


def test_revert_at_estimation_is_decoded_and_spends_no_nonce(node: NodeProcess, market: dict[str, int]) -> None:
    user = Economy(node.http, Account.from_key(KEYS[7]))
    before = user.w3.eth.get_transaction_count(user.address, "pending")
    with pytest.raises(ContractRevert) as info:
        user.request_inference(market["model"], keccak(b"x"), fee=OPEN - 1)
    assert (info.value.name, info.value.arguments) == ("IncorrectFee", {"sent": OPEN - 1, "required": OPEN})
    assert str(info.value) == f"PayableAI reverted: IncorrectFee(sent={OPEN - 1}, required={OPEN})"
    with pytest.raises(ContractRevert) as info:
        user.settle(1, keccak(b"q"), [market["a"]], [1_000_000])
    assert (info.value.name, info.value.arguments) == ("NotActiveProvider", {"caller": user.address})
    with pytest.raises(ContractRevert) as info:
        user.contribution(10**9)
    assert str(info.value) == "DatanetRegistry reverted: UnknownContribution(contributionId=1000000000)"
    assert user.w3.eth.get_transaction_count(user.address, "pending") == before
    # The next send uses the nonce the refused ones did not take.
    user.request_inference(market["model"], keccak(b"y"))
    assert user.w3.eth.get_transaction_count(user.address) == before + 1


def test_settles_racing_in_one_block_fail_with_the_decoded_reason(node: NodeProcess, market: dict[str, int]) -> None:
    provider = Economy(node.http, Account.from_key(KEYS[8]))
    provider.stake(1_000 * OPEN)
    assert provider.is_active_provider()
    user = Economy(node.http, Account.from_key(KEYS[9]))
    inference_id = user.request_inference(market["model"], keccak(b"race"))
    ids, weights = [market["a"], market["b"]], [600_000, 400_000]
    query_hash = keccak(b"record")
    # Both pass gas estimation (neither is mined yet); the second loses in the block.
    with one_block(provider):
        first = provider.settle(inference_id, query_hash, ids, weights, wait=False)
        second = provider.settle(inference_id, query_hash, ids, weights, wait=False)
    receipt = provider.wait(first)
    settled = provider.settled_events(receipt["blockNumber"], receipt["blockNumber"], model_id=market["model"])
    assert [(s.inference_id, s.contribution_ids, s.weights) for s in settled] == [(inference_id, tuple(ids), tuple(weights))]
    expected = attribution_hash(market["model"], query_hash, list(zip(ids, weights)))
    assert settled[0].attribution_hash == expected == provider.inference(inference_id).attribution_hash
    with pytest.raises(ContractRevert) as info:
        provider.wait(second)
    assert (info.value.name, info.value.arguments) == ("InvalidInferenceStatus",
                                                       {"inferenceId": inference_id, "status": "Settled"})
    inference = provider.inference(inference_id)
    assert (inference.status, inference.provider, inference.query_hash) == ("Settled", provider.address, query_hash)

    # A dispute of it: the bond is checked by name, then the dispute is opened and readable.
    bond = int(user.call("AttributionStaking", "disputeBond"))
    with pytest.raises(ContractRevert) as info:
        user.dispute(inference_id, keccak(b"other split"), bond=1)
    assert (info.value.name, info.value.arguments) == ("IncorrectBond", {"sent": 1, "required": bond})
    dispute_id = user.dispute(inference_id, keccak(b"other split"))
    opened = user.dispute_info(dispute_id)
    assert (opened["inferenceId"], opened["disputer"], opened["provider"], opened["status"]) == (
        inference_id, user.address, provider.address, "Open")
    assert provider.inference(inference_id).dispute_state == "Open"


def test_decode_revert_names_strings_panics_and_unknown_data() -> None:
    assert str(decode_revert(bytes.fromhex("08c379a0") + encode(["string"], ["no"]))) == "reverted: Error(message=no)"
    assert decode_revert(bytes.fromhex("4e487b71") + encode(["uint256"], [0x11])).arguments == {"code": "0x11"}
    assert decode_revert("0xdeadbeef").arguments == {"data": "0xdeadbeef"}
    assert decode_revert(b"").name == "UnknownError"
    # A known selector with a body that does not decode is reported raw, not half-decoded.
    selector = keccak(b"UnknownModel(uint256)")[:4]
    assert decode_revert(selector + b"\x01").name == "UnknownError"
    # ModelRegistry and PayableAI both declare UnknownModel: the called contract names it.
    assert str(decode_revert(selector + encode(["uint256"], [7]))) == "reverted: UnknownModel(modelId=7)"
    assert str(decode_revert(selector + encode(["uint256"], [7]), "PayableAI")) == "PayableAI reverted: UnknownModel(modelId=7)"
    assert decode_revert(keccak(b"NothingToWithdraw(address)")[:4] + encode(["address"], [b"\x01" * 20])).contract == (
        "AttributionStaking")


def test_load_account_from_env_or_keystore(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    account = Account.create()
    monkeypatch.delenv("OPENLEDGER_PRIVATE_KEY", raising=False)
    with pytest.raises(AccountError, match="no signing key: set OPENLEDGER_PRIVATE_KEY"):
        load_account()
    monkeypatch.setenv("OPENLEDGER_PRIVATE_KEY", account.key.hex())
    assert load_account().address == account.address
    monkeypatch.setenv("OPENLEDGER_PRIVATE_KEY", "0xzz")
    with pytest.raises(AccountError, match="is not a 32-byte hex private key"):
        load_account()
    keystore = tmp_path / "k.json"
    keystore.write_text(json.dumps(Account.encrypt(account.key, "pw", iterations=2**10)))
    monkeypatch.setenv("OPENLEDGER_KEYSTORE_PASSWORD", "pw")
    assert load_account(keystore=keystore).address == account.address
    monkeypatch.setenv("OPENLEDGER_KEYSTORE_PASSWORD", "nope")
    with pytest.raises(AccountError, match="cannot decrypt keystore"):
        load_account(keystore=keystore)
    with pytest.raises(AccountError, match="no keystore file at"):
        load_account(keystore=tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(AccountError, match="is not a JSON keystore"):
        load_account(keystore=tmp_path / "bad.json")


@pytest.fixture(scope="module")
def anvil_with_registry(node: NodeProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """anvil sealing every second, with our DatanetRegistry's runtime code (no
    immutables, empty storage, as in our genesis) at the same predeploy address."""
    from tests.anvil import start_anvil, stop_anvil

    process, url = start_anvil(tmp_path_factory.mktemp("anvil") / "anvil.log", ["--block-time", "1"])
    try:
        code = node.rpc("eth_getCode", "0x" + bytes(DATANET_REGISTRY_ADDRESS).hex(), "latest")
        Economy(url).w3.provider.make_request("anvil_setCode", ["0x" + bytes(DATANET_REGISTRY_ADDRESS).hex(), code])
        yield url
    finally:
        stop_anvil(process)


@pytest.mark.parametrize("chain", ["openledger", "anvil"])
def test_registry_reverts_decode_the_same_on_our_node_and_anvil(chain: str, node: NodeProcess,
                                                                anvil_with_registry: str) -> None:
    url = node.http if chain == "openledger" else anvil_with_registry
    owner, stranger = Economy(url, Account.from_key(KEYS[1])), Economy(url, Account.from_key(KEYS[2]))
    datanet_id = owner.create_datanet("ipfs://curated", "curated")
    contribution_id = stranger.contribute(datanet_id, keccak(b"race " + chain.encode()), "")
    with pytest.raises(ContractRevert) as info:
        stranger.accept(contribution_id)
    assert (info.value.contract, info.value.name, info.value.arguments) == (
        "DatanetRegistry", "NotCuratorOrOwner", {"datanetId": datanet_id, "caller": stranger.address})
    # Two accepts in flight: both pass estimation, the later one fails in its block.
    with one_block(owner):
        first, second = (owner.send("DatanetRegistry", "acceptContribution", contribution_id, wait=False)
                         for _ in range(2))
    owner.wait(first)
    with pytest.raises(ContractRevert) as info:
        owner.wait(second)
    assert (info.value.name, info.value.arguments) == (
        "ContributionNotPending", {"contributionId": contribution_id, "status": "Accepted"})
    assert owner.contribution(contribution_id).status == "Accepted"
