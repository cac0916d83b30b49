"""OpenToken on anvil: fixed supply minted once, burn, EIP-2612 permit and
ERC20Votes delegation."""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data

from contracts import load_artifact

from .conftest import OPEN, TOKEN_SUPPLY, L1Env, deploy_open_token

MNEMONIC = "test test test test test test test test test test test junk"  # anvil's accounts
ZERO = "0x" + "00" * 20


def _key(index: int) -> bytes:
    Account.enable_unaudited_hdwallet_features()
    return bytes(Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}").key)


def _permit(
    l1: L1Env, key: bytes, spender: str, value: int, deadline: int, owner: str | None = None
) -> tuple[Any, ...]:
    """permit() arguments signed with ``key`` (for ``owner``, by default the key's own address)."""
    owner = owner if owner is not None else Account.from_key(key).address
    token = l1.token
    message = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Permit": [
                {"name": "owner", "type": "address"},
                {"name": "spender", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": "Permit",
        "domain": {"name": "Open", "version": "1", "chainId": l1.w3.eth.chain_id, "verifyingContract": token.address},
        "message": {
            "owner": owner,
            "spender": spender,
            "value": value,
            "nonce": token.functions.nonces(owner).call(),
            "deadline": deadline,
        },
    }
    signed = Account.sign_message(encode_typed_data(full_message=message), key)
    return owner, spender, value, deadline, signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")


# ------------------------------------------------------------------ deployment


def test_constructor_mints_whole_supply_to_holder_succeeds(l1: L1Env) -> None:
    holder = l1.outsiders[0]
    token = deploy_open_token(l1.w3, l1.admin, holder)
    f = token.functions
    assert (f.name().call(), f.symbol().call(), f.decimals().call()) == ("Open", "OPEN", 18)
    assert f.totalSupply().call() == TOKEN_SUPPLY == 1_000_000_000 * 10**18
    assert f.INITIAL_SUPPLY().call() == TOKEN_SUPPLY
    assert f.balanceOf(holder).call() == TOKEN_SUPPLY
    assert f.balanceOf(l1.admin).call() == 0


def test_constructor_emits_single_mint_transfer_succeeds(l1: L1Env) -> None:
    artifact = load_artifact("OpenToken")
    factory = l1.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    receipt = l1.send(factory.constructor(l1.outsiders[1]), l1.admin)
    token = l1.w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi)
    transfers = l1.events(receipt, "Transfer", token)
    assert transfers == [{"from": ZERO, "to": l1.outsiders[1], "value": TOKEN_SUPPLY}]


def test_constructor_zero_holder_reverts(l1: L1Env) -> None:
    artifact = load_artifact("OpenToken")
    factory = l1.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    l1.assert_reverts(factory.constructor(ZERO), l1.admin, "ERC20InvalidReceiver(address)", ZERO)


def test_abi_has_no_mint_function_succeeds() -> None:
    names = {item.get("name") for item in load_artifact("OpenToken").abi if item["type"] == "function"}
    assert not any("mint" in str(name).lower() for name in names)
    assert {"burn", "burnFrom", "permit", "delegate", "delegateBySig", "getVotes", "getPastVotes"} <= names


# ------------------------------------------------------------------ transfers and burn


def test_transfer_moves_balance_succeeds(l1: L1Env) -> None:
    a, b = l1.outsiders[0], l1.outsiders[1]
    receipt = l1.send(l1.token.functions.transfer(b, 5 * OPEN), a)
    assert l1.events(receipt, "Transfer", l1.token) == [{"from": a, "to": b, "value": 5 * OPEN}]
    assert l1.balance(b) - l1.balance(a) == 10 * OPEN


def test_transfer_more_than_balance_reverts(l1: L1Env) -> None:
    a = l1.outsiders[0]
    balance = l1.balance(a)
    l1.assert_reverts(l1.token.functions.transfer(l1.admin, balance + 1), a,
                      "ERC20InsufficientBalance(address,uint256,uint256)", a, balance, balance + 1)


