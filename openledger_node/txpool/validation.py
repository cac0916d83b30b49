"""Admission checks for the transaction pool.

Sits between the wire and the pool: `eth_sendRawTransaction` bytes (and journal
records on restart) pass through `decode_pool_transaction` and `validate_stateless`
before the pool takes its lock, then through the stateful checks against the
sender's account, with the pool's own view of that sender's other transactions.
The rules and their order follow geth's `txpool.ValidateTransaction` for the
Prague fork; each failure raises the typed error from `openledger_node.exceptions`.
"""

from __future__ import annotations

from eth.abc import SignedTransactionAPI
from eth_utils.exceptions import ValidationError

from openledger_node.exceptions import (
    FeeCapTooLow,
    FeeOverflow,
    GasLimitExceeded,
    InitCodeTooLarge,
    InsufficientFunds,
    IntrinsicGasTooLow,
    NonceTooLow,
    OversizedTransaction,
    TipAboveFeeCap,
    TxDecodeError,
    UnsupportedTxType,
    WrongChainId,
)
from openledger_node.execution.transactions import (
    DepositTransaction,
    Transaction,
    chain_id_of,
    decode_transaction,
    tx_type,
)
from openledger_node.primitives import (
    ACCESS_LIST_TX_TYPE,
    BLOB_TX_TYPE,
    DEPOSIT_TX_TYPE,
    DYNAMIC_FEE_TX_TYPE,
    LEGACY_TX_TYPE,
    SET_CODE_TX_TYPE,
)

POOL_TX_TYPES = frozenset(
    {LEGACY_TX_TYPE, ACCESS_LIST_TX_TYPE, DYNAMIC_FEE_TX_TYPE, SET_CODE_TX_TYPE}
)

TX_BASE_GAS = 21_000
INITCODE_WORD_GAS = 2  # EIP-3860
MAX_INITCODE_SIZE = 2 * 24_576  # EIP-3860: twice the EIP-170 code size limit
FLOOR_GAS_PER_TOKEN = 10  # EIP-7623
NONZERO_BYTE_TOKENS = 4  # EIP-7623
UINT256_BITS = 256

_DEPOSIT_REASON = "deposit transactions are derived from L1, not sent"


def reject_deposit(tx: Transaction) -> SignedTransactionAPI:
    """Narrow a decoded transaction to a signed one; deposits never enter the pool."""
    if isinstance(tx, DepositTransaction) or tx_type(tx) == DEPOSIT_TX_TYPE:
        raise UnsupportedTxType(DEPOSIT_TX_TYPE, _DEPOSIT_REASON)
    return tx


def check_size(size: int, max_tx_size: int) -> None:
    if size > max_tx_size:
        raise OversizedTransaction(size, max_tx_size)


def decode_pool_transaction(raw: bytes, max_tx_size: int) -> SignedTransactionAPI:
    """Decode wire bytes for the pool. The size limit is checked before decoding so
    that an oversized payload costs no RLP work."""
    check_size(len(raw), max_tx_size)
    return reject_deposit(decode_transaction(raw))


def floor_data_gas(data: bytes) -> int:
    """EIP-7623 minimum gas of a transaction carrying `data`."""
    zero = data.count(0)
    tokens = zero + NONZERO_BYTE_TOKENS * (len(data) - zero)
    return TX_BASE_GAS + FLOOR_GAS_PER_TOKEN * tokens


def is_create(tx: SignedTransactionAPI) -> bool:
    return not tx.to


