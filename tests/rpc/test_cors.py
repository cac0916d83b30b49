"""CORS on a real node process: a dev network lets any browser origin read its
answers (as anvil, the reference, does), other networks none unless
`rpc.cors_origins` names them, and the list can come from the environment."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from openledger_node.config import packaged_config
from tests.conformance.endpoints import ANVIL, ANVIL_MISSING, anvil
from tests.rpc.helpers import NodeProcess, start_node

ORIGIN = "http://localhost:3000"
BODY = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()


def preflight(url: str, origin: str) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url, method="OPTIONS", headers={
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    })
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}


def post(url: str, origin: str) -> tuple[dict[str, str], dict[str, object]]:
    request = urllib.request.Request(url, data=BODY, headers={"Content-Type": "application/json", "Origin": origin})
    with urllib.request.urlopen(request, timeout=10) as response:
        return {k.lower(): v for k, v in response.headers.items()}, json.loads(response.read())


def assert_any_origin_allowed(url: str) -> None:
    status, headers = preflight(url, ORIGIN)
    assert 200 <= status < 300, status
    assert headers.get("access-control-allow-origin") == "*", headers
    assert "POST" in headers.get("access-control-allow-methods", "").upper(), headers
    assert "content-type" in headers.get("access-control-allow-headers", "").lower(), headers
    answer_headers, answer = post(url, ORIGIN)
    assert answer_headers.get("access-control-allow-origin") == "*", answer_headers
    assert "result" in answer


@pytest.fixture(scope="module")
def testnet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with a testnet genesis: the devnet's without the test-mnemonic accounts."""
    directory = tmp_path_factory.mktemp("testnet")
    spec = json.loads(packaged_config("genesis-devnet.json").read_text())
    spec["alloc"] = {"0x" + "12" * 20: {"balance": "0x10"}}
    (directory / "genesis.json").write_text(json.dumps(spec))
    return directory


@pytest.fixture()
def testnet(testnet_dir: Path, request: pytest.FixtureRequest) -> Iterator[NodeProcess]:
    env = {"OPENLEDGER__CHAIN__NETWORK": "testnet", "OPENLEDGER__CHAIN__GENESIS": str(testnet_dir / "genesis.json"),
           **getattr(request, "param", {})}
    data_dir = testnet_dir / "data"
    running = start_node(data_dir, env=env, init=not data_dir.exists())
    yield running
    assert running.stop() == 0, running.log_text()[-3000:]


def test_a_dev_node_allows_any_origin(node: NodeProcess) -> None:
    assert_any_origin_allowed(node.http)


def test_anvil_allows_any_origin(tmp_path: Path) -> None:
    if not ANVIL.exists():
        pytest.skip(ANVIL_MISSING)
    with anvil(tmp_path) as reference:
        assert_any_origin_allowed(reference.url)


def test_other_networks_allow_no_origin_by_default(testnet: NodeProcess) -> None:
    status, headers = preflight(testnet.http, ORIGIN)
    assert 200 <= status < 300 and "access-control-allow-origin" not in headers, headers
    answer_headers, answer = post(testnet.http, ORIGIN)
    assert "access-control-allow-origin" not in answer_headers
    assert "result" in answer  # answered: only a browser keeps it from the page


@pytest.mark.parametrize(
    "testnet", [{"OPENLEDGER__RPC__CORS_ORIGINS": "https://app.example, https://other.example"}], indirect=True
)
def test_origins_listed_in_the_environment_are_allowed(testnet: NodeProcess) -> None:
    for origin in ("https://app.example", "https://other.example"):
        status, headers = preflight(testnet.http, origin)
        assert 200 <= status < 300
        assert headers.get("access-control-allow-origin") == origin, headers
        assert headers.get("access-control-max-age") == "600"
        answer_headers, _ = post(testnet.http, origin)
        assert answer_headers.get("access-control-allow-origin") == origin
        assert "Origin" in answer_headers.get("vary", "")
    _, headers = preflight(testnet.http, "https://evil.example")
    assert "access-control-allow-origin" not in headers
    answer_headers, _ = post(testnet.http, "https://evil.example")
    assert "access-control-allow-origin" not in answer_headers
