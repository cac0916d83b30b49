"""web3.py over HTTP against a real node: every method of the eth, net, web3,
txpool, openledger and evm namespaces, an ERC-20 deployed, called, transferred
and its events read back, block tags, deposits in op-geth's shape, and the pool's
rejections with geth's messages.

Accounts: 0-2 on `node` (0.25 s blocks), 4-6 on `manual_node` (blocks only by
evm_mine), 9 on a node of its own in instant mode, so that no two tests race for
a nonce (test_web3_ws sends from 3).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from hexbytes import HexBytes
from web3 import HTTPProvider, Web3
from web3.exceptions import Web3RPCError

from contracts import load_artifact
from openledger_node.execution.genesis import DEV_ACCOUNTS
from tests.rpc.helpers import CHAIN_ID, NodeProcess, start_node, wait_until

SUPPLY = 10**24
TRANSFER_AMOUNT = 12_345
EMPTY_TRIE_ROOT = bytes.fromhex("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421")
MESSAGE_PASSER = "0x4200000000000000000000000000000000000016"
TRANSFER_TOPIC = "0x" + keccak(b"Transfer(address,address,uint256)").hex()
MAX_FEE = 10 * 10**9
TIP = 10**9


def sign(account: LocalAccount, nonce: int, **fields: Any) -> bytes:
    tx: dict[str, Any] = {
        "type": 2,
        "chainId": CHAIN_ID,
        "nonce": nonce,
        "to": "0x" + "22" * 20,
        "value": 1,
        "gas": 21_000,
        "maxFeePerGas": MAX_FEE,
        "maxPriorityFeePerGas": TIP,
    }
    tx.update(fields)
    if tx.get("to") is None:
        tx.pop("to")
    if tx["type"] in (0, 1):
        tx.pop("maxFeePerGas")
        tx.pop("maxPriorityFeePerGas")
        tx.setdefault("gasPrice", MAX_FEE)
        if tx["type"] == 0:
            del tx["type"]
    return bytes(account.sign_transaction(tx).raw_transaction)


def send(w3: Web3, account: LocalAccount, nonce: int | None = None, **fields: Any) -> HexBytes:
    if nonce is None:
        nonce = w3.eth.get_transaction_count(account.address, "pending")
    return w3.eth.send_raw_transaction(sign(account, nonce, **fields))


def wait_receipt(w3: Web3, tx_hash: bytes) -> Any:
    return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=20, poll_latency=0.05)


def has_method(node: NodeProcess, method: str, *params: Any) -> bool:
    reply = node.request(method, list(params))
    return not ("error" in reply and reply["error"]["code"] == -32601)


def balance_slot(holder: str) -> bytes:
    """OpenZeppelin 5 ERC20: `_balances` is the mapping at slot 0."""
    return keccak(abi_encode(["address", "uint256"], [holder, 0]))


# --- the token, deployed once per module ------------------------------------------


@pytest.fixture(scope="module")
def token(w3: Web3, accounts: list[LocalAccount]) -> dict[str, Any]:
    artifact = load_artifact("TestToken")
    owner, recipient = accounts[0], accounts[1]
    init = artifact.bytecode + abi_encode(["uint256"], [SUPPLY])
    deploy_hash = send(w3, owner, to=None, value=0, data=init, gas=3_000_000)
    deploy = wait_receipt(w3, deploy_hash)
    assert deploy.status == 1, deploy
    contract = w3.eth.contract(address=deploy.contractAddress, abi=list(artifact.abi))
    data = contract.encode_abi("transfer", [recipient.address, TRANSFER_AMOUNT])
    transfer_hash = send(w3, owner, to=contract.address, value=0, data=data, gas=200_000)
    transfer = wait_receipt(w3, transfer_hash)
    assert transfer.status == 1, transfer
    return {
        "artifact": artifact,
        "contract": contract,
        "deploy": deploy,
        "transfer": transfer,
        "owner": owner,
        "recipient": recipient,
    }


# --- web3_, net_, chain ---------------------------------------------------------------


def test_web3_and_net_namespaces(w3: Web3, node: NodeProcess) -> None:
    assert w3.client_version.startswith("openledger-node/v")
    assert node.rpc("web3_sha3", "0x68656c6c6f") == "0x" + keccak(b"hello").hex()
    assert node.rpc("web3_sha3", "0x") == "0x" + keccak(b"").hex()
    assert w3.net.version == str(CHAIN_ID)
    assert w3.net.listening is True
    assert w3.net.peer_count == 0
    assert w3.eth.chain_id == CHAIN_ID
    assert w3.eth.syncing is False
    # A dev node lists the funded dev accounts it signs for (as anvil does).
    assert node.rpc("eth_accounts") == ["0x" + bytes(a).hex() for a in DEV_ACCOUNTS]


def test_block_number_advances(w3: Web3, node: NodeProcess) -> None:
    start = w3.eth.block_number
    node.wait_for_block(start + 2)
    assert w3.eth.block_number >= start + 2


def test_fee_methods(w3: Web3, node: NodeProcess, token: dict[str, Any]) -> None:
    tip = w3.eth.max_priority_fee
    assert tip >= 1_000_000  # op-geth's floor
    latest = w3.eth.get_block("latest")
    assert w3.eth.gas_price >= tip
    assert w3.eth.gas_price <= tip + 2 * latest.baseFeePerGas + 1
    history = w3.eth.fee_history(4, "latest", [10, 50, 90])
    assert len(history.baseFeePerGas) == len(history.gasUsedRatio) + 1
    assert 1 <= len(history.gasUsedRatio) <= 4
    assert len(history.reward) == len(history.gasUsedRatio)
    assert all(len(r) == 3 and list(r) == sorted(r) for r in history.reward)
    assert all(0 <= ratio <= 1 for ratio in history.gasUsedRatio)
    # The block holding the transfer: its reward is the transfer's tip.
    block = token["transfer"].blockNumber
    around = w3.eth.fee_history(1, block, [50])
    assert around.oldestBlock == block
    assert around.reward[0][0] == min(TIP, MAX_FEE - w3.eth.get_block(block).baseFeePerGas)
    # Asking for more blocks than exist gives what there is, from genesis.
    early = node.rpc("eth_feeHistory", "0x64", "0x1")
    assert early["oldestBlock"] == "0x0" and len(early["gasUsedRatio"]) == 2
    assert len(early["baseFeePerGas"]) == 3 and "reward" not in early
    assert node.rpc("eth_blobBaseFee") == "0x1"


# --- the ERC-20 ---------------------------------------------------------------------


def test_deploy_code_and_storage(w3: Web3, node: NodeProcess, token: dict[str, Any]) -> None:
    contract, artifact = token["contract"], token["artifact"]
    deploy = token["deploy"]
    assert deploy.to is None and deploy.contractAddress is not None
    code = w3.eth.get_code(contract.address)
    assert bytes(code) == artifact.deployed_bytecode
    assert w3.eth.get_code(contract.address, deploy.blockNumber - 1) == b""
    assert w3.eth.get_code(token["owner"].address) == b""
    total = w3.eth.get_storage_at(contract.address, 2)  # _totalSupply
    assert int.from_bytes(total, "big") == SUPPLY
    recipient_balance = w3.eth.get_storage_at(contract.address, balance_slot(token["recipient"].address))
    assert int.from_bytes(recipient_balance, "big") == TRANSFER_AMOUNT
    # A storage key as a padded 32-byte word and as a short quantity read the same slot.
    padded = node.rpc("eth_getStorageAt", contract.address, "0x" + "00" * 31 + "02", "latest")
    assert node.rpc("eth_getStorageAt", contract.address, "0x2", "latest") == padded
    assert int(padded, 16) == SUPPLY
    # Before the transfer block the recipient held nothing.
    before = w3.eth.get_storage_at(
        contract.address, balance_slot(token["recipient"].address), token["transfer"].blockNumber - 1
    )
    assert int.from_bytes(before, "big") == 0


def test_call_token(w3: Web3, node: NodeProcess, token: dict[str, Any]) -> None:
    if not has_method(node, "eth_call", {"to": token["contract"].address, "data": "0x"}, "latest"):
        pytest.skip("eth_call is not served by this build (openledger_node/rpc/simulation.py)")
    contract = token["contract"]
    assert contract.functions.totalSupply().call() == SUPPLY
    assert contract.functions.balanceOf(token["recipient"].address).call() == TRANSFER_AMOUNT
    at_transfer = token["transfer"].blockNumber  # later tests move more tokens
    assert contract.functions.balanceOf(token["owner"].address).call(block_identifier=at_transfer) == (
        SUPPLY - TRANSFER_AMOUNT
    )
    assert contract.functions.symbol().call() == "TST"
    before = token["transfer"].blockNumber - 1
    assert contract.functions.balanceOf(token["recipient"].address).call(block_identifier=before) == 0


def test_transfer_events_with_get_logs(w3: Web3, token: dict[str, Any]) -> None:
    contract, transfer = token["contract"], token["transfer"]
    owner, recipient = token["owner"].address, token["recipient"].address
    block = transfer.blockNumber
    logs = w3.eth.get_logs({"fromBlock": token["deploy"].blockNumber, "toBlock": block, "address": contract.address})
    assert [log.topics[0].to_0x_hex() for log in logs] == [TRANSFER_TOPIC, TRANSFER_TOPIC]  # mint, transfer
    mint, moved = logs
    assert mint.transactionHash == token["deploy"].transactionHash
    assert moved.transactionHash == transfer.transactionHash
    assert moved.blockHash == transfer.blockHash and moved.blockNumber == block
    assert moved.logIndex == transfer.logs[0].logIndex
    assert moved.transactionIndex == transfer.transactionIndex
    assert moved.removed is False
    assert int.from_bytes(moved.data, "big") == TRANSFER_AMOUNT
    # Topic filters: by recipient (second indexed argument), with a null wildcard.
    to_topic = "0x" + "00" * 12 + recipient[2:].lower()
    by_recipient = w3.eth.get_logs({"fromBlock": 0, "toBlock": "latest", "topics": [TRANSFER_TOPIC, None, to_topic]})
    assert [log.transactionHash for log in by_recipient] == [transfer.transactionHash]
    either = w3.eth.get_logs(
        {"fromBlock": 0, "toBlock": "latest", "address": [contract.address, "0x" + "11" * 20],
         "topics": [[TRANSFER_TOPIC, "0x" + "ab" * 32]]}
    )
    assert len(either) == 2
    assert w3.eth.get_logs({"blockHash": transfer.blockHash, "address": contract.address}) == [moved]
    assert w3.eth.get_logs({"fromBlock": block, "toBlock": block, "address": "0x" + "11" * 20}) == []
    # The contract's event API decodes them.
    events = contract.events.Transfer().get_logs(from_block=token["deploy"].blockNumber, to_block=block)
    assert [(e.args["from"], e.args["to"], e.args["value"]) for e in events] == [
        ("0x" + "00" * 20, owner, SUPPLY),
        (owner, recipient, TRANSFER_AMOUNT),
    ]
    only_recipient = contract.events.Transfer().get_logs(
        from_block=0, to_block="latest", argument_filters={"to": recipient}
    )
    assert [e.transactionHash for e in only_recipient] == [transfer.transactionHash]


# --- blocks, transactions, receipts ----------------------------------------------------


def test_transaction_and_receipt_lookups(w3: Web3, node: NodeProcess, token: dict[str, Any]) -> None:
    receipt = token["transfer"]
    tx_hash, block_hash, number, index = (
        receipt.transactionHash, receipt.blockHash, receipt.blockNumber, receipt.transactionIndex,
    )
    assert index >= 1  # the L1-info deposit is always first
    tx = w3.eth.get_transaction(tx_hash)
    assert tx.hash == tx_hash and tx.blockHash == block_hash and tx.blockNumber == number
    assert tx["from"] == token["owner"].address and tx.to == token["contract"].address
    assert tx.type == 2 and tx.chainId == CHAIN_ID and tx.gas == 200_000
    assert tx.maxFeePerGas == MAX_FEE and tx.maxPriorityFeePerGas == TIP
    assert tx.accessList == [] and tx.yParity in (0, 1) and tx.v == tx.yParity
    base_fee = w3.eth.get_block(number).baseFeePerGas
    assert tx.gasPrice == min(MAX_FEE, TIP + base_fee) == receipt.effectiveGasPrice
    assert w3.eth.get_transaction_by_block(block_hash, index) == tx
    assert w3.eth.get_transaction_by_block(number, index) == tx
    assert node.rpc("eth_getTransactionByBlockNumberAndIndex", hex(number), hex(index))["hash"] == tx_hash.to_0x_hex()
    assert node.rpc("eth_getTransactionByBlockHashAndIndex", block_hash.to_0x_hex(), "0x63") is None
    assert node.rpc("eth_getTransactionByHash", "0x" + "ee" * 32) is None
    assert node.rpc("eth_getTransactionReceipt", "0x" + "ee" * 32) is None
    assert receipt.status == 1 and receipt.type == 2
    assert receipt["from"] == token["owner"].address and receipt.contractAddress is None
    assert receipt.cumulativeGasUsed >= receipt.gasUsed > 21_000
    assert len(receipt.logs) == 1 and receipt.logs[0].address == token["contract"].address


def test_blocks_by_number_and_hash(w3: Web3, node: NodeProcess, token: dict[str, Any]) -> None:
    receipt = token["transfer"]
    number, block_hash = receipt.blockNumber, receipt.blockHash
    by_number = w3.eth.get_block(number)
    by_hash = w3.eth.get_block(block_hash)
    assert by_number == by_hash
    assert by_number.hash == block_hash and by_number.number == number
    assert by_number.transactions[receipt.transactionIndex] == receipt.transactionHash
    assert by_number.parentHash == w3.eth.get_block(number - 1).hash
    assert by_number.gasUsed == sum(r.gasUsed for r in w3.eth.get_block_receipts(number))
    full = w3.eth.get_block(number, full_transactions=True)
    assert [t.hash for t in full.transactions] == list(by_number.transactions)
    assert full.transactions[receipt.transactionIndex] == w3.eth.get_transaction(receipt.transactionHash)
    assert {k: v for k, v in full.items() if k != "transactions"} == {
        k: v for k, v in by_number.items() if k != "transactions"
    }
    count = len(by_number.transactions)
    assert w3.eth.get_block_transaction_count(number) == count
    assert w3.eth.get_block_transaction_count(block_hash) == count
    assert node.rpc("eth_getBlockTransactionCountByNumber", hex(number)) == hex(count)
    assert node.rpc("eth_getBlockTransactionCountByHash", block_hash.to_0x_hex()) == hex(count)
    assert node.rpc("eth_getUncleCountByBlockNumber", hex(number)) == "0x0"
    assert node.rpc("eth_getUncleCountByBlockHash", block_hash.to_0x_hex()) == "0x0"
    assert node.rpc("eth_getBlockByNumber", "0xffffffff", False) is None
    assert node.rpc("eth_getBlockByHash", "0x" + "ee" * 32, True) is None
    assert node.rpc("eth_getBlockTransactionCountByHash", "0x" + "ee" * 32) is None
    receipts = w3.eth.get_block_receipts(number)
    assert [r.transactionHash for r in receipts] == list(by_number.transactions)
    assert receipts[receipt.transactionIndex] == receipt
    assert w3.eth.get_block_receipts(block_hash) == receipts
    assert node.rpc("eth_getBlockReceipts", {"blockHash": block_hash.to_0x_hex()}) == node.rpc(
        "eth_getBlockReceipts", hex(number)
    )
    assert node.rpc("eth_getBlockReceipts", "0xffffffff") is None


def test_deposit_transactions_look_like_op_geth(node: NodeProcess, token: dict[str, Any]) -> None:
    number = hex(token["transfer"].blockNumber)
    block = node.rpc("eth_getBlockByNumber", number, True)
    deposit = block["transactions"][0]
    assert deposit["type"] == "0x7e"
    assert deposit["from"] == "0xdeaddeaddeaddeaddeaddeaddeaddeaddead0001"
    assert deposit["to"] == "0x4200000000000000000000000000000000000015"
    assert len(bytes.fromhex(deposit["sourceHash"][2:])) == 32
    # op-geth leaves out a zero mint and a false isSystemTx (op-alloy, and so
    # Foundry, cannot read `"isSystemTx": false`)
    assert "mint" not in deposit and "isSystemTx" not in deposit
    assert deposit["depositReceiptVersion"] == "0x1"
    assert deposit["gasPrice"] == "0x0" and deposit["v"] == "0x0" and deposit["r"] == "0x0"
    assert "maxFeePerGas" not in deposit and "chainId" not in deposit
    assert node.rpc("eth_getTransactionByHash", deposit["hash"]) == deposit
    assert node.rpc("eth_getTransactionByBlockNumberAndIndex", number, "0x0") == deposit
    receipt = node.rpc("eth_getTransactionReceipt", deposit["hash"])
    assert receipt["type"] == "0x7e" and receipt["status"] == "0x1"
    assert receipt["depositReceiptVersion"] == "0x1"
    assert int(receipt["depositNonce"], 16) == int(deposit["nonce"], 16)
    assert receipt["transactionIndex"] == "0x0"
    # The depositor's nonce counts one deposit per block.
    previous = node.rpc("eth_getTransactionReceipt",
                        node.rpc("eth_getBlockByNumber", hex(int(number, 16) - 1), False)["transactions"][0])
    assert int(receipt["depositNonce"], 16) == int(previous["depositNonce"], 16) + 1
    # A user receipt carries no deposit fields.
    user = node.rpc("eth_getTransactionReceipt", token["transfer"].transactionHash.to_0x_hex())
    assert "depositNonce" not in user and "depositReceiptVersion" not in user


# --- state and block tags --------------------------------------------------------------


def test_block_tags(w3: Web3, node: NodeProcess, token: dict[str, Any]) -> None:
    owner = token["owner"].address
    latest = w3.eth.get_block("latest")
    assert w3.eth.get_block("pending").number >= latest.number
    assert w3.eth.get_block("earliest").number == 0
    assert w3.eth.get_block(0).hash == w3.eth.get_block("earliest").hash
    # Without L1 the safe and finalized heads stay at genesis.
    assert w3.eth.get_block("safe").number <= latest.number
    assert w3.eth.get_block("finalized").number <= w3.eth.get_block("safe").number
    genesis_balance = 10_000 * 10**18
    assert w3.eth.get_balance(owner, "earliest") == genesis_balance
    assert w3.eth.get_balance(owner, 0) == genesis_balance
    assert w3.eth.get_balance(owner, "latest") < genesis_balance
    assert w3.eth.get_transaction_count(owner, "earliest") == 0
    assert w3.eth.get_transaction_count(owner, "latest") >= 2
    assert w3.eth.get_transaction_count(owner, token["transfer"].blockNumber) == 2
    # EIP-1898: by hash, by number, and by hash with requireCanonical.
    block = token["transfer"].blockNumber
    block_hash = token["transfer"].blockHash.to_0x_hex()
    at_block = node.rpc("eth_getBalance", owner, hex(block))
    assert node.rpc("eth_getBalance", owner, {"blockHash": block_hash}) == at_block
    assert node.rpc("eth_getBalance", owner, {"blockNumber": hex(block)}) == at_block
    assert node.rpc("eth_getBalance", owner, {"blockHash": block_hash, "requireCanonical": True}) == at_block
    assert node.rpc("eth_getTransactionCount", owner, {"blockHash": block_hash}) == "0x2"
    assert node.rpc("eth_getTransactionCount", owner, {"blockNumber": hex(block - 1)}) == "0x1"
    assert node.rpc("eth_getCode", token["contract"].address, {"blockNumber": "earliest"}) == "0x"
    assert node.rpc("eth_getStorageAt", token["contract"].address, "0x2", {"blockHash": block_hash}) == (
        "0x" + SUPPLY.to_bytes(32, "big").hex()
    )
    # A state query for a block the node does not have: geth's answers.
    assert node.error("eth_getBalance", owner, "0xffffffff").message == "header not found"
    missing = node.error("eth_getBalance", owner, {"blockHash": "0x" + "ee" * 32})
    assert (missing.code, missing.message) == (-32000, "header for hash not found")


def test_pending_nonce_counts_the_pool(manual_w3: Web3, manual_node: NodeProcess,
                                       accounts: list[LocalAccount]) -> None:
    sender = accounts[4]
    address = sender.address
    start = manual_w3.eth.get_transaction_count(address, "latest")
    assert manual_w3.eth.get_transaction_count(address, "pending") == start
    # A nonce gap is queued: it does not count.
    gapped = manual_w3.eth.send_raw_transaction(sign(sender, start + 1))
    assert manual_w3.eth.get_transaction_count(address, "pending") == start
    status = manual_w3.geth.txpool.status()
    assert (status.pending, status.queued) == ("0x0", "0x1")
    content = manual_w3.geth.txpool.content()
    assert list(content["queued"][address]) == [str(start + 1)]
    assert content["queued"][address][str(start + 1)]["hash"] == gapped.to_0x_hex()
    assert content["queued"][address][str(start + 1)]["blockHash"] is None
    inspect = manual_w3.geth.txpool.inspect()
    assert "21000 gas" in inspect["queued"][address][str(start + 1)]
    # Filling the gap makes both pending: they count.
    first = manual_w3.eth.send_raw_transaction(sign(sender, start))
    assert manual_w3.eth.get_transaction_count(address, "pending") == start + 2
    assert manual_w3.eth.get_transaction_count(address, "latest") == start
    status = manual_w3.geth.txpool.status()
    assert (status.pending, status.queued) == ("0x2", "0x0")
    content = manual_w3.geth.txpool.content()
    assert sorted(content["pending"][address]) == [str(start), str(start + 1)]
    assert content["queued"] == {}
    # A pooled transaction is found by hash, without a block.
    pooled = manual_node.rpc("eth_getTransactionByHash", first.to_0x_hex())
    assert pooled["blockHash"] is None and pooled["blockNumber"] is None and pooled["transactionIndex"] is None
    assert manual_node.rpc("eth_getTransactionReceipt", first.to_0x_hex()) is None
    assert manual_node.rpc("txpool_contentFrom", address)["pending"][str(start)]["hash"] == first.to_0x_hex()
    manual_node.rpc("evm_mine")
    assert manual_w3.eth.get_transaction_count(address, "latest") == start + 2
    assert manual_w3.eth.get_transaction_count(address, "pending") == start + 2
    assert manual_w3.eth.get_transaction_receipt(gapped).status == 1
    assert manual_w3.geth.txpool.status().pending == "0x0"


def _rpc_error(call: Any) -> dict[str, Any]:
    with pytest.raises(Web3RPCError) as info:
        call()
    response = info.value.rpc_response
    assert response is not None
    return dict(response["error"])


def test_pool_rejections_have_geths_messages(manual_w3: Web3, manual_node: NodeProcess,
                                            accounts: list[LocalAccount]) -> None:
    sender = accounts[5]
    send_raw = manual_w3.eth.send_raw_transaction
    nonce = manual_w3.eth.get_transaction_count(sender.address, "pending")
    mined = send_raw(sign(sender, nonce))
    manual_node.rpc("evm_mine")
    assert manual_w3.eth.get_transaction_receipt(mined).status == 1
    nonce += 1
    pooled = sign(sender, nonce)
    send_raw(pooled)
    cases = {
        "nonce too low": sign(sender, nonce - 1, value=2),
        "already known": pooled,
        "replacement transaction underpriced": sign(sender, nonce, value=2),
        "insufficient funds for gas * price + value": sign(sender, nonce + 1, value=10**30),
        "transaction underpriced": sign(sender, nonce + 1, maxFeePerGas=0, maxPriorityFeePerGas=0),
        "intrinsic gas too low": sign(sender, nonce + 1, gas=20_999),
        "exceeds block gas limit": sign(sender, nonce + 1, gas=30_000_001),
    }
    for message, raw in cases.items():
        error = _rpc_error(lambda raw=raw: send_raw(raw))
        assert error["code"] == -32000, (message, error)
        assert error["message"].startswith(message), (message, error)
    # A replacement that bumps both fees by 10% is accepted.
    replacement = sign(sender, nonce, maxFeePerGas=MAX_FEE * 11 // 10, maxPriorityFeePerGas=TIP * 11 // 10)
    replaced = send_raw(replacement)
    manual_node.rpc("evm_mine")
    assert manual_w3.eth.get_transaction_receipt(replaced).status == 1


# --- filters ----------------------------------------------------------------------------


def test_polling_filters(w3: Web3, node: NodeProcess, token: dict[str, Any], accounts: list[LocalAccount]) -> None:
    contract = token["contract"]
    log_filter = node.rpc("eth_newFilter", {"address": contract.address, "topics": [TRANSFER_TOPIC]})
    block_filter = node.rpc("eth_newBlockFilter")
    pending_filter = node.rpc("eth_newPendingTransactionFilter")
    assert len({log_filter, block_filter, pending_filter}) == 3
    data = contract.encode_abi("transfer", [accounts[2].address, 7])
    tx_hash = send(w3, token["owner"], to=contract.address, value=0, data=data, gas=200_000)
    receipt = wait_receipt(w3, tx_hash)
    logs = wait_until(lambda: node.rpc("eth_getFilterChanges", log_filter), what="filter logs")
    assert [log["transactionHash"] for log in logs] == [tx_hash.to_0x_hex()]
    assert node.rpc("eth_getFilterChanges", log_filter) == []  # changes are consumed
    hashes = node.rpc("eth_getFilterChanges", block_filter)
    assert receipt.blockHash.to_0x_hex() in hashes
    pending = node.rpc("eth_getFilterChanges", pending_filter)
    assert tx_hash.to_0x_hex() in pending
    # eth_getFilterLogs re-runs the whole query: from the head at creation on.
    all_logs = node.rpc("eth_getFilterLogs", log_filter)
    assert tx_hash.to_0x_hex() in [log["transactionHash"] for log in all_logs]
    # A filter from an explicit block range sees history.
    history = node.rpc("eth_newFilter", {"fromBlock": "0x0", "address": contract.address})
    assert len(node.rpc("eth_getFilterLogs", history)) == 3  # mint, transfer, this transfer
    for filter_id in (log_filter, block_filter, pending_filter, history):
        assert node.rpc("eth_uninstallFilter", filter_id) is True
        assert node.rpc("eth_uninstallFilter", filter_id) is False
        assert node.error("eth_getFilterChanges", filter_id).message == "filter not found"
    # web3's filter API on top of the same methods.
    web3_filter = w3.eth.filter({"address": contract.address, "fromBlock": receipt.blockNumber})
    assert [log.transactionHash for log in web3_filter.get_all_entries()] == [tx_hash]
    assert w3.eth.uninstall_filter(web3_filter.filter_id) is True


# --- rollup namespace --------------------------------------------------------------------


def test_openledger_sync_status(node: NodeProcess) -> None:
    node.wait_for_block(1)
    status = node.rpc("openledger_syncStatus")
    unsafe = status["unsafe_l2"]
    assert unsafe["number"] >= 1
    header = node.rpc("eth_getBlockByNumber", hex(unsafe["number"]), False)
    assert unsafe["hash"] == header["hash"] and unsafe["parentHash"] == header["parentHash"]
    assert unsafe["timestamp"] == int(header["timestamp"], 16)
    assert set(unsafe["l1origin"]) == {"hash", "number"}
    assert isinstance(unsafe["sequenceNumber"], int)
    assert status["safe_l2"]["number"] <= unsafe["number"]
    assert status["finalized_l2"]["number"] <= status["safe_l2"]["number"]


def test_openledger_output_at_block(node: NodeProcess) -> None:
    node.wait_for_block(1)
    for tag in ("latest", "0x1", "earliest"):
        output = node.rpc("openledger_outputAtBlock", tag)
        ref = output["blockRef"]
        header = node.rpc("eth_getBlockByNumber", hex(ref["number"]), False)
        state_root = bytes.fromhex(output["stateRoot"][2:])
        storage_root = bytes.fromhex(output["withdrawalStorageRoot"][2:])
        block_hash = bytes.fromhex(header["hash"][2:])
        assert output["version"] == "0x" + "00" * 32
        assert output["stateRoot"] == header["stateRoot"]
        assert ref["hash"] == header["hash"]
        expected = keccak(b"\x00" * 32 + state_root + storage_root + block_hash)
        assert output["outputRoot"] == "0x" + expected.hex()
        # No withdrawal was ever initiated: the message passer's storage is empty.
        assert storage_root == EMPTY_TRIE_ROOT
        if has_method(node, "eth_getProof", MESSAGE_PASSER, [], "latest"):
            proof = node.rpc("eth_getProof", MESSAGE_PASSER, [], hex(ref["number"]))
            assert proof["storageHash"] == output["withdrawalStorageRoot"]
    assert node.error("openledger_outputAtBlock", "0xffffffff").message == "header not found"


# --- dev mode -----------------------------------------------------------------------------


def test_evm_mine_snapshot_revert(manual_w3: Web3, manual_node: NodeProcess, accounts: list[LocalAccount]) -> None:
    sender, recipient = accounts[6], "0x" + "77" * 20
    start_block = manual_w3.eth.block_number
    assert manual_node.rpc("evm_mine") == "0x0"
    assert manual_w3.eth.block_number == start_block + 1
    snapshot = manual_node.rpc("evm_snapshot")
    before_block = manual_w3.eth.block_number
    before_balance = manual_w3.eth.get_balance(sender.address)
    before_nonce = manual_w3.eth.get_transaction_count(sender.address)
    head_before = manual_w3.eth.get_block("latest").hash
    tx_hash = send(manual_w3, sender, to=recipient, value=5)
    manual_node.rpc("evm_mine")
    manual_node.rpc("evm_mine")
    mined = manual_w3.eth.get_transaction_receipt(tx_hash)
    assert mined.status == 1
    orphan_hash = mined.blockHash.to_0x_hex()
    assert manual_w3.eth.block_number == before_block + 2
    assert manual_w3.eth.get_balance(recipient) == 5
    assert manual_node.rpc("evm_revert", snapshot) is True
    assert manual_w3.eth.block_number == before_block
    assert manual_w3.eth.get_block("latest").hash == head_before
    assert manual_w3.eth.get_balance(recipient) == 0
    assert manual_w3.eth.get_balance(sender.address) == before_balance
    assert manual_w3.eth.get_transaction_count(sender.address) == before_nonce
    # The reverted block is no longer canonical.
    assert manual_node.rpc("eth_getBlockByNumber", hex(before_block + 1), False) is None
    assert manual_node.rpc("eth_getTransactionReceipt", tx_hash.to_0x_hex()) is None
    assert manual_node.rpc("eth_getBalance", recipient, {"blockHash": orphan_hash}) == "0x5"
    refused = manual_node.error("eth_getBalance", recipient, {"blockHash": orphan_hash, "requireCanonical": True})
    assert (refused.code, refused.message) == (-32000, "hash is not currently canonical")
    # A snapshot is used up by reverting to it; an unknown one reverts nothing.
    assert manual_node.rpc("evm_revert", snapshot) is False
    assert manual_node.rpc("evm_revert", "0x999") is False
    manual_node.rpc("evm_mine")
    assert manual_w3.eth.block_number == before_block + 1


def test_evm_time_controls(manual_w3: Web3, manual_node: NodeProcess) -> None:
    # evm_increaseTime moves the clock of every later block; it answers the total offset.
    offset = int(manual_node.rpc("evm_increaseTime", 10_000), 16)
    assert offset >= 10_000
    assert int(manual_node.rpc("evm_increaseTime", "0x0"), 16) == offset
    earliest = int(time.time()) + offset
    manual_node.rpc("evm_mine")
    assert manual_w3.eth.get_block("latest").timestamp >= earliest
    # evm_setNextBlockTimestamp fixes the next block's timestamp exactly, once.
    head = manual_w3.eth.get_block("latest")
    target = head.timestamp + 1_000
    assert manual_node.rpc("evm_setNextBlockTimestamp", hex(target)) is None
    manual_node.rpc("evm_mine")
    assert manual_w3.eth.get_block("latest").timestamp == target
    # A number works as well as a quantity, as in anvil and Hardhat.
    manual_node.rpc("evm_setNextBlockTimestamp", target + 7)
    manual_node.rpc("evm_mine")
    assert manual_w3.eth.get_block("latest").timestamp == target + 7
    manual_node.rpc("evm_mine")
    assert manual_w3.eth.get_block("latest").timestamp > target + 7
    refused = manual_node.error("evm_setNextBlockTimestamp", hex(target))
    assert refused.code == -32602 and "not after" in refused.message
    # evm_mine with a timestamp seals a block with it.
    manual_node.rpc("evm_mine", hex(target + 50_000))
    assert manual_w3.eth.get_block("latest").timestamp == target + 50_000
    # anvil's object form: several blocks, consecutive timestamps from the one given.
    number = manual_w3.eth.block_number
    manual_node.rpc("evm_mine", {"timestamp": hex(target + 60_000), "blocks": 3})
    assert manual_w3.eth.block_number == number + 3
    assert [manual_w3.eth.get_block(number + i).timestamp for i in (1, 2, 3)] == [
        target + 60_000, target + 60_001, target + 60_002]
    # Nothing moves the clock backwards, or past int64 (headers hold 64 bits).
    for method, value in (("evm_increaseTime", -1), ("evm_increaseTime", hex(2**70)),
                          ("evm_increaseTime", 2**63), ("evm_setNextBlockTimestamp", hex(2**63)),
                          ("evm_mine", hex(2**63)), ("evm_mine", {"timestamp": 2**64})):
        assert manual_node.error(method, value).code == -32602, (method, value)
    manual_node.rpc("evm_mine")
    assert manual_w3.eth.get_block("latest").timestamp == target + 60_003


def test_non_dev_network_refuses_evm_methods(tmp_path: Path, write_genesis: Any) -> None:
    genesis = write_genesis({"0x" + "42" * 20: {"balance": hex(10**21)}})
    env = {"OPENLEDGER__CHAIN__NETWORK": "testnet", "OPENLEDGER__CHAIN__GENESIS": str(genesis)}
    testnet = start_node(tmp_path / "testnet", block_time=0.25, env=env, init=True)
    try:
        w3 = Web3(HTTPProvider(testnet.http))
        assert w3.eth.chain_id == CHAIN_ID
        assert w3.eth.get_balance("0x" + "42" * 20) == 10**21
        for method, params in (("evm_mine", []), ("evm_snapshot", []), ("evm_revert", ["0x1"]),
                               ("evm_increaseTime", [1]), ("evm_setNextBlockTimestamp", ["0xffffffff"])):
            error = testnet.error(method, *params)
            assert error.code == -32601
            assert method in error.message and "dev mode" in error.message
        assert testnet.rpc("eth_chainId") == hex(CHAIN_ID)
    finally:
        assert testnet.stop() == 0, testnet.log_text()[-3000:]


def test_instant_mode_seals_a_block_per_arrival(tmp_path: Path, accounts: list[LocalAccount]) -> None:
    # A long block time: in instant mode only an arriving transaction makes a block.
    instant = start_node(tmp_path / "instant", block_time=30, mode="instant")
    try:
        w3 = Web3(HTTPProvider(instant.http))
        assert w3.eth.block_number == 0
        sender = accounts[9]
        receipts = []
        for nonce in range(2):
            tx_hash = w3.eth.send_raw_transaction(sign(sender, nonce))
            receipts.append(wait_receipt(w3, tx_hash))
        assert [r.blockNumber for r in receipts] == [1, 2]
        assert w3.eth.block_number == 2
        assert w3.eth.get_transaction_count(sender.address, "pending") == 2
        assert [len(w3.eth.get_block(n).transactions) for n in (1, 2)] == [2, 2]  # deposit + the transaction
    finally:
        assert instant.stop() == 0, instant.log_text()[-3000:]


def test_unknown_method_over_web3(w3: Web3) -> None:
    error = _rpc_error(lambda: w3.manager.request_blocking("eth_nope", []))  # type: ignore[arg-type]
    assert error["code"] == -32601 and "eth_nope" in error["message"]
