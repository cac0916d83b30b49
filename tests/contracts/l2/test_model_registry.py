"""ModelRegistry: registration against existing datanets, the owner's terms."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eth_utils.crypto import keccak

if TYPE_CHECKING:
    from conftest import L2Env

OPEN = 10**18
MAX_FEE = 2**80 - 1
ZERO = "0x" + "00" * 20
WEIGHTS = keccak(text="model weights")


def register_call(l2: L2Env, datanets: list[int], fee: int = OPEN, share: int = 1_000,
                  weights: bytes = WEIGHTS) -> object:
    return l2.models.functions.registerModel(weights, "ipfs://model", datanets, fee, share)


def test_registerModel_valid_succeeds(l2: L2Env) -> None:
    f = l2.models.functions
    count = f.modelCount().call()
    datanets = [l2.open_datanet, l2.foreign_datanet]
    receipt = l2.send(register_call(l2, datanets, fee=7 * OPEN, share=1_500), l2.outsider)
    model_id = count + 1
    assert l2.events(receipt, l2.models, "ModelRegistered") == [{
        "modelId": model_id, "owner": l2.outsider, "weightsHash": WEIGHTS, "datanetIds": datanets,
        "feePerInference": 7 * OPEN, "ownerShareBps": 1_500, "metadataURI": "ipfs://model"}]
    assert f.modelCount().call() == model_id
    assert f.model(model_id).call() == [l2.outsider, WEIGHTS, "ipfs://model", datanets, 7 * OPEN, 1_500]
    assert f.modelTerms(model_id).call() == [l2.outsider, 7 * OPEN, 1_500]
    assert f.datanetsOf(model_id).call() == datanets
    assert f.trainedOn(model_id, l2.open_datanet).call()
    assert f.trainedOn(model_id, l2.foreign_datanet).call()
    assert not f.trainedOn(model_id, l2.curated_datanet).call()


def test_registerModel_bounds_succeeds(l2: L2Env) -> None:
    """Sixteen datanets, the highest fee and owner share, and a free model are all fine."""
    datanets = sorted([l2.open_datanet, l2.curated_datanet, l2.foreign_datanet]
                      + [l2.create_datanet(l2.outsider) for _ in range(13)])
    model_id = l2.register_model(l2.outsider, datanets, fee=MAX_FEE, share_bps=8_000)
    assert l2.models.functions.modelTerms(model_id).call() == [l2.outsider, MAX_FEE, 8_000]
    assert l2.models.functions.datanetsOf(model_id).call() == datanets
    free = l2.register_model(l2.outsider, [l2.open_datanet], fee=0, share_bps=0)
    assert l2.models.functions.modelTerms(free).call() == [l2.outsider, 0, 0]


def test_registerModel_zero_weights_hash_reverts(l2: L2Env) -> None:
    l2.assert_reverts(register_call(l2, [l2.open_datanet], weights=b"\x00" * 32), l2.outsider, "ZeroWeightsHash")


def test_registerModel_no_datanets_reverts(l2: L2Env) -> None:
    l2.assert_reverts(register_call(l2, []), l2.outsider, "NoDatanets")


def test_registerModel_too_many_datanets_reverts(l2: L2Env) -> None:
    l2.assert_reverts(register_call(l2, list(range(1, 18))), l2.outsider, "TooManyDatanets", 17, 16)


def test_registerModel_datanets_not_ascending_reverts(l2: L2Env) -> None:
    a, b = l2.open_datanet, l2.curated_datanet
    l2.assert_reverts(register_call(l2, [b, a]), l2.outsider, "DatanetIdsNotAscending", 1)
    l2.assert_reverts(register_call(l2, [a, a]), l2.outsider, "DatanetIdsNotAscending", 1)
    l2.assert_reverts(register_call(l2, [0]), l2.outsider, "DatanetIdsNotAscending", 0)


def test_registerModel_unknown_datanet_reverts(l2: L2Env) -> None:
    l2.assert_reverts(register_call(l2, [l2.open_datanet, 999]), l2.outsider, "UnknownDatanet", 999)


def test_registerModel_fee_too_high_reverts(l2: L2Env) -> None:
    l2.assert_reverts(register_call(l2, [l2.open_datanet], fee=MAX_FEE + 1), l2.outsider, "FeeTooHigh",
                      MAX_FEE + 1, MAX_FEE)


def test_registerModel_owner_share_too_high_reverts(l2: L2Env) -> None:
    l2.assert_reverts(register_call(l2, [l2.open_datanet], share=8_001), l2.outsider, "OwnerShareTooHigh",
                      8_001, 8_000)


def test_setFeePerInference_by_owner_succeeds(l2: L2Env) -> None:
    f = l2.models.functions
    old = f.modelTerms(l2.model_id).call()[1]
    receipt = l2.send(f.setFeePerInference(l2.model_id, 5 * OPEN), l2.model_owner)
    assert l2.events(receipt, l2.models, "ModelFeeUpdated") == [{"modelId": l2.model_id, "oldFee": old,
                                                                 "newFee": 5 * OPEN}]
    assert f.modelTerms(l2.model_id).call()[1] == 5 * OPEN
    assert f.model(l2.model_id).call()[4] == 5 * OPEN


def test_setFeePerInference_by_non_owner_reverts(l2: L2Env) -> None:
    l2.assert_reverts(l2.models.functions.setFeePerInference(l2.model_id, 1), l2.outsider, "NotModelOwner",
                      l2.model_id, l2.outsider)


def test_setFeePerInference_unknown_model_reverts(l2: L2Env) -> None:
    l2.assert_reverts(l2.models.functions.setFeePerInference(999, 1), l2.model_owner, "UnknownModel", 999)


def test_setFeePerInference_too_high_reverts(l2: L2Env) -> None:
    l2.assert_reverts(l2.models.functions.setFeePerInference(l2.model_id, MAX_FEE + 1), l2.model_owner,
                      "FeeTooHigh", MAX_FEE + 1, MAX_FEE)


def test_setOwnerShareBps_by_owner_succeeds(l2: L2Env) -> None:
    f = l2.models.functions
    old = f.modelTerms(l2.model_id).call()[2]
    receipt = l2.send(f.setOwnerShareBps(l2.model_id, 8_000), l2.model_owner)
    assert l2.events(receipt, l2.models, "ModelOwnerShareUpdated") == [{"modelId": l2.model_id, "oldShare": old,
                                                                        "newShare": 8_000}]
    assert f.modelTerms(l2.model_id).call()[2] == 8_000


def test_setOwnerShareBps_by_non_owner_reverts(l2: L2Env) -> None:
    l2.assert_reverts(l2.models.functions.setOwnerShareBps(l2.model_id, 1), l2.outsider, "NotModelOwner",
                      l2.model_id, l2.outsider)


def test_setOwnerShareBps_unknown_model_reverts(l2: L2Env) -> None:
    l2.assert_reverts(l2.models.functions.setOwnerShareBps(999, 1), l2.model_owner, "UnknownModel", 999)


def test_setOwnerShareBps_too_high_reverts(l2: L2Env) -> None:
    l2.assert_reverts(l2.models.functions.setOwnerShareBps(l2.model_id, 10_000), l2.model_owner,
                      "OwnerShareTooHigh", 10_000, 8_000)


def test_transferModelOwnership_by_owner_succeeds(l2: L2Env) -> None:
    f = l2.models.functions
    receipt = l2.send(f.transferModelOwnership(l2.model_id, l2.outsider), l2.model_owner)
    assert l2.events(receipt, l2.models, "ModelOwnershipTransferred") == [{
        "modelId": l2.model_id, "oldOwner": l2.model_owner, "newOwner": l2.outsider}]
    assert f.modelTerms(l2.model_id).call()[0] == l2.outsider
    l2.send(f.setFeePerInference(l2.model_id, 1), l2.outsider)
    l2.assert_reverts(f.setFeePerInference(l2.model_id, 2), l2.model_owner, "NotModelOwner", l2.model_id,
                      l2.model_owner)


def test_transferModelOwnership_by_non_owner_reverts(l2: L2Env) -> None:
    l2.assert_reverts(l2.models.functions.transferModelOwnership(l2.model_id, l2.outsider), l2.outsider,
                      "NotModelOwner", l2.model_id, l2.outsider)


def test_transferModelOwnership_zero_owner_reverts(l2: L2Env) -> None:
    l2.assert_reverts(l2.models.functions.transferModelOwnership(l2.model_id, ZERO), l2.model_owner, "ZeroOwner")


def test_transferModelOwnership_unknown_model_reverts(l2: L2Env) -> None:
    l2.assert_reverts(l2.models.functions.transferModelOwnership(999, l2.outsider), l2.model_owner,
                      "UnknownModel", 999)


def test_model_unknown_reverts(l2: L2Env) -> None:
    l2.assert_reverts(l2.models.functions.model(999), l2.outsider, "UnknownModel", 999)
    l2.assert_reverts(l2.models.functions.trainedOn(999, l2.open_datanet), l2.outsider, "UnknownModel", 999)


def test_modelTerms_unknown_model_succeeds(l2: L2Env) -> None:
    assert l2.models.functions.modelTerms(999).call() == [ZERO, 0, 0]
    assert l2.models.functions.datanetsOf(999).call() == []


def test_constructor_zero_registry_reverts(l2: L2Env) -> None:
    l2.assert_deploy_reverts("ModelRegistry", "ZeroDatanetRegistry", [ZERO])


def test_constructor_wiring_succeeds(l2: L2Env) -> None:
    assert l2.models.functions.DATANETS().call() == l2.datanets.address
    assert l2.models.functions.MAX_DATANETS_PER_MODEL().call() == 16
    assert l2.models.functions.MAX_OWNER_SHARE_BPS().call() == 8_000
    assert l2.models.functions.MAX_FEE_PER_INFERENCE().call() == MAX_FEE