def intrinsic_gas(tx: SignedTransactionAPI) -> int:
    """py-evm's intrinsic gas plus the EIP-3860 initcode word cost, which py-evm
    charges during execution but geth (and so every wallet) counts up front."""
    gas = int(tx.intrinsic_gas)
    if is_create(tx):
        gas += INITCODE_WORD_GAS * ((len(tx.data) + 31) // 32)
    return gas


def tx_cost(tx: SignedTransactionAPI) -> int:
    """The most a transaction can take from its sender: gas * fee cap + value."""
    return int(tx.gas) * int(tx.max_fee_per_gas) + int(tx.value)


def validate_stateless(
    tx: SignedTransactionAPI,
    size: int,
    *,
    chain_id: int,
    block_gas_limit: int,
    price_limit: int,
    max_tx_size: int,
) -> None:
    """Checks that need no state: they hold for the transaction wherever it goes.

    The sender must already be recovered, which also checks the signature values
    (`decode_transaction` and `recover` do it)."""
    kind = tx_type(tx)
    if kind == DEPOSIT_TX_TYPE:
        raise UnsupportedTxType(kind, _DEPOSIT_REASON)
    if kind == BLOB_TX_TYPE:
        raise UnsupportedTxType(kind, "blob transactions are not accepted on this chain")
    if kind not in POOL_TX_TYPES:
        raise UnsupportedTxType(kind)
    check_size(size, max_tx_size)
    tx_chain_id = chain_id_of(tx)
    if tx_chain_id != chain_id:
        raise WrongChainId(tx_chain_id, chain_id)
    if is_create(tx) and len(tx.data) > MAX_INITCODE_SIZE:
        raise InitCodeTooLarge(len(tx.data), MAX_INITCODE_SIZE)
    gas = int(tx.gas)
    if gas > block_gas_limit:
        raise GasLimitExceeded(gas, block_gas_limit)
    fee_cap = int(tx.max_fee_per_gas)
    tip = int(tx.max_priority_fee_per_gas)
    if fee_cap.bit_length() > UINT256_BITS or tip.bit_length() > UINT256_BITS:
        raise FeeOverflow()
    if tip > fee_cap:
        raise TipAboveFeeCap(tip, fee_cap)
    required = max(intrinsic_gas(tx), floor_data_gas(bytes(tx.data)))
    if gas < required:
        raise IntrinsicGasTooLow(gas, required)
    if fee_cap < price_limit:
        raise FeeCapTooLow(fee_cap, price_limit)
    try:
        tx.validate()
    except ValidationError as exc:
        raise TxDecodeError(str(exc)) from exc


EIP1559_DENOMINATOR = 8  # base fee max change denominator


def lowest_base_fee(
    next_base_fee: int,
    min_base_fee: int,
    denominator: int = EIP1559_DENOMINATOR,
    every_block_uses_gas: bool = False,
) -> int:
    """The lowest base fee any block from the next one on can have.

    EIP-1559 lowers a base fee b by at most b * (target - used) // target //
    denominator a block, in integers: below `denominator` it never falls, and
    from above it stops at `denominator - 1` (empty blocks) or at `denominator`
    when no block is empty (an L2 block always holds its L1-info deposit, whose
    gas is small against the target: b = denominator then loses less than
    one). The chain's `min_base_fee` is a floor too."""
    stop = denominator if every_block_uses_gas else denominator - 1
    return max(min_base_fee, min(next_base_fee, stop))


def validate_fee_cap_reachable(sender: bytes, fee_cap: int, floor: int, base_fee: int) -> None:
    """A fee cap below every base fee the chain can still have is never mined:
    refused with geth's state-transition wording, naming the next block's base fee."""
    if fee_cap < floor:
        raise FeeCapTooLow(fee_cap, base_fee, "base fee", sender)


def validate_nonce(sender: bytes, tx_nonce: int, state_nonce: int) -> None:
    if tx_nonce < state_nonce:
        raise NonceTooLow(sender, tx_nonce, state_nonce)


def validate_balance(sender: bytes, balance: int, cost: int, committed: int) -> None:
    """`cost` is this transaction's; `committed` what the sender's other pending
    transactions can already cost (geth's overdraft rule)."""
    if balance < cost:
        raise InsufficientFunds(sender, balance, cost)
    if balance < committed + cost:
        raise InsufficientFunds(sender, balance, committed + cost)


def bumped(old: int, price_bump: int) -> int:
    return old * (100 + price_bump) // 100


def replacement_allowed(
    old_fee_cap: int, old_tip: int, new_fee_cap: int, new_tip: int, price_bump: int
) -> bool:
    """Both fees must rise strictly and by at least `price_bump` percent."""
    if new_fee_cap <= old_fee_cap or new_tip <= old_tip:
        return False
    return new_fee_cap >= bumped(old_fee_cap, price_bump) and new_tip >= bumped(old_tip, price_bump)
