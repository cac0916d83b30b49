"""The node's error tree.

Every error the node raises on purpose derives from `OpenLedgerError` and carries
its values as fields. The JSON-RPC layer maps these classes to codes and to the
messages that Ethereum clients parse (geth's wording), so the message of each
transaction error starts with that wording.
"""

from __future__ import annotations


class OpenLedgerError(Exception):
    """Root of every error the node raises on purpose."""


# --- severities: what a long-running loop does with an error ---------------------
# (op-node's derive/error.go). A loop retries a temporary error with backoff,
# answers a reset error by re-deriving from its last safe point, and stops on a
# critical one. An error of no severity that escapes a step counts as temporary.


class TemporaryError(OpenLedgerError):
    """Retry the same step later (an L1 endpoint timed out, a lock was busy)."""


class ResetError(OpenLedgerError):
    """The loop's view is stale (L1 reorganised): re-derive from the last safe point."""


class CriticalError(OpenLedgerError):
    """Going on would be wrong (storage failed, a rule was broken): stop the service."""


# --- configuration and genesis -------------------------------------------------


class ConfigError(OpenLedgerError):
    """A configuration file or value is invalid; the message names the field."""


class GenesisMismatch(OpenLedgerError):
    def __init__(self, stored: bytes, configured: bytes) -> None:
        self.stored = stored
        self.configured = configured
        super().__init__(
            f"data directory holds genesis 0x{stored.hex()} but the configured genesis "
            f"is 0x{configured.hex()}; use a fresh data directory or the matching genesis"
        )


class UnsafeDevAccounts(OpenLedgerError):
    """A non-dev network funds the publicly known test-mnemonic accounts."""


# --- transactions --------------------------------------------------------------


class InvalidTransaction(OpenLedgerError):
    """A transaction that can never be or cannot now be included."""


class TxDecodeError(InvalidTransaction):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"rlp: invalid transaction: {reason}")


class UnsupportedTxType(InvalidTransaction):
    def __init__(self, tx_type: int, reason: str = "") -> None:
        self.tx_type = tx_type
        extra = f": {reason}" if reason else ""
        super().__init__(f"transaction type not supported (0x{tx_type:02x}){extra}")


class InvalidSignature(InvalidTransaction):
    def __init__(self, reason: str = "invalid transaction v, r, s values") -> None:
        super().__init__(reason)


class WrongChainId(InvalidTransaction):
    def __init__(self, got: int | None, expected: int) -> None:
        self.got = got
        self.expected = expected
        if got is None:
            msg = "only replay-protected (EIP-155) transactions allowed over RPC"
        else:
            msg = f"invalid chain id for signer: have {got} want {expected}"
        super().__init__(msg)


class NonceTooLow(InvalidTransaction):
    def __init__(self, sender: bytes, tx_nonce: int, state_nonce: int) -> None:
        self.sender = sender
        self.tx_nonce = tx_nonce
        self.state_nonce = state_nonce
        super().__init__(
            f"nonce too low: address 0x{sender.hex()}, tx: {tx_nonce} state: {state_nonce}"
        )


class NonceTooHigh(InvalidTransaction):
    def __init__(self, sender: bytes, tx_nonce: int, state_nonce: int) -> None:
        self.sender = sender
        self.tx_nonce = tx_nonce
        self.state_nonce = state_nonce
        super().__init__(
            f"nonce too high: address 0x{sender.hex()}, tx: {tx_nonce} state: {state_nonce}"
        )


class InsufficientFunds(InvalidTransaction):
    def __init__(self, sender: bytes, balance: int, cost: int) -> None:
        self.sender = sender
        self.balance = balance
        self.cost = cost
        super().__init__(
            f"insufficient funds for gas * price + value: address 0x{sender.hex()} "
            f"have {balance} want {cost}"
        )


class IntrinsicGasTooLow(InvalidTransaction):
    def __init__(self, gas: int, intrinsic: int) -> None:
        self.gas = gas
        self.intrinsic = intrinsic
        super().__init__(f"intrinsic gas too low: have {gas}, want {intrinsic}")


class GasLimitExceeded(InvalidTransaction):
    def __init__(self, gas: int, block_gas_limit: int) -> None:
        self.gas = gas
        self.block_gas_limit = block_gas_limit
        super().__init__(
            f"exceeds block gas limit: tx gas {gas}, block gas limit {block_gas_limit}"
        )


class FeeCapTooLow(InvalidTransaction):
    """The fee cap is below the pool's price floor or the block's base fee."""

    def __init__(self, fee_cap: int, minimum: int, what: str = "minimum", sender: bytes | None = None) -> None:
        self.fee_cap = fee_cap
        self.minimum = minimum
        self.sender = sender
        if what == "base fee":
            who = "" if sender is None else f"address 0x{bytes(sender).hex()}, "
            msg = f"max fee per gas less than block base fee: {who}maxFeePerGas: {fee_cap}, baseFee: {minimum}"
        else:
            msg = f"transaction underpriced: gas fee cap {fee_cap}, minimum needed {minimum}"
        super().__init__(msg)


