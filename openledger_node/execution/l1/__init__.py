"""Plain Ethereum rules, for the project's own L1 node (`openledger-node l1`).

The same codebase that runs the rollup runs a plain post-merge Ethereum chain:
py-evm's fork VMs as they are (base fee burned, no deposits, no L1-info
transaction, no fee vaults), chosen per block by the fork schedule of a
geth-format genesis file. The node kind that assembles them (store, pool, block
producer, JSON-RPC) is `node/l1.py`; this package holds the rules only:

    forks      the fork schedule and py-evm's VM for each fork
    genesis    the geth-format genesis file and block 0
    headers    each fork's header fields; the producer's child header
    system     the per-block system operations (beacon roots, history, requests)
    block      `apply_l1_block` (check and execute a given block) and the executor
    chainfile  `geth export` / `geth import` chain files
"""

from openledger_node.execution.l1.block import (
    L1Block,
    L1BlockExecutor,
    L1BlockOutput,
    apply_l1_block,
    as_fork_transaction,
    decode_l1_transaction,
    validate_l1_body,
    validate_l1_header,
)
from openledger_node.execution.l1.chainfile import (
    decode_block,
    encode_block,
    read_chain_file,
    write_chain_file,
)
from openledger_node.execution.l1.forks import CANCUN, FORKS, PARIS, PRAGUE, SHANGHAI, Fork, ForkSchedule
from openledger_node.execution.l1.genesis import (
    L1Genesis,
    build_l1_genesis,
    load_l1_genesis,
    parse_genesis,
)
from openledger_node.execution.l1.headers import header_for_fork, next_header

__all__ = [
    "CANCUN",
    "FORKS",
    "PARIS",
    "PRAGUE",
    "SHANGHAI",
    "Fork",
    "ForkSchedule",
    "L1Block",
    "L1BlockExecutor",
    "L1BlockOutput",
    "L1Genesis",
    "apply_l1_block",
    "as_fork_transaction",
    "build_l1_genesis",
    "decode_block",
    "decode_l1_transaction",
    "encode_block",
    "header_for_fork",
    "load_l1_genesis",
    "next_header",
    "parse_genesis",
    "read_chain_file",
    "validate_l1_body",
    "validate_l1_header",
    "write_chain_file",
]
