"""The AI economy on our own L2, through the node's JSON-RPC: the predeploys from
genesis serve a whole inference lifecycle, from datanet to contributor payout."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_account import Account
from web3 import Web3
from web3.logs import DISCARD

from attribution.split import attribution_hash
from contracts import load_artifact
from openledger_node.execution.genesis import dev_private_keys
from openledger_node.primitives import (
    ATTRIBUTION_STAKING_ADDRESS,
    DATANET_REGISTRY_ADDRESS,
    GOVERNANCE_TIMELOCK_ADDRESS,
    GOVERNOR_ADDRESS,
    MODEL_REGISTRY_ADDRESS,
    PAYABLE_AI_ADDRESS,
    WOPEN_ADDRESS,
)
from tests.rpc.helpers import NodeProcess, start_node

OPEN = 10**18
WEIGHT_DENOMINATOR = 1_000_000


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    running = start_node(tmp_path_factory.mktemp("ai") / "data", mode="instant")
    yield running
    running.stop()


def bind(w3: Web3, name: str, address: bytes):  # type: ignore[no-untyped-def]
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=list(load_artifact(name).abi))


class Actor:
    def __init__(self, w3: Web3, key: bytes) -> None:
        self.w3 = w3
        self.account = Account.from_key(key)
        self.address = self.account.address

    def send(self, call, value: int = 0):  # type: ignore[no-untyped-def]
        tx = call.build_transaction({"from": self.address, "value": value,
                                     "nonce": self.w3.eth.get_transaction_count(self.address, "pending")})
        signed = self.account.sign_transaction(tx)
        receipt = self.w3.eth.wait_for_transaction_receipt(self.w3.eth.send_raw_transaction(signed.raw_transaction))
        assert receipt["status"] == 1
        return receipt

    def fund(self, to: str, value: int) -> None:
        tx = {"from": self.address, "to": to, "value": value, "gas": 21_000, "chainId": self.w3.eth.chain_id,
              "gasPrice": self.w3.eth.gas_price, "nonce": self.w3.eth.get_transaction_count(self.address, "pending")}
        signed = self.account.sign_transaction(tx)
        receipt = self.w3.eth.wait_for_transaction_receipt(self.w3.eth.send_raw_transaction(signed.raw_transaction))
        assert receipt["status"] == 1


def test_genesis_places_ai_economy_and_governance_succeeds(node: NodeProcess) -> None:
    w3 = Web3(Web3.HTTPProvider(node.http))
    for address in (DATANET_REGISTRY_ADDRESS, MODEL_REGISTRY_ADDRESS, PAYABLE_AI_ADDRESS,
                    ATTRIBUTION_STAKING_ADDRESS, WOPEN_ADDRESS, GOVERNANCE_TIMELOCK_ADDRESS, GOVERNOR_ADDRESS):
        assert len(w3.eth.get_code(Web3.to_checksum_address(address))) > 0
    payable = bind(w3, "PayableAI", PAYABLE_AI_ADDRESS)
    admin_role = payable.functions.DEFAULT_ADMIN_ROLE().call()
    assert payable.functions.hasRole(admin_role, Web3.to_checksum_address(GOVERNANCE_TIMELOCK_ADDRESS)).call()
    governor = bind(w3, "OpenLedgerGovernor", GOVERNOR_ADDRESS)
    assert governor.functions.token().call().lower() == "0x" + WOPEN_ADDRESS.hex()
    assert governor.functions.timelock().call().lower() == "0x" + GOVERNANCE_TIMELOCK_ADDRESS.hex()


def test_inference_lifecycle_pays_contributors_succeeds(node: NodeProcess) -> None:
    w3 = Web3(Web3.HTTPProvider(node.http))
    keys = dev_private_keys()
    curator, contributor_a, contributor_b, model_owner, provider, user = (Actor(w3, k) for k in keys[4:10])
    datanets = bind(w3, "DatanetRegistry", DATANET_REGISTRY_ADDRESS)
    models = bind(w3, "ModelRegistry", MODEL_REGISTRY_ADDRESS)
    payable = bind(w3, "PayableAI", PAYABLE_AI_ADDRESS)
    staking = bind(w3, "AttributionStaking", ATTRIBUTION_STAKING_ADDRESS)

    curator.send(datanets.functions.createDatanet("ipfs://datanet", 0))  # open policy: auto-accepted
    datanet_id = datanets.functions.datanetCount().call()
    ids = []
    for actor, content in ((contributor_a, b"a"), (contributor_b, b"b")):
        receipt = actor.send(datanets.functions.contribute(datanet_id, Web3.keccak(content), f"ipfs://{content!r}"))
        event = datanets.events.ContributionSubmitted().process_receipt(receipt)[0]
        ids.append(int(event["args"]["contributionId"]))
    assert all(datanets.functions.isAccepted(i).call() for i in ids)

    fee = 10 * OPEN
    model_owner.send(models.functions.registerModel(Web3.keccak(b"weights"), "ipfs://model", [datanet_id], fee, 2_000))
    model_id = models.functions.modelCount().call()
    provider.send(staking.functions.stake(), value=1_000 * OPEN)
    assert staking.functions.isActiveProvider(provider.address).call()

    receipt = user.send(payable.functions.requestInference(model_id, Web3.keccak(b"prompt")), value=fee)
    inference_id = payable.events.InferenceRequested().process_receipt(receipt)[0]["args"]["inferenceId"]
    weights = [750_000, 250_000]
    query_hash = Web3.keccak(b"query record")
    receipt = provider.send(payable.functions.settle(inference_id, query_hash, sorted(ids), weights))
    settled = payable.events.InferenceSettled().process_receipt(receipt)[0]["args"]
    expected_hash = attribution_hash(model_id, query_hash, list(zip(sorted(ids), weights, strict=True)))
    assert (settled["modelId"], settled["queryHash"], settled["attributionHash"]) == (model_id, query_hash,
                                                                                      expected_hash)

    # The dispute window (60 s on the devnet) has to pass before the split is final.
    w3.provider.make_request("evm_increaseTime", [120])
    w3.provider.make_request("evm_mine", [])
    anyone = curator
    anyone.send(payable.functions.finalize(inference_id, sorted(ids), weights))

    protocol = fee * 500 // 10_000
    owner = fee * 2_000 // 10_000
    contributors = fee - protocol - owner
    share_a = contributors * weights[0] // WEIGHT_DENOMINATOR
    share_b = contributors * weights[1] // WEIGHT_DENOMINATOR
    credited = {contributor_a.address: payable.functions.claimable(contributor_a.address).call(),
                contributor_b.address: payable.functions.claimable(contributor_b.address).call()}
    assert credited[contributor_a.address] == share_a
    assert credited[contributor_b.address] == share_b
    owner_credit = payable.functions.claimable(model_owner.address).call()
    treasury = payable.functions.treasury().call()
    assert payable.functions.claimable(treasury).call() + owner_credit + share_a + share_b == fee

    before = w3.eth.get_balance(contributor_a.address)
    receipt = contributor_a.send(payable.functions.claim())
    paid_gas = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert w3.eth.get_balance(contributor_a.address) == before + share_a - paid_gas
    assert payable.functions.claimable(contributor_a.address).call() == 0


def test_dispute_overturned_by_provider_vote_succeeds(node: NodeProcess) -> None:
    """A wrong settlement on the devnet genesis: a staked provider disputes it with
    the corrected hash (its stake votes for it at once), outweighs the settling
    provider's stake, and after the vote anyone resolves with the corrected record
    hash and split, which PayableAI then finalizes at once."""
    w3 = Web3(Web3.HTTPProvider(node.http))
    keys = dev_private_keys()
    owner, contributor, provider, verifier, user, anyone = (
        Actor(w3, Web3.keccak(text=f"dispute e2e account {n}")) for n in range(6))
    funders = Actor(w3, keys[4]), Actor(w3, keys[5])
    for actor, amount, funder in ((owner, 20, 0), (contributor, 20, 0), (user, 20, 0), (anyone, 20, 0),
                                  (provider, 1_100, 0), (verifier, 3_200, 1)):
        funders[funder].fund(actor.address, amount * OPEN)
    datanets = bind(w3, "DatanetRegistry", DATANET_REGISTRY_ADDRESS)
    models = bind(w3, "ModelRegistry", MODEL_REGISTRY_ADDRESS)
    payable = bind(w3, "PayableAI", PAYABLE_AI_ADDRESS)
    staking = bind(w3, "AttributionStaking", ATTRIBUTION_STAKING_ADDRESS)

    owner.send(datanets.functions.createDatanet("ipfs://disputed", 0))
    datanet_id = datanets.functions.datanetCount().call()
    ids = []
    for n in range(2):
        receipt = contributor.send(datanets.functions.contribute(datanet_id, Web3.keccak(text=f"dispute {n}"), ""))
        ids.append(int(datanets.events.ContributionSubmitted().process_receipt(receipt, errors=DISCARD)[0]["args"]["contributionId"]))
    fee = OPEN
    owner.send(models.functions.registerModel(Web3.keccak(b"w"), "ipfs://m", [datanet_id], fee, 1_000))
    model_id = models.functions.modelCount().call()
    minimum = staking.functions.minProviderStake().call()
    provider.send(staking.functions.stake(), value=minimum)
    verifier.send(staking.functions.stake(), value=3 * minimum)

    receipt = user.send(payable.functions.requestInference(model_id, Web3.keccak(b"input")), value=fee)
    inference_id = payable.events.InferenceRequested().process_receipt(receipt, errors=DISCARD)[0]["args"]["inferenceId"]
    provider.send(payable.functions.settle(inference_id, Web3.keccak(b"wrong record"), [ids[0]], [WEIGHT_DENOMINATOR]))
    corrected_query = Web3.keccak(b"corrected record")
    corrected = attribution_hash(model_id, corrected_query, [(ids[1], WEIGHT_DENOMINATOR)])
    bond = staking.functions.disputeBond().call()
    receipt = verifier.send(staking.functions.dispute(inference_id, corrected), value=bond)
    opened = staking.events.DisputeOpened().process_receipt(receipt, errors=DISCARD)[0]["args"]
    votes = [dict(e["args"]) for e in staking.events.Voted().process_receipt(receipt, errors=DISCARD)]
    assert [(v["voter"], v["weight"]) for v in votes] == [(provider.address, minimum), (verifier.address, 3 * minimum)]

    assert opened["votingEndsAt"] == w3.eth.get_block(receipt["blockNumber"])["timestamp"] + \
        staking.functions.votingPeriod().call()
    # Blocks sealed faster than one a second run ahead of the clock, so the clock is
    # moved until a block reaches the end of the vote.
    for _ in range(5):
        behind = opened["votingEndsAt"] - w3.eth.get_block("latest")["timestamp"]
        if behind <= 0:
            break
        w3.provider.make_request("evm_increaseTime", [behind])
        w3.provider.make_request("evm_mine", [])
    assert w3.eth.get_block("latest")["timestamp"] >= opened["votingEndsAt"]
    receipt = anyone.send(staking.functions.resolve(opened["disputeId"], corrected_query, [ids[1]],
                                                    [WEIGHT_DENOMINATOR]))
    resolved = staking.events.DisputeResolved().process_receipt(receipt, errors=DISCARD)[0]["args"]
    assert (resolved["overturned"], resolved["attributionHash"]) == (True, corrected)
    assert (resolved["leadingVotes"], resolved["totalVotes"]) == (3 * minimum, 4 * minimum)
    assert not staking.functions.isActiveProvider(provider.address).call()  # slashed below the minimum
    assert staking.functions.claimable(verifier.address).call() > bond

    anyone.send(payable.functions.finalize(inference_id, [ids[1]], [WEIGHT_DENOMINATOR]))
    rewarded = payable.events.ContributionRewarded().get_logs(from_block=w3.eth.block_number)
    assert [(r["args"]["contributionId"], r["args"]["contributor"]) for r in rewarded] == [
        (ids[1], contributor.address)]
