"""The OP Stack preinstalls: third-party contracts every chain has at genesis.

An OP Stack chain starts with these contracts at their canonical addresses and
with their canonical runtime code (Optimism's `Preinstalls.sol`), so that
tooling that assumes them works unchanged: viem's `multicall` (Multicall3),
`forge script` with `new X{salt: ...}` (CREATE2 through Arachnid's deterministic
deployment proxy), Safe tooling (the Safe v1.3.0 singletons, MultiSend, the Safe
singleton factory), Uniswap's Permit2 and ERC-4337 (EntryPoint v0.6 and v0.7).

Unlike the predeploys, whose constructors run at genesis, a preinstall is placed
as runtime code, with nonce 1 as if an account had deployed it. The code lives
in `preinstalls.json` beside this module. Permit2 caches its chain id and
EIP-712 domain separator as immutables, so its code is the mainnet code with
those two words replaced for the chain it is placed on, as OP does.

The rollup's genesis (`genesis.build_genesis`) places `l2_preinstalls`; the L1
node's geth-format genesis file lists `l1_alloc` in its `alloc`, so that a geth
given the same file builds the same block 0. BeaconBlockRoots (EIP-4788) is on
L1 only: the L1 node updates it every block, the rollup has no beacon root to
record.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_hash.auto import keccak
from eth_utils.address import to_checksum_address

from openledger_node.primitives import Address, addr

CODE_FILE = Path(__file__).resolve().parent / "preinstalls.json"

MULTICALL3_ADDRESS = addr("0xcA11bde05977b3631167028862bE2a173976CA11")
CREATE2_DEPLOYER_ADDRESS = addr("0x13b0D85CcB8bf860b6b79AF3029fCA081AE9beF2")
SAFE_V130_ADDRESS = addr("0x69f4D1788e39c87893C980c06EdF4b7f686e2938")
SAFE_L2_V130_ADDRESS = addr("0xfb1bffC9d739B8D520DaF37dF666da4C687191EA")
MULTI_SEND_CALL_ONLY_V130_ADDRESS = addr("0xA1dabEF33b3B82c7814B6D82A79e50F4AC44102B")
SAFE_SINGLETON_FACTORY_ADDRESS = addr("0x914d7Fec6aaC8cd542e72Bca78B30650d45643d7")
DETERMINISTIC_DEPLOYMENT_PROXY_ADDRESS = addr("0x4e59b44847b379578588920cA78FbF26c0B4956C")
MULTI_SEND_V130_ADDRESS = addr("0x998739BFdAAdde7C933B942a68053933098f9EDa")
PERMIT2_ADDRESS = addr("0x000000000022D473030F116dDEE9F6B43aC78BA3")
SENDER_CREATOR_V060_ADDRESS = addr("0x7fc98430eAEdbb6070B35B39D798725049088348")
ENTRY_POINT_V060_ADDRESS = addr("0x5FF137D4b0FDCD49DcA30c7CF57E578a026d2789")
SENDER_CREATOR_V070_ADDRESS = addr("0xEFC2c1444eBCC4Db75e7613d20C6a62fF67A167C")
ENTRY_POINT_V070_ADDRESS = addr("0x0000000071727De22E5E9d8BAf0edAc6f37da032")
CREATEX_ADDRESS = addr("0xba5Ed099633D3B313e4D5F7bdc1305d3c28ba5Ed")
BEACON_BLOCK_ROOTS_ADDRESS = addr("0x000F3df6D732807Ef1319fB7B8bB8522d0Beac02")
# The EIP-4788 deployer. Its nonce is 1 where the contract is preinstalled, so
# that replaying its deployment transaction cannot create the contract a second time.
BEACON_BLOCK_ROOTS_SENDER = addr("0x0B799C86a49DEeb90402691F1041aa3AF2d3C875")

# Where Permit2's runtime code holds its immutables _CACHED_CHAIN_ID and
# _CACHED_DOMAIN_SEPARATOR (OP's Preinstalls.getPermit2Code).
PERMIT2_CHAIN_ID_OFFSET = 6945
PERMIT2_DOMAIN_SEPARATOR_OFFSET = 6983
_EIP712_DOMAIN_TYPEHASH = keccak(b"EIP712Domain(string name,uint256 chainId,address verifyingContract)")

PREINSTALL_NONCE = 1

# (name, address) in the order of OP's SetPreinstalls; the name is the key in CODE_FILE.
_L2_ADDRESSES: tuple[tuple[str, Address], ...] = (
    ("Multicall3", MULTICALL3_ADDRESS),
    ("Create2Deployer", CREATE2_DEPLOYER_ADDRESS),
    ("Safe_v130", SAFE_V130_ADDRESS),
    ("SafeL2_v130", SAFE_L2_V130_ADDRESS),
    ("MultiSendCallOnly_v130", MULTI_SEND_CALL_ONLY_V130_ADDRESS),
    ("SafeSingletonFactory", SAFE_SINGLETON_FACTORY_ADDRESS),
    ("DeterministicDeploymentProxy", DETERMINISTIC_DEPLOYMENT_PROXY_ADDRESS),
    ("MultiSend_v130", MULTI_SEND_V130_ADDRESS),
    ("Permit2", PERMIT2_ADDRESS),
    ("SenderCreator_v060", SENDER_CREATOR_V060_ADDRESS),
    ("EntryPoint_v060", ENTRY_POINT_V060_ADDRESS),
    ("SenderCreator_v070", SENDER_CREATOR_V070_ADDRESS),
    ("EntryPoint_v070", ENTRY_POINT_V070_ADDRESS),
    ("CreateX", CREATEX_ADDRESS),
)
_L1_ADDRESSES = (*_L2_ADDRESSES, ("BeaconBlockRoots", BEACON_BLOCK_ROOTS_ADDRESS))


@dataclass(frozen=True)
class Preinstall:
    name: str
    address: Address
    code: bytes
    nonce: int = PREINSTALL_NONCE


@functools.cache
def _codes() -> dict[str, bytes]:
    data = json.loads(CODE_FILE.read_text())
    return {name: bytes.fromhex(code[2:]) for name, code in data["code"].items()}


def permit2_domain_separator(chain_id: int) -> bytes:
    """Permit2's EIP-712 domain separator on `chain_id` (name "Permit2", no version)."""
    return keccak(abi_encode(
        ["bytes32", "bytes32", "uint256", "address"],
        [_EIP712_DOMAIN_TYPEHASH, keccak(b"Permit2"), chain_id, "0x" + PERMIT2_ADDRESS.hex()],
    ))


