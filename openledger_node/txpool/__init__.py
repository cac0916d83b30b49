"""Transaction pool: admission checks, pending/queued ordering and the journal.

Between the RPC server (which adds wallets' transactions) and the sequencer's
block builder (which takes the best executable ones and reports each new head).
"""

from openledger_node.txpool.journal import JournalContents, TxJournal, read_journal
from openledger_node.txpool.pool import (
    BestTransactions,
    PoolContent,
    PoolTx,
    StateReader,
    TxPool,
)
from openledger_node.txpool.validation import (
    decode_pool_transaction,
    floor_data_gas,
    intrinsic_gas,
    replacement_allowed,
    tx_cost,
    validate_stateless,
)

__all__ = [
    "BestTransactions",
    "JournalContents",
    "PoolContent",
    "PoolTx",
    "StateReader",
    "TxJournal",
    "TxPool",
    "decode_pool_transaction",
    "floor_data_gas",
    "intrinsic_gas",
    "read_journal",
    "replacement_allowed",
    "tx_cost",
    "validate_stateless",
]