def test_burn_reduces_supply_succeeds(l1: L1Env) -> None:
    a = l1.outsiders[0]
    before = l1.balance(a)
    receipt = l1.send(l1.token.functions.burn(7 * OPEN), a)
    assert l1.events(receipt, "Transfer", l1.token) == [{"from": a, "to": ZERO, "value": 7 * OPEN}]
    assert l1.balance(a) == before - 7 * OPEN
    assert l1.token.functions.totalSupply().call() == TOKEN_SUPPLY - 7 * OPEN


def test_burn_more_than_balance_reverts(l1: L1Env) -> None:
    a = l1.outsiders[0]
    balance = l1.balance(a)
    l1.assert_reverts(l1.token.functions.burn(balance + 1), a,
                      "ERC20InsufficientBalance(address,uint256,uint256)", a, balance, balance + 1)


def test_burnFrom_with_allowance_succeeds(l1: L1Env) -> None:
    owner, spender = l1.outsiders[0], l1.outsiders[1]
    l1.send(l1.token.functions.approve(spender, 3 * OPEN), owner)
    l1.send(l1.token.functions.burnFrom(owner, 2 * OPEN), spender)
    assert l1.token.functions.allowance(owner, spender).call() == OPEN
    assert l1.token.functions.totalSupply().call() == TOKEN_SUPPLY - 2 * OPEN


def test_burnFrom_without_allowance_reverts(l1: L1Env) -> None:
    owner, spender = l1.outsiders[0], l1.outsiders[1]
    l1.assert_reverts(l1.token.functions.burnFrom(owner, 1), spender,
                      "ERC20InsufficientAllowance(address,uint256,uint256)", spender, 0, 1)


# ------------------------------------------------------------------ permit (EIP-2612)


def test_permit_valid_signature_succeeds(l1: L1Env) -> None:
    key = _key(8)
    owner = Account.from_key(key).address
    spender = l1.outsiders[2]
    deadline = l1.now() + 3600
    args = _permit(l1, key, spender, 12 * OPEN, deadline)
    receipt = l1.send(l1.token.functions.permit(*args), spender)  # anyone may relay it
    assert l1.events(receipt, "Approval", l1.token) == [{"owner": owner, "spender": spender, "value": 12 * OPEN}]
    assert l1.token.functions.allowance(owner, spender).call() == 12 * OPEN
    assert l1.token.functions.nonces(owner).call() == 1
    l1.send(l1.token.functions.transferFrom(owner, spender, 12 * OPEN), spender)


def test_permit_expired_deadline_reverts(l1: L1Env) -> None:
    key = _key(8)
    deadline = l1.now() - 1
    args = _permit(l1, key, l1.outsiders[2], OPEN, deadline)
    l1.assert_reverts(l1.token.functions.permit(*args), l1.outsiders[2], "ERC2612ExpiredSignature(uint256)", deadline)


def test_permit_wrong_signer_reverts(l1: L1Env) -> None:
    owner_key, other_key = _key(8), _key(9)
    owner = Account.from_key(owner_key).address
    signer = Account.from_key(other_key).address
    deadline = l1.now() + 3600
    args = _permit(l1, other_key, l1.outsiders[2], OPEN, deadline, owner=owner)
    l1.assert_reverts(l1.token.functions.permit(*args), l1.outsiders[2],
                      "ERC2612InvalidSigner(address,address)", signer, owner)


def test_permit_replayed_signature_reverts(l1: L1Env) -> None:
    key = _key(8)
    spender = l1.outsiders[2]
    args = _permit(l1, key, spender, OPEN, l1.now() + 3600)
    l1.send(l1.token.functions.permit(*args), spender)
    l1.assert_reverts(l1.token.functions.permit(*args), spender, "ERC2612InvalidSigner(address,address)")


# ------------------------------------------------------------------ votes (ERC20Votes)


def test_getVotes_without_delegation_is_zero_succeeds(l1: L1Env) -> None:
    assert l1.balance(l1.outsiders[0]) > 0
    assert l1.token.functions.getVotes(l1.outsiders[0]).call() == 0