def permit2_code(chain_id: int) -> bytes:
    """Permit2's runtime code with the chain id and domain separator it caches set
    for `chain_id`; for chain id 1 it is the mainnet code unchanged."""
    code = bytearray(_codes()["Permit2"])
    code[PERMIT2_CHAIN_ID_OFFSET:PERMIT2_CHAIN_ID_OFFSET + 32] = chain_id.to_bytes(32, "big")
    code[PERMIT2_DOMAIN_SEPARATOR_OFFSET:PERMIT2_DOMAIN_SEPARATOR_OFFSET + 32] = permit2_domain_separator(chain_id)
    return bytes(code)


def _preinstalls(chain_id: int, addresses: tuple[tuple[str, Address], ...]) -> tuple[Preinstall, ...]:
    codes = _codes()
    return tuple(
        Preinstall(name, address, permit2_code(chain_id) if address == PERMIT2_ADDRESS else codes[name])
        for name, address in addresses
    )


def l2_preinstalls(chain_id: int) -> tuple[Preinstall, ...]:
    """The preinstalls of the rollup's genesis."""
    return _preinstalls(chain_id, _L2_ADDRESSES)


def l1_preinstalls(chain_id: int) -> tuple[Preinstall, ...]:
    """The preinstalls of the L1 node's dev genesis: the rollup's and BeaconBlockRoots."""
    return _preinstalls(chain_id, _L1_ADDRESSES)


def l1_alloc(chain_id: int) -> dict[str, dict[str, Any]]:
    """The geth-format `alloc` entries the L1 dev genesis file holds for the
    preinstalls (checksummed address: code and nonce), the EIP-4788 sender's
    nonce included."""
    alloc: dict[str, dict[str, Any]] = {
        to_checksum_address(p.address): {"code": "0x" + p.code.hex(), "nonce": hex(p.nonce)}
        for p in l1_preinstalls(chain_id)
    }
    alloc[to_checksum_address(BEACON_BLOCK_ROOTS_SENDER)] = {"nonce": hex(1)}
    return alloc
