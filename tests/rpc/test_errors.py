"""The one error table: each error class answers with its code and message."""

from __future__ import annotations

import pytest

from openledger_node import exceptions as ex
from openledger_node.rpc import errors as e


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (e.ParseError("bad json"), -32700, "bad json"),
        (e.InvalidRequest("not an object"), -32600, "not an object"),
        (e.MethodNotFound("eth_foo"), -32601, "the method eth_foo does not exist/is not available"),
        (e.DevModeOnly("evm_mine"), -32601, None),
        (e.NotificationsUnsupported(), -32601, "notifications not supported"),
        (e.InvalidParams("invalid argument 0: hex string without 0x prefix"), -32602, None),
        (e.LimitExceeded("query exceeds max block range 10000"), -32005, None),
        (e.HeaderNotFound(), -32000, "header not found"),
        (e.HeaderNotFound(by_hash=True), -32000, "header for hash not found"),
        (e.NotCanonical(), -32000, "hash is not currently canonical"),
        (e.UnknownBlock(), -32000, "unknown block"),
        (e.FilterNotFound(), -32000, "filter not found"),
        (e.Unavailable("no block producer"), -32002, "no block producer"),
        (ex.NonceTooLow(b"\x01" * 20, 1, 2), -32000, "nonce too low: address 0x" + "01" * 20 + ", tx: 1 state: 2"),
        (ex.InsufficientFunds(b"\x01" * 20, 1, 2), -32000, None),
        (ex.ReplacementUnderpriced(10), -32000, "replacement transaction underpriced"),
        (ex.PoolFull(), -32000, "txpool is full"),
        (ex.GasRequiredExceedsAllowance(50), -32000, "gas required exceeds allowance (50)"),
        (ex.ExecutionFailed("out of gas"), -32000, "out of gas"),
        (ex.TemporaryError("L1 endpoint timed out"), -32002, "L1 endpoint timed out"),
        (RuntimeError("secret details"), -32603, "internal error"),
    ],
)
def test_error_object(error: BaseException, code: int, message: str | None) -> None:
    obj = e.to_error_object(error)
    assert obj["code"] == code
    if message is not None:
        assert obj["message"] == message
    assert "data" not in obj


def test_revert_carries_its_data_under_code_3() -> None:
    reason = bytes.fromhex("08c379a0") + (32).to_bytes(32, "big") + (2).to_bytes(32, "big") + b"no".ljust(32, b"\0")
    obj = e.to_error_object(ex.ExecutionReverted(reason, "no"))
    assert obj == {"code": 3, "message": "execution reverted: no", "data": "0x" + reason.hex()}


def test_every_error_class_of_the_rpc_package_has_a_row() -> None:
    classes = [c for c in vars(e).values() if isinstance(c, type) and issubclass(c, e.RpcError)]
    assert set(classes) <= set(e.ERROR_CODES)
