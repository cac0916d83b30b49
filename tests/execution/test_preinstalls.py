"""The OP Stack preinstalls in genesis: canonical runtime code at the canonical
addresses, checked against the published code hashes, and used over HTTP on real
node processes (the rollup sequencer, the L1 node) the way tooling uses them,
with anvil as the reference where it has the same contract."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_utils import keccak, to_checksum_address
from web3 import Web3

from openledger_node.exceptions import ConfigError
from openledger_node.execution.genesis import load_genesis
from openledger_node.execution.l1 import load_l1_genesis
from openledger_node.execution.preinstalls import (
    BEACON_BLOCK_ROOTS_ADDRESS,
    BEACON_BLOCK_ROOTS_SENDER,
    l1_alloc,
    l1_preinstalls,
    l2_preinstalls,
    permit2_code,
)
from tests.conformance.endpoints import (
    CHAIN_ID,
    DEV_KEYS,
    REPO,
    Endpoint,
    anvil,
    foundry_binary,
    openledger,
)
from tests.conftest import GENESIS_PATH
from tests.l1.conftest import CHAIN_ID as L1_CHAIN_ID
from tests.l1.conftest import DEVNET_GENESIS as L1_GENESIS_PATH
from tests.l1.conftest import l1_process

GWEI = 10**9
NODE = shutil.which("node")
VIEM_SCRIPT = Path(__file__).with_name("viem_multicall.mjs")

# keccak256 of the runtime code at each canonical address on Ethereum mainnet.
# Each is published apart from the code itself: Multicall3 (mds1/multicall3
# deployments), the deterministic deployment proxy and the Safe singleton factory
# (the same 69 bytes; anvil's default genesis holds them too: see
# test_create2_proxy_code_equals_anvils_succeeds), Create2Deployer (op-geth's
# Canyon upgrade and reth check this hash), Safe v1.3.0 and SafeL2 v1.3.0
# (safe-deployments), EntryPoint v0.6 / v0.7 (eth-infinitism deployments), CreateX
# (pcaversaccio/createx README), Permit2 (its mainnet code, chain id 1), EIP-4788.
CANONICAL_CODE_HASHES = {
    "Multicall3": "0xd5c15df687b16f2ff992fc8d767b4216323184a2bbc6ee2f9c398c318e770891",
    "Create2Deployer": "0xb0550b5b431e30d38000efb7107aaa0ade03d48a7198a140edda9d27134468b2",
    "Safe_v130": "0xbba688fbdb21ad2bb58bc320638b43d94e7d100f6f3ebaab0a4e4de6304b1c2e",
    "SafeL2_v130": "0x21842597390c4c6e3c1239e434a682b054bd9548eee5e9b1d6a4482731023c0f",
    "MultiSendCallOnly_v130": "0xa9865ac2d9c7a1591619b188c4d88167b50df6cc0c5327fcbd1c8c75f7c066ad",
    "SafeSingletonFactory": "0x2fa86add0aed31f33a762c9d88e807c475bd51d0f52bd0955754b2608f7e4989",
    "DeterministicDeploymentProxy": "0x2fa86add0aed31f33a762c9d88e807c475bd51d0f52bd0955754b2608f7e4989",
    "MultiSend_v130": "0x81db0e4afdf5178583537b58c5ad403bd47a4ac7f9bde2442ef3e341d433126a",
    "Permit2": "0xc67d1657868aa5146eaf24fb879fb1fdec3d2d493b3683a61c9c2f4fb2851131",
    "SenderCreator_v060": "0xae818091eaaf1b6175ee41472359a689f3823d0908a41e2e5c4ad508f2fc04a3",
    "EntryPoint_v060": "0xc93c806e738300b5357ecdc2e971d6438d34d8e4e17b99b758b1f9cac91c8e70",
    "SenderCreator_v070": "0x283c9d14378f5f4c4e24045b87d621d48443fa5b4af7dd7180a599b3756a7689",
    "EntryPoint_v070": "0x8db5ff695839d655407cc8490bb7a5d82337a86a6b39c3f0258aa6c3b582fc58",
    "CreateX": "0xbd8a7ea8cfca7b4e5f5041d7d4b17bc317c5ce42cfbc42066a00cf26b43eb53f",
    "BeaconBlockRoots": "0xf57acd40259872606d76197ef052f3d35588dadf919ee1f0e3cb9b62d3f4b02c",
}
CANONICAL_ADDRESSES = {
    "Multicall3": "0xcA11bde05977b3631167028862bE2a173976CA11",
    "Create2Deployer": "0x13b0D85CcB8bf860b6b79AF3029fCA081AE9beF2",
    "Safe_v130": "0x69f4D1788e39c87893C980c06EdF4b7f686e2938",
    "SafeL2_v130": "0xfb1bffC9d739B8D520DaF37dF666da4C687191EA",
    "MultiSendCallOnly_v130": "0xA1dabEF33b3B82c7814B6D82A79e50F4AC44102B",
    "SafeSingletonFactory": "0x914d7Fec6aaC8cd542e72Bca78B30650d45643d7",
    "DeterministicDeploymentProxy": "0x4e59b44847b379578588920cA78FbF26c0B4956C",
    "MultiSend_v130": "0x998739BFdAAdde7C933B942a68053933098f9EDa",
    "Permit2": "0x000000000022D473030F116dDEE9F6B43aC78BA3",
    "SenderCreator_v060": "0x7fc98430eAEdbb6070B35B39D798725049088348",
    "EntryPoint_v060": "0x5FF137D4b0FDCD49DcA30c7CF57E578a026d2789",
    "SenderCreator_v070": "0xEFC2c1444eBCC4Db75e7613d20C6a62fF67A167C",
    "EntryPoint_v070": "0x0000000071727De22E5E9d8BAf0edAc6f37da032",
    "CreateX": "0xba5Ed099633D3B313e4D5F7bdc1305d3c28ba5Ed",
    "BeaconBlockRoots": "0x000F3df6D732807Ef1319fB7B8bB8522d0Beac02",
}
MULTICALL3 = CANONICAL_ADDRESSES["Multicall3"]
PROXY = CANONICAL_ADDRESSES["DeterministicDeploymentProxy"]
CREATE2_DEPLOYER = CANONICAL_ADDRESSES["Create2Deployer"]
PERMIT2 = CANONICAL_ADDRESSES["Permit2"]

# Creation code of a contract whose runtime code (602a60005260206000f3) returns 42.
INIT_CODE = bytes.fromhex("69602a60005260206000f3600052600a6016f3")
RUNTIME_CODE = bytes.fromhex("602a60005260206000f3")

MULTICALL3_ABI: list[dict[str, Any]] = [
    {"type": "function", "name": "aggregate3", "stateMutability": "payable",
     "inputs": [{"name": "calls", "type": "tuple[]", "components": [
         {"name": "target", "type": "address"}, {"name": "allowFailure", "type": "bool"},
         {"name": "callData", "type": "bytes"}]}],
     "outputs": [{"name": "returnData", "type": "tuple[]", "components": [
         {"name": "success", "type": "bool"}, {"name": "returnData", "type": "bytes"}]}]},
    *({"type": "function", "name": name, "stateMutability": "view", "inputs": inputs,
       "outputs": [{"name": "", "type": "uint256"}]}
      for name, inputs in (("getChainId", []), ("getBlockNumber", []),
                           ("getEthBalance", [{"name": "addr", "type": "address"}]))),
]


def code_hash(code: bytes) -> str:
    return "0x" + keccak(code).hex()


def domain_separator(chain_id: int) -> bytes:
    """Permit2's EIP-712 domain separator, computed here from the EIP-712 rules."""
    type_hash = keccak(b"EIP712Domain(string name,uint256 chainId,address verifyingContract)")
    return keccak(abi_encode(["bytes32", "bytes32", "uint256", "address"],
                             [type_hash, keccak(b"Permit2"), chain_id, PERMIT2]))