def test_delegate_self_counts_balance_succeeds(l1: L1Env) -> None:
    a = l1.outsiders[0]
    receipt = l1.send(l1.token.functions.delegate(a), a)
    changed = l1.events(receipt, "DelegateChanged", l1.token)
    assert changed == [{"delegator": a, "fromDelegate": ZERO, "toDelegate": a}]
    votes = l1.events(receipt, "DelegateVotesChanged", l1.token)
    assert votes == [{"delegate": a, "previousVotes": 0, "newVotes": l1.balance(a)}]
    assert l1.token.functions.getVotes(a).call() == l1.balance(a)
    assert l1.token.functions.delegates(a).call() == a


def test_transfer_moves_voting_power_succeeds(l1: L1Env) -> None:
    a, b, delegate = l1.outsiders[0], l1.outsiders[1], l1.outsiders[2]
    l1.send(l1.token.functions.delegate(delegate), a)
    l1.send(l1.token.functions.delegate(b), b)
    before_block = l1.w3.eth.block_number
    votes_a = l1.token.functions.getVotes(delegate).call()
    l1.send(l1.token.functions.transfer(b, 10 * OPEN), a)
    assert l1.token.functions.getVotes(delegate).call() == votes_a - 10 * OPEN
    assert l1.token.functions.getVotes(b).call() == l1.balance(b)
    l1.rpc("evm_mine")
    assert l1.token.functions.getPastVotes(delegate, before_block).call() == votes_a


def test_burn_reduces_voting_power_and_past_supply_succeeds(l1: L1Env) -> None:
    a = l1.outsiders[0]
    l1.send(l1.token.functions.delegate(a), a)
    l1.send(l1.token.functions.burn(OPEN), a)
    block = l1.w3.eth.block_number
    l1.rpc("evm_mine")
    assert l1.token.functions.getVotes(a).call() == l1.balance(a)
    assert l1.token.functions.getPastTotalSupply(block).call() == TOKEN_SUPPLY - OPEN


def test_getPastVotes_future_block_reverts(l1: L1Env) -> None:
    now = l1.w3.eth.block_number
    l1.assert_reverts(l1.token.functions.getPastVotes(l1.admin, now + 10), l1.admin,
                      "ERC5805FutureLookup(uint256,uint48)", now + 10, now)


def test_clock_is_block_number_succeeds(l1: L1Env) -> None:
    assert l1.token.functions.CLOCK_MODE().call() == "mode=blocknumber&from=default"
    assert l1.token.functions.clock().call() == l1.w3.eth.block_number


def _delegation(l1: L1Env, key: bytes, delegatee: str, nonce: int, expiry: int) -> tuple[Any, ...]:
    message = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Delegation": [
                {"name": "delegatee", "type": "address"},
                {"name": "nonce", "type": "uint256"},
                {"name": "expiry", "type": "uint256"},
            ],
        },
        "primaryType": "Delegation",
        "domain": {"name": "Open", "version": "1", "chainId": l1.w3.eth.chain_id,
                   "verifyingContract": l1.token.address},
        "message": {"delegatee": delegatee, "nonce": nonce, "expiry": expiry},
    }
    signed = Account.sign_message(encode_typed_data(full_message=message), key)
    return delegatee, nonce, expiry, signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")


def test_delegateBySig_valid_signature_succeeds(l1: L1Env) -> None:
    key = _key(8)
    owner = Account.from_key(key).address
    args = _delegation(l1, key, l1.outsiders[2], 0, l1.now() + 3600)
    l1.send(l1.token.functions.delegateBySig(*args), l1.admin)  # relayed by someone else
    assert l1.token.functions.delegates(owner).call() == l1.outsiders[2]
    assert l1.token.functions.getVotes(l1.outsiders[2]).call() == l1.balance(owner)
    assert l1.token.functions.nonces(owner).call() == 1


def test_delegateBySig_nonce_used_by_permit_reverts(l1: L1Env) -> None:
    key = _key(8)
    owner = Account.from_key(key).address
    l1.send(l1.token.functions.permit(*_permit(l1, key, l1.outsiders[2], OPEN, l1.now() + 3600)), l1.admin)
    args = _delegation(l1, key, l1.outsiders[2], 0, l1.now() + 3600)  # permit and votes share one nonce
    l1.assert_reverts(l1.token.functions.delegateBySig(*args), l1.admin,
                      "InvalidAccountNonce(address,uint256)", owner, 1)
