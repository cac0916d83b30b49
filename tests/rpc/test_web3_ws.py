"""web3.py over WebSocket against a real node: calls, a token deployed and
transferred, and the three subscriptions (`newHeads`, `logs`,
`newPendingTransactions`) with what they deliver checked against the chain.

Uses account 3 on `node`, which no other module sends from.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from web3 import AsyncWeb3
from web3.exceptions import Web3RPCError

from contracts import load_artifact
from tests.rpc.helpers import CHAIN_ID, NodeProcess

TRANSFER_TOPIC = "0x" + keccak(b"Transfer(address,address,uint256)").hex()
SUPPLY = 10**21
HEADER_FIELDS = {
    "number", "hash", "parentHash", "nonce", "sha3Uncles", "logsBloom", "transactionsRoot", "stateRoot",
    "receiptsRoot", "miner", "difficulty", "extraData", "gasLimit", "gasUsed", "timestamp", "mixHash",
    "baseFeePerGas", "withdrawalsRoot", "blobGasUsed", "excessBlobGas", "parentBeaconBlockRoot", "requestsHash",
}


@pytest.fixture(scope="module")
def sender(accounts: list[LocalAccount]) -> LocalAccount:
    return accounts[3]


async def _send(aw3: AsyncWeb3[Any], account: LocalAccount, **fields: Any) -> str:
    tx: dict[str, Any] = {
        "type": 2,
        "chainId": CHAIN_ID,
        "nonce": await aw3.eth.get_transaction_count(account.address, "pending"),
        "to": "0x" + "33" * 20,
        "value": 1,
        "gas": 21_000,
        "maxFeePerGas": 10 * 10**9,
        "maxPriorityFeePerGas": 10**9,
    }
    tx.update(fields)
    if tx["to"] is None:
        del tx["to"]
    tx_hash = await aw3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
    return tx_hash.to_0x_hex()


async def _raw(aw3: AsyncWeb3[Any], method: str, *params: Any) -> dict[str, Any]:
    """The raw response; web3 raises on an error answer, this returns it."""
    try:
        return dict(await aw3.provider.make_request(method, list(params)))  # type: ignore[arg-type]
    except Web3RPCError as exc:
        assert exc.rpc_response is not None
        return dict(exc.rpc_response)


async def _next(aw3: AsyncWeb3[Any], wanted: Any, limit: int = 200) -> list[dict[str, Any]]:
    """Collect notifications until `wanted(collected)` says enough."""
    collected: list[dict[str, Any]] = []
    async for message in aw3.socket.process_subscriptions():
        collected.append(dict(message))
        if wanted(collected) or len(collected) >= limit:
            return collected
    return collected


def test_calls_over_websocket(node: NodeProcess, ws_w3: Any, sender: LocalAccount) -> None:
    node.wait_for_block(1)

    async def body(aw3: AsyncWeb3[Any]) -> None:
        assert await aw3.is_connected()
        assert await aw3.eth.chain_id == CHAIN_ID
        assert await aw3.net.version == str(CHAIN_ID)
        assert (await aw3.client_version).startswith("openledger-node/")
        number = await aw3.eth.block_number
        block = await aw3.eth.get_block(number, full_transactions=True)
        assert block.number == number and block.transactions[0].type == 0x7E
        assert await aw3.eth.get_balance(sender.address, 0) == 10_000 * 10**18
        tx_hash = await _send(aw3, sender)
        receipt = await aw3.eth.wait_for_transaction_receipt(tx_hash, timeout=20, poll_latency=0.05)
        assert receipt.status == 1
        assert (await aw3.eth.get_transaction(tx_hash)).blockNumber == receipt.blockNumber
        assert len(await aw3.eth.get_block_receipts(receipt.blockNumber)) >= 2
        # A batch over the socket.
        async with aw3.batch_requests() as batch:
            batch.add(aw3.eth.chain_id)
            batch.add(aw3.eth.get_block(0))
            chain_id, genesis = await batch.async_execute()
        assert chain_id == CHAIN_ID and genesis.number == 0

    ws_w3(body)


def test_new_heads_subscription(ws_w3: Any) -> None:
    async def body(aw3: AsyncWeb3[Any]) -> None:
        sub_id = await aw3.eth.subscribe("newHeads")
        messages = await _next(aw3, lambda got: len(got) >= 3)
        assert {m["subscription"] for m in messages} == {sub_id}
        numbers = [m["result"]["number"] for m in messages]
        assert numbers == list(range(numbers[0], numbers[0] + 3))
        for message in messages:
            header = message["result"]
            assert HEADER_FIELDS <= set(header)
            block = await aw3.eth.get_block(header["number"])
            assert block.hash == header["hash"] and block.parentHash == header["parentHash"]
            assert block.stateRoot == header["stateRoot"] and block.timestamp == header["timestamp"]
        assert messages[1]["result"]["parentHash"] == messages[0]["result"]["hash"]
        assert await aw3.eth.unsubscribe(sub_id) is True
        assert (await _raw(aw3, "eth_unsubscribe", sub_id))["result"] is False

    ws_w3(body)


def test_logs_subscription(ws_w3: Any, sender: LocalAccount) -> None:
    artifact = load_artifact("TestToken")

    async def body(aw3: AsyncWeb3[Any]) -> None:
        deploy_hash = await _send(aw3, sender, to=None, value=0, gas=3_000_000,
                                  data=artifact.bytecode + abi_encode(["uint256"], [SUPPLY]))
        deploy = await aw3.eth.wait_for_transaction_receipt(deploy_hash, timeout=20, poll_latency=0.05)
        token = aw3.eth.contract(address=deploy.contractAddress, abi=list(artifact.abi))
        matching = await aw3.eth.subscribe("logs", {"address": token.address, "topics": [TRANSFER_TOPIC]})
        other = await aw3.eth.subscribe("logs", {"address": token.address, "topics": ["0x" + "ab" * 32]})
        any_log = await aw3.eth.subscribe("logs", {})
        heads = await aw3.eth.subscribe("newHeads")
        recipient = "0x" + "44" * 20
        tx_hash = await _send(aw3, sender, to=token.address, value=0, gas=200_000,
                              data=token.encode_abi("transfer", [recipient, 99]))
        receipt = await aw3.eth.wait_for_transaction_receipt(tx_hash, timeout=20, poll_latency=0.05)

        def past_the_block(got: list[dict[str, Any]]) -> bool:
            return any(m["subscription"] == heads and m["result"]["number"] > receipt.blockNumber for m in got)

        messages = await _next(aw3, past_the_block)
        by_sub: dict[str, list[Any]] = {}
        for message in messages:
            by_sub.setdefault(message["subscription"], []).append(message["result"])
        assert other not in by_sub
        (log,) = by_sub[matching]
        assert log["transactionHash"].to_0x_hex() == tx_hash
        assert log["address"] == token.address and log["removed"] is False
        assert log["blockNumber"] == receipt.blockNumber and log["blockHash"] == receipt.blockHash
        assert int.from_bytes(log["data"], "big") == 99
        fetched = await aw3.eth.get_logs({"blockHash": receipt.blockHash, "address": token.address})
        assert [dict(entry) for entry in fetched] == [dict(log)]
        # The unfiltered subscription also sees the L1-info deposit's event of each block.
        in_block = [entry for entry in by_sub[any_log] if entry["blockNumber"] == receipt.blockNumber]
        assert [entry["logIndex"] for entry in in_block] == list(range(len(in_block)))
        assert dict(log) in [dict(entry) for entry in in_block]
        for sub_id in (matching, other, any_log, heads):
            assert await aw3.eth.unsubscribe(sub_id) is True
        # The event API over the socket reads the same log.
        events = await token.events.Transfer().get_logs(from_block=receipt.blockNumber, to_block=receipt.blockNumber)
        assert [(e.args["to"].lower(), e.args["value"]) for e in events] == [(recipient, 99)]

    ws_w3(body)


def test_new_pending_transactions_subscription(ws_w3: Any, sender: LocalAccount) -> None:
    async def body(aw3: AsyncWeb3[Any]) -> None:
        hashes = await aw3.eth.subscribe("newPendingTransactions")
        full = await aw3.eth.subscribe("newPendingTransactions", True)
        tx_hash = await _send(aw3, sender, value=3)

        def both(got: list[dict[str, Any]]) -> bool:
            subs = {m["subscription"] for m in got}
            return hashes in subs and full in subs

        messages = await _next(aw3, both)
        seen_hashes = [m["result"] for m in messages if m["subscription"] == hashes]
        assert tx_hash in [h if isinstance(h, str) else h.to_0x_hex() for h in seen_hashes]
        objects = [m["result"] for m in messages if m["subscription"] == full]
        tx = next(o for o in objects if o["hash"].to_0x_hex() == tx_hash)
        assert tx["from"] == sender.address and tx["value"] == 3 and tx["blockHash"] is None
        assert await aw3.eth.unsubscribe(hashes) is True
        assert await aw3.eth.unsubscribe(full) is True
        await aw3.eth.wait_for_transaction_receipt(tx_hash, timeout=20, poll_latency=0.05)

    ws_w3(body)


def test_subscribe_error_over_web3(ws_w3: Any) -> None:
    async def body(aw3: AsyncWeb3[Any]) -> None:
        with pytest.raises(Web3RPCError) as info:
            await aw3.eth.subscribe("nonsense")  # type: ignore[call-overload]
        assert info.value.rpc_response is not None
        error = info.value.rpc_response["error"]
        assert error["code"] == -32602 and "nonsense" in error["message"]
        assert await aw3.eth.chain_id == CHAIN_ID  # the connection still serves

    ws_w3(body)
