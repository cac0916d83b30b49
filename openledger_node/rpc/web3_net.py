"""The `web3_` and `net_` namespaces: client identity and network facts."""

from __future__ import annotations

import platform
import sys

from eth_hash.auto import keccak

from openledger_node import __version__
from openledger_node.rpc import params as p
from openledger_node.rpc.backend import Backend
from openledger_node.rpc.format import d, q
from openledger_node.rpc.registry import Param, rpc

CLIENT_VERSION = (
    f"openledger-node/v{__version__}/{sys.platform}-{platform.machine()}/"
    f"python{sys.version_info.major}.{sys.version_info.minor}"
)


class Web3NetApi:
    def __init__(self, backend: Backend) -> None:
        self.b = backend

    @rpc("web3_clientVersion")
    def client_version(self) -> str:
        return CLIENT_VERSION

    @rpc("web3_sha3", Param("data", p.data))
    def sha3(self, data: bytes) -> str:
        return d(keccak(data))

    @rpc("net_version")
    def net_version(self) -> str:
        return str(self.b.chain_id)

    @rpc("net_listening")
    def net_listening(self) -> bool:
        return True

    @rpc("net_peerCount")
    def net_peer_count(self) -> str:
        return q(0)