def expected_hash(name: str, chain_id: int) -> str:
    return code_hash(permit2_code(chain_id)) if name == "Permit2" else CANONICAL_CODE_HASHES[name]


def create2_address(deployer: str, salt: bytes, init_code: bytes) -> str:
    digest = keccak(b"\xff" + bytes.fromhex(deployer[2:]) + salt + keccak(init_code))
    return to_checksum_address(digest[12:])


def web3_of(endpoint: Endpoint) -> Web3:
    return Web3(Web3.HTTPProvider(endpoint.url, request_kwargs={"timeout": 30}))


def send(w3: Web3, key: str, to: str, data: bytes, gas: int = 300_000) -> Any:
    """Sign and send a transaction from `key`; the receipt."""
    account = Account.from_key(key)
    tx = {
        "type": 2, "chainId": w3.eth.chain_id, "to": to, "value": 0, "data": data, "gas": gas,
        "nonce": w3.eth.get_transaction_count(account.address, "pending"),
        "maxFeePerGas": 20 * GWEI, "maxPriorityFeePerGas": GWEI,
    }
    tx_hash = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
    return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)


# --- the code itself ---------------------------------------------------------


def test_preinstall_addresses_and_code_hashes_are_canonical_succeeds() -> None:
    # On chain id 1 every preinstall, Permit2 included, is the mainnet code.
    mainnet = l1_preinstalls(1)
    assert [p.name for p in mainnet] == list(CANONICAL_CODE_HASHES)
    for preinstall in mainnet:
        assert to_checksum_address(preinstall.address) == CANONICAL_ADDRESSES[preinstall.name], preinstall.name
        assert code_hash(preinstall.code) == CANONICAL_CODE_HASHES[preinstall.name], preinstall.name
        assert preinstall.nonce == 1


