"""contracts.load_artifact and the public interface of the compiled predeploys,
which the node (genesis, system deposits, bindings) relies on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from contracts import ARTIFACTS_DIR, Artifact, load_artifact

# Every external function, event and error of each deployable contract.
EXPECTED_INTERFACES: dict[str, set[str]] = {
    "L1Block": {
        "function DEPOSITOR_ACCOUNT()",
        "function basefee()",
        "function hash()",
        "function number()",
        "function sequenceNumber()",
        "function setL1BlockValues(uint64,uint64,uint256,bytes32,uint64)",
        "function timestamp()",
        "error OnlyDepositor()",
    },
    "L2ToL1MessagePasser": {
        "function MESSAGE_VERSION()",
        "function burn()",
        "function initiateWithdrawal(address,uint256,bytes)",
        "function messageNonce()",
        "function sentMessages(bytes32)",
        "event MessagePassed(uint256,address,address,uint256,uint256,bytes,bytes32)",
        "event WithdrawerBalanceBurnt(uint256)",
        "receive",
    },
    "Burner": {"constructor()"},
}
_FEE_VAULT = {
    "constructor(address,uint256)",
    "function MIN_WITHDRAWAL_AMOUNT()",
    "function RECIPIENT()",
    "function totalProcessed()",
    "function withdraw()",
    "event Received(address,uint256)",
    "event Withdrawal(uint256,address,address)",
    "error BelowMinWithdrawalAmount(uint256,uint256)",
    "error ZeroRecipient()",
    # From OpenZeppelin's Address.sendValue.
    "error FailedCall()",
    "error InsufficientBalance(uint256,uint256)",
    "receive",
}
EXPECTED_INTERFACES["BaseFeeVault"] = _FEE_VAULT
EXPECTED_INTERFACES["SequencerFeeVault"] = _FEE_VAULT


def _signature(entry: dict[str, Any]) -> str:
    kind = entry["type"]
    if kind in ("receive", "fallback"):
        return str(kind)
    types = ",".join(str(i["type"]) for i in entry.get("inputs", []))
    if kind == "constructor":
        return f"constructor({types})"
    return f"{kind} {entry['name']}({types})"


@pytest.mark.parametrize("name", sorted(EXPECTED_INTERFACES))
def test_load_artifact_interface_matches_expected_succeeds(name: str) -> None:
    artifact = load_artifact(name)

    assert isinstance(artifact, Artifact)
    assert artifact.name == name
    assert {_signature(entry) for entry in artifact.abi} == EXPECTED_INTERFACES[name]
    assert artifact.bytecode and artifact.deployed_bytecode


def test_load_artifact_is_cached_succeeds() -> None:
    assert load_artifact("L1Block") is load_artifact("L1Block")


def test_load_artifact_missing_contract_raises() -> None:
    with pytest.raises(FileNotFoundError, match=r"'NoSuchContract'.*node contracts/compile\.mjs"):
        load_artifact("NoSuchContract")


def test_load_artifact_path_like_name_raises() -> None:
    with pytest.raises(ValueError, match="not a Solidity contract name"):
        load_artifact("../artifacts/L1Block")


def test_load_artifact_files_are_portable_succeeds() -> None:
    """No artifact depends on where the repository is checked out."""
    repo_root = str(Path(__file__).resolve().parents[2])
    for path in sorted(ARTIFACTS_DIR.glob("*.json")):
        text = path.read_text(encoding="utf-8")
        assert repo_root not in text, f"{path.name} embeds the checkout path"
        assert text.endswith("}\n"), f"{path.name} lacks the trailing newline"