class TipAboveFeeCap(InvalidTransaction):
    def __init__(self, tip: int, fee_cap: int) -> None:
        self.tip = tip
        self.fee_cap = fee_cap
        super().__init__(
            f"max priority fee per gas higher than max fee per gas: "
            f"maxPriorityFeePerGas: {tip}, maxFeePerGas: {fee_cap}"
        )


class OversizedTransaction(InvalidTransaction):
    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(f"oversized data: transaction size {size}, limit {limit}")


class InitCodeTooLarge(InvalidTransaction):
    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(f"max initcode size exceeded: code size {size} limit {limit}")


class FeeOverflow(InvalidTransaction):
    def __init__(self) -> None:
        super().__init__("fee cap or tip does not fit in 256 bits")


# --- pool ----------------------------------------------------------------------


class PoolError(OpenLedgerError):
    """The pool refuses a transaction that is otherwise valid."""


class AlreadyKnown(PoolError):
    def __init__(self, tx_hash: bytes) -> None:
        self.tx_hash = tx_hash
        super().__init__("already known")


class ReplacementUnderpriced(PoolError):
    def __init__(self, bump_percent: int) -> None:
        self.bump_percent = bump_percent
        super().__init__("replacement transaction underpriced")


class PoolClosed(PoolError):
    def __init__(self) -> None:
        super().__init__("transaction pool is shutting down")


class PoolFull(PoolError):
    def __init__(self) -> None:
        super().__init__("txpool is full")


class SenderLimitReached(PoolError):
    def __init__(self, sender: bytes, limit: int) -> None:
        self.sender = sender
        self.limit = limit
        super().__init__(f"account limit exceeded: 0x{sender.hex()} has {limit} transactions in the pool")


class Underpriced(PoolError):
    """The pool is full and the transaction pays less than the cheapest in it."""

    def __init__(self) -> None:
        super().__init__("transaction underpriced")


class ForwardedError(OpenLedgerError):
    """Another node's JSON-RPC error, passed on unchanged (a validator forwards
    transactions to the sequencer and answers with what it said)."""

    def __init__(self, code: int, message: str, data: object = None) -> None:
        self.code = code
        self.message = message
        self.data = data
        super().__init__(message)


# --- simulation (eth_call, eth_estimateGas) ---------------------------------------


class ExecutionReverted(OpenLedgerError):
    """A simulated call reverted; `data` is the revert data (ABI-encoded reason or
    custom error), `reason` the decoded Error(string) message when there is one."""

    def __init__(self, data: bytes, reason: str | None = None) -> None:
        self.data = data
        self.reason = reason
        super().__init__(f"execution reverted: {reason}" if reason else "execution reverted")


class ExecutionTimeout(OpenLedgerError):
    """A simulated call ran past its deadline (geth's eth_call timeout)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(f"execution aborted (timeout = {seconds:g}s)")


class ExecutionFailed(OpenLedgerError):
    """A simulated call failed without revert data (out of gas, invalid opcode...)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class GasRequiredExceedsAllowance(OpenLedgerError):
    def __init__(self, cap: int) -> None:
        self.cap = cap
        super().__init__(f"gas required exceeds allowance ({cap})")


# --- blocks and chain ------------------------------------------------------------


class InvalidBlock(OpenLedgerError):
    """A block that does not follow the rules; the message carries both values."""


class BlockFieldMismatch(InvalidBlock):
    """A block's field differs from what the rules and re-execution give."""

    def __init__(self, number: int, field: str, expected: object, actual: object) -> None:
        self.number = number
        self.field = field
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"block {number}: invalid {field}: expected {_show(expected)}, block has {_show(actual)}"
        )


def _show(value: object) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return repr(value)


class StorageError(CriticalError):
    """The data directory is missing, corrupt or belongs to another chain."""


class BlockNotFound(OpenLedgerError):
    def __init__(self, what: object) -> None:
        self.what = what
        super().__init__(f"block not found: {what}")


# --- derivation ------------------------------------------------------------------


class InvalidDeposit(OpenLedgerError):
    """A portal TransactionDeposited log that does not follow the deposit layout."""

    def __init__(self, log_index: int, reason: str) -> None:
        self.log_index = log_index
        self.reason = reason
        super().__init__(f"invalid deposit in L1 log {log_index}: {reason}")


# --- batches (openledger_node/codec, docs/protocol.md) ----------------------------


class BatchDecodeError(InvalidBlock):
    """Bytes posted to L1 that are not a well-formed batch or frame set: the
    derivation drops them (they carry no blocks), whoever posted them."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"invalid batch: {reason}")