def test_l2_preinstalls_are_l1s_without_beacon_block_roots_succeeds() -> None:
    l1 = {p.name: p for p in l1_preinstalls(CHAIN_ID)}
    l2 = {p.name: p for p in l2_preinstalls(CHAIN_ID)}
    assert set(l1) - set(l2) == {"BeaconBlockRoots"}
    assert all(l2[name] == l1[name] for name in l2)


@pytest.mark.parametrize(
    ("chain_id", "separator"),
    [
        # The vectors of OP's Preinstalls.t.sol (chain 1 is the mainnet deployment).
        (1, "0x866a5aba21966af95d6c7ab78eb2b2fc913915c28be3b9aa07cc04ff903e3f28"),
        (901, "0x48deb34b39fb4b41f5c195008940d5ef510cdd7853eba5807b2fa08dfd586475"),
        (1234, "0x6cda538cafce36292a6ef27740629597f85f6716f5694d26d5c59fc1d07cfd95"),
        (CHAIN_ID, "0x" + domain_separator(CHAIN_ID).hex()),
        (L1_CHAIN_ID, "0x" + domain_separator(L1_CHAIN_ID).hex()),
    ],
)
def test_permit2_code_caches_the_chains_id_and_domain_separator_succeeds(chain_id: int, separator: str) -> None:
    mainnet, code = permit2_code(1), permit2_code(chain_id)
    assert len(code) == len(mainnet) == 9152
    assert int.from_bytes(code[6945:6977], "big") == chain_id
    assert "0x" + code[6983:7015].hex() == separator == "0x" + domain_separator(chain_id).hex()
    # Nothing else differs from the mainnet code.
    assert code[:6945] + code[6977:6983] + code[7015:] == mainnet[:6945] + mainnet[6977:6983] + mainnet[7015:]


# --- genesis files ---------------------------------------------------------------


def _l2_genesis_with(tmp_path: Path, address: str, account: dict[str, Any]) -> Path:
    data = json.loads(GENESIS_PATH.read_text())
    data["alloc"][address] = account
    path = tmp_path / "genesis.json"
    path.write_text(json.dumps(data))
    return path


def test_l2_genesis_alloc_with_code_at_a_preinstall_reverts(tmp_path: Path) -> None:
    path = _l2_genesis_with(tmp_path, MULTICALL3, {"code": "0x00", "balance": "0x1"})
    with pytest.raises(ConfigError, match=rf"alloc: 0x{MULTICALL3[2:].lower()} is the Multicall3 preinstall"):
        load_genesis(path)


def test_l2_genesis_alloc_funding_a_preinstall_succeeds(tmp_path: Path) -> None:
    spec = load_genesis(_l2_genesis_with(tmp_path, MULTICALL3, {"balance": "0x1"}))
    assert spec.allocations()[bytes.fromhex(MULTICALL3[2:])].balance == 1  # type: ignore[index]


def test_l1_devnet_genesis_lists_the_preinstalls_succeeds() -> None:
    genesis = load_l1_genesis(L1_GENESIS_PATH)
    allocations = genesis.allocations()
    for preinstall in l1_preinstalls(genesis.chain_id):
        account = allocations[preinstall.address]
        assert (account.code, account.nonce, account.balance, account.storage) == (preinstall.code, 1, 0, {})
    assert allocations[BEACON_BLOCK_ROOTS_SENDER].nonce == 1
    # The file holds exactly what the module gives, so the two cannot drift apart.
    data = json.loads(L1_GENESIS_PATH.read_text())
    for address, account in l1_alloc(genesis.chain_id).items():
        assert data["alloc"][address] == account, address


# --- over a real rollup node, anvil as the reference -------------------------------


@pytest.fixture(scope="module")
def l2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    with openledger(tmp_path_factory.mktemp("l2")) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    with anvil(tmp_path_factory.mktemp("anvil")) as endpoint:
        yield endpoint


