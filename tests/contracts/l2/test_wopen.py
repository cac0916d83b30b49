"""WOPEN: wrapped native OPEN with permits and timestamp-clocked votes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from eth_account import Account
from eth_utils.crypto import keccak
from web3.contract import Contract

if TYPE_CHECKING:
    from conftest import L2Env

OPEN = 10**18
CHAIN_ID = 161_299


@pytest.fixture(scope="module")
def wopen_address(l2_deployed: L2Env) -> str:
    """Deployed once per module, before the per-test snapshot is taken."""
    return str(l2_deployed.deploy("WOPEN").address)


@pytest.fixture()
def wopen(l2: L2Env, wopen_address: str) -> Contract:
    return l2.contract("WOPEN", wopen_address)


def test_deposit_wraps_value_succeeds(l2: L2Env, wopen: Contract) -> None:
    receipt = l2.send(wopen.functions.deposit(), l2.outsider, value=5 * OPEN)
    assert l2.events(receipt, wopen, "Deposit") == [{"account": l2.outsider, "amount": 5 * OPEN}]
    assert l2.events(receipt, wopen, "Transfer") == [{"from": "0x" + "00" * 20, "to": l2.outsider,
                                                      "value": 5 * OPEN}]
    assert wopen.functions.balanceOf(l2.outsider).call() == 5 * OPEN
    assert wopen.functions.totalSupply().call() == l2.balance(wopen.address) == 5 * OPEN


def test_receive_plain_transfer_wraps_succeeds(l2: L2Env, wopen: Contract) -> None:
    tx = l2.w3.eth.send_transaction({"from": l2.outsider, "to": wopen.address, "value": 2 * OPEN})
    receipt = l2.w3.eth.wait_for_transaction_receipt(tx)
    assert receipt["status"] == 1
    assert l2.events(receipt, wopen, "Deposit") == [{"account": l2.outsider, "amount": 2 * OPEN}]
    assert wopen.functions.balanceOf(l2.outsider).call() == 2 * OPEN


def test_withdraw_unwraps_succeeds(l2: L2Env, wopen: Contract) -> None:
    l2.send(wopen.functions.deposit(), l2.outsider, value=5 * OPEN)
    before = l2.balance(l2.outsider)
    receipt = l2.send(wopen.functions.withdraw(3 * OPEN), l2.outsider)
    assert l2.events(receipt, wopen, "Withdrawal") == [{"account": l2.outsider, "amount": 3 * OPEN}]
    gas_cost = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert l2.balance(l2.outsider) == before + 3 * OPEN - gas_cost
    assert wopen.functions.balanceOf(l2.outsider).call() == 2 * OPEN
    assert wopen.functions.totalSupply().call() == l2.balance(wopen.address) == 2 * OPEN


def test_withdraw_more_than_balance_reverts(l2: L2Env, wopen: Contract) -> None:
    l2.send(wopen.functions.deposit(), l2.outsider, value=OPEN)
    l2.assert_reverts(wopen.functions.withdraw(OPEN + 1), l2.outsider, "ERC20InsufficientBalance", l2.outsider,
                      OPEN, OPEN + 1, source=wopen)


def test_delegate_votes_follow_balance_succeeds(l2: L2Env, wopen: Contract) -> None:
    f = wopen.functions
    l2.send(f.deposit(), l2.outsider, value=10 * OPEN)
    assert f.getVotes(l2.outsider).call() == 0  # votes count only once delegated
    receipt = l2.send(f.delegate(l2.outsider), l2.outsider)
    assert l2.events(receipt, wopen, "DelegateChanged")[0]["toDelegate"] == l2.outsider
    assert f.getVotes(l2.outsider).call() == 10 * OPEN
    l2.send(f.transfer(l2.disputer, 4 * OPEN), l2.outsider)
    assert f.getVotes(l2.outsider).call() == 6 * OPEN
    l2.send(f.withdraw(6 * OPEN), l2.outsider)
    assert f.getVotes(l2.outsider).call() == 0


def test_clock_is_timestamp_succeeds(l2: L2Env, wopen: Contract) -> None:
    l2.mine_at(l2.now() + 10)
    assert wopen.functions.clock().call() == l2.now()
    assert wopen.functions.CLOCK_MODE().call() == "mode=timestamp"
    assert (wopen.functions.name().call(), wopen.functions.symbol().call(), wopen.functions.decimals().call()) == (
        "Wrapped OPEN", "WOPEN", 18)


def _permit_signature(wopen: Contract, key: bytes, owner: str, spender: str, value: int, nonce: int,
                      deadline: int) -> Any:
    domain = {"name": "Wrapped OPEN", "version": "1", "chainId": CHAIN_ID, "verifyingContract": wopen.address}
    types = {"Permit": [{"name": "owner", "type": "address"}, {"name": "spender", "type": "address"},
                        {"name": "value", "type": "uint256"}, {"name": "nonce", "type": "uint256"},
                        {"name": "deadline", "type": "uint256"}]}
    message = {"owner": owner, "spender": spender, "value": value, "nonce": nonce, "deadline": deadline}
    return Account.sign_typed_data(key, domain, types, message)


def test_permit_signed_approval_succeeds(l2: L2Env, wopen: Contract) -> None:
    key = keccak(text="wopen permit owner")
    owner = Account.from_key(key).address
    deadline = l2.now() + 3_600
    signed = _permit_signature(wopen, key, owner, l2.outsider, 7 * OPEN, 0, deadline)
    call = wopen.functions.permit(owner, l2.outsider, 7 * OPEN, deadline, signed.v, signed.r.to_bytes(32, "big"),
                                  signed.s.to_bytes(32, "big"))
    receipt = l2.send(call, l2.outsider)
    assert l2.events(receipt, wopen, "Approval") == [{"owner": owner, "spender": l2.outsider, "value": 7 * OPEN}]
    assert wopen.functions.allowance(owner, l2.outsider).call() == 7 * OPEN
    assert wopen.functions.nonces(owner).call() == 1


def test_permit_expired_or_wrong_signer_reverts(l2: L2Env, wopen: Contract) -> None:
    key = keccak(text="wopen permit owner")
    owner = Account.from_key(key).address
    now = l2.now()
    expired = _permit_signature(wopen, key, owner, l2.outsider, OPEN, 0, now - 1)
    call = wopen.functions.permit(owner, l2.outsider, OPEN, now - 1, expired.v, expired.r.to_bytes(32, "big"),
                                  expired.s.to_bytes(32, "big"))
    l2.assert_reverts(call, l2.outsider, "ERC2612ExpiredSignature", now - 1, source=wopen)
    other = _permit_signature(wopen, keccak(text="someone else"), owner, l2.outsider, OPEN, 0, now + 3_600)
    call = wopen.functions.permit(owner, l2.outsider, OPEN, now + 3_600, other.v, other.r.to_bytes(32, "big"),
                                  other.s.to_bytes(32, "big"))
    signer = Account.from_key(keccak(text="someone else")).address
    l2.assert_reverts(call, l2.outsider, "ERC2612InvalidSigner", signer, owner, source=wopen)