@pytest.fixture(params=["openledger", "anvil"])
def both(request: pytest.FixtureRequest) -> Endpoint:
    return request.getfixturevalue("l2" if request.param == "openledger" else "reference")  # type: ignore[no-any-return]


def test_preinstalls_on_the_rollup_node_succeeds(l2: Endpoint) -> None:
    for preinstall in l2_preinstalls(CHAIN_ID):
        address = to_checksum_address(preinstall.address)
        for block in ("0x0", "latest"):
            code = bytes.fromhex(l2.rpc.call("eth_getCode", address, block)[2:])
            assert code_hash(code) == expected_hash(preinstall.name, CHAIN_ID), (preinstall.name, block)
            assert l2.rpc.call("eth_getTransactionCount", address, block) == "0x1", (preinstall.name, block)
    beacon = to_checksum_address(BEACON_BLOCK_ROOTS_ADDRESS)
    assert l2.rpc.call("eth_getCode", beacon, "latest") == "0x"


def test_permit2_domain_separator_is_the_chains_succeeds(l2: Endpoint) -> None:
    result = l2.rpc.call("eth_call", {"to": PERMIT2, "data": "0x" + keccak(b"DOMAIN_SEPARATOR()")[:4].hex()}, "latest")
    assert result == "0x" + domain_separator(CHAIN_ID).hex()


@pytest.mark.parametrize(
    ("name", "signature", "argument_types", "arguments", "result_type", "expected"),
    [
        ("Safe_v130", "VERSION()", [], [], "string", "1.3.0"),
        ("SafeL2_v130", "VERSION()", [], [], "string", "1.3.0"),
        ("EntryPoint_v060", "getNonce(address,uint192)", ["address", "uint192"], [PERMIT2, 0], "uint256", 0),
        ("EntryPoint_v070", "getNonce(address,uint192)", ["address", "uint192"], [PERMIT2, 7], "uint256", 7 << 64),
        ("Create2Deployer", "computeAddress(bytes32,bytes32)", ["bytes32", "bytes32"],
         [b"\x01" * 32, keccak(INIT_CODE)], "address", create2_address(CREATE2_DEPLOYER, b"\x01" * 32, INIT_CODE)),
    ],
)
def test_preinstall_answers_its_views_succeeds(
    l2: Endpoint, name: str, signature: str, argument_types: list[str], arguments: list[Any],
    result_type: str, expected: Any,
) -> None:
    w3 = web3_of(l2)
    data = keccak(text=signature)[:4] + abi_encode(argument_types, arguments)
    result = w3.eth.call({"to": CANONICAL_ADDRESSES[name], "data": data})
    value = w3.codec.decode([result_type], result)[0]
    assert (to_checksum_address(value) if result_type == "address" else value) == expected


def test_create2_proxy_code_equals_anvils_succeeds(l2: Endpoint, reference: Endpoint) -> None:
    ours = l2.rpc.call("eth_getCode", PROXY, "latest")
    assert ours == reference.rpc.call("eth_getCode", PROXY, "latest")
    assert code_hash(bytes.fromhex(ours[2:])) == CANONICAL_CODE_HASHES["DeterministicDeploymentProxy"]


def test_multicall3_aggregate3_from_web3_succeeds(both: Endpoint) -> None:
    w3 = web3_of(both)
    if both.name == "anvil":  # anvil's genesis has no Multicall3: give it the same code
        code = next(p.code for p in l2_preinstalls(CHAIN_ID) if p.name == "Multicall3")
        both.rpc.call("anvil_setCode", MULTICALL3, "0x" + code.hex())
        both.rpc.call("evm_mine")
    multicall = w3.eth.contract(address=MULTICALL3, abi=MULTICALL3_ABI)
    holder = to_checksum_address(Account.from_key(DEV_KEYS[0]).address)
    block = w3.eth.block_number
    calls = [
        (MULTICALL3, False, multicall.encode_abi("getChainId")),
        (MULTICALL3, False, multicall.encode_abi("getBlockNumber")),
        (MULTICALL3, False, multicall.encode_abi("getEthBalance", [holder])),
        (MULTICALL3, True, bytes.fromhex("deadbeef")),  # no such function: fails, allowed to
    ]
    results = multicall.functions.aggregate3(calls).call(block_identifier=block)
    assert [(ok, int.from_bytes(data, "big")) for ok, data in results[:3]] == [
        (True, CHAIN_ID), (True, block), (True, w3.eth.get_balance(holder, block)),
    ]
    assert tuple(results[3]) == (False, b"")
    # A failure that is not allowed reverts the whole call, as on any chain.
    with pytest.raises(Exception, match="Multicall3: call failed"):
        multicall.functions.aggregate3([(MULTICALL3, False, bytes.fromhex("deadbeef"))]).call()


@pytest.mark.skipif(NODE is None, reason="Node.js (`node`) is not on PATH")
def test_viem_multicall_reads_through_multicall3_succeeds(l2: Endpoint) -> None:
    holder = to_checksum_address(Account.from_key(DEV_KEYS[0]).address)
    result = subprocess.run([str(NODE), str(VIEM_SCRIPT), l2.url, str(CHAIN_ID), holder],
                            check=False, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    block = int(out["blockNumber"])
    balance = int(l2.rpc.call("eth_getBalance", holder, hex(block)), 16)
    assert out["results"] == [
        {"status": "success", "result": str(CHAIN_ID)},
        {"status": "success", "result": str(block)},
        {"status": "success", "result": str(balance)},
        {"status": "failure", "result": None},
    ]


@pytest.mark.parametrize("salt", [b"\x00" * 32, keccak(b"openledger preinstalls")])
def test_create2_through_the_proxy_lands_at_the_predicted_address_succeeds(both: Endpoint, salt: bytes) -> None:
    w3 = web3_of(both)
    # The salt names the run too, so that module-scoped nodes never see a salt twice.
    salt = keccak(salt + both.name.encode())
    predicted = create2_address(PROXY, salt, INIT_CODE)
    # Foundry's CREATE2 deployer (what `forge script` uses for `new X{salt: s}`) is this proxy.
    cast = subprocess.run([str(foundry_binary("cast")), "create2", "--salt", "0x" + salt.hex(),
                           "--init-code", "0x" + INIT_CODE.hex()],
                          check=False, capture_output=True, text=True, timeout=60)
    assert cast.stdout.strip().splitlines()[-1] == predicted, cast.stderr
    assert w3.eth.call({"to": PROXY, "data": salt + INIT_CODE}) == bytes.fromhex(predicted[2:])
    receipt = send(w3, DEV_KEYS[7], PROXY, salt + INIT_CODE)
    assert receipt["status"] == 1
    assert w3.eth.get_code(predicted) == RUNTIME_CODE
    assert int.from_bytes(w3.eth.call({"to": predicted}), "big") == 42
    # The same salt and code again: the address is taken, the proxy reverts.
    again = send(w3, DEV_KEYS[7], PROXY, salt + INIT_CODE)
    assert again["status"] == 0


def test_create2_deployer_deploys_at_the_computed_address_succeeds(l2: Endpoint) -> None:
    w3 = web3_of(l2)
    salt = keccak(b"Create2Deployer")
    predicted = create2_address(CREATE2_DEPLOYER, salt, INIT_CODE)
    data = keccak(text="deploy(uint256,bytes32,bytes)")[:4] + abi_encode(
        ["uint256", "bytes32", "bytes"], [0, salt, INIT_CODE]
    )
    assert send(w3, DEV_KEYS[6], CREATE2_DEPLOYER, data)["status"] == 1
    assert w3.eth.get_code(predicted) == RUNTIME_CODE


# --- over a real L1 node ---------------------------------------------------------


def test_preinstalls_on_the_l1_node_succeeds(tmp_path: Path) -> None:
    with l1_process(tmp_path) as l1:
        for preinstall in l1_preinstalls(L1_CHAIN_ID):
            address = to_checksum_address(preinstall.address)
            code = bytes.fromhex(l1.rpc.call("eth_getCode", address, "latest")[2:])
            assert code_hash(code) == expected_hash(preinstall.name, L1_CHAIN_ID), preinstall.name
            assert l1.rpc.call("eth_getTransactionCount", address, "latest") == "0x1", preinstall.name
        w3 = web3_of(l1)
        assert send(w3, DEV_KEYS[5], MULTICALL3, b"", gas=50_000)["status"] == 0  # no receive(): a mined block
        # EIP-4788 runs on every L1 block: the block's time holds its parent beacon
        # root (zero, without a beacon chain); a time no block had is refused.
        head = w3.eth.get_block("latest")
        beacon = to_checksum_address(BEACON_BLOCK_ROOTS_ADDRESS)
        stored = w3.eth.call({"to": beacon, "data": head["timestamp"].to_bytes(32, "big")})
        assert stored == bytes(head["parentBeaconBlockRoot"]) == b"\x00" * 32
        with pytest.raises(Exception, match="revert"):
            w3.eth.call({"to": beacon, "data": (head["timestamp"] + 1).to_bytes(32, "big")})
