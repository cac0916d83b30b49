"""What a post-merge block does besides its transactions, fork by fork, exactly
as py-evm 0.12.1b1's VMs do it (`block_preprocessing`, `block_postprocessing`):

- Cancun (EIP-4788): before the transactions, the block's timestamp and parent
  beacon block root go into the beacon-roots contract's ring buffer, when that
  contract is deployed (in genesis `alloc`);
- Prague (EIP-2935): before the transactions, the parent hash goes into the
  history-storage contract, when it is deployed;
- Prague (EIP-7685): after the transactions, the block's requests: deposits
  (EIP-6110) from the deposit contract's logs, then withdrawal (EIP-7002) and
  consolidation (EIP-7251) requests from system calls to their contracts, when
  deployed; the header commits to them in `requests_hash`.

A dev chain without these contracts has empty requests and the empty requests hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from eth.abc import BlockHeaderAPI, StateAPI
from eth.constants import SYSTEM_ADDRESS, SYSTEM_MESSAGE_GAS
from eth.vm.forks.cancun.constants import (
    BEACON_ROOTS_ADDRESS,
    BEACON_ROOTS_CONTRACT_CODE,
    HISTORY_BUFFER_LENGTH,
)
from eth.vm.forks.prague.constants import (
    CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS,
    CONSOLIDATION_REQUEST_TYPE,
    DEPOSIT_CONTRACT_ADDRESS,
    DEPOSIT_EVENT_SIGNATURE_HASH,
    DEPOSIT_REQUEST_TYPE,
    HISTORY_SERVE_WINDOW,
    HISTORY_STORAGE_ADDRESS,
    HISTORY_STORAGE_CONTRACT_CODE,
    WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS,
    WITHDRAWAL_REQUEST_TYPE,
)
from eth.vm.message import Message

from openledger_node.execution.l1.forks import CANCUN, PRAGUE, Fork
from openledger_node.execution.types import Receipt
from openledger_node.primitives import Address


def begin_block(fork: Fork, state: StateAPI, header: BlockHeaderAPI) -> None:
    """The state changes a block makes before its first transaction."""
    if fork.at_least(CANCUN) and state.get_code(BEACON_ROOTS_ADDRESS) == BEACON_ROOTS_CONTRACT_CODE:
        slot = header.timestamp % HISTORY_BUFFER_LENGTH
        state.set_storage(BEACON_ROOTS_ADDRESS, slot, header.timestamp)
        state.set_storage(
            BEACON_ROOTS_ADDRESS,
            slot + HISTORY_BUFFER_LENGTH,
            int.from_bytes(header.parent_beacon_block_root or b"", "big"),
        )
    if fork.at_least(PRAGUE) and state.get_code(HISTORY_STORAGE_ADDRESS) == HISTORY_STORAGE_CONTRACT_CODE:
        state.set_storage(
            HISTORY_STORAGE_ADDRESS,
            (header.block_number - 1) % HISTORY_SERVE_WINDOW,
            int.from_bytes(header.parent_hash, "big"),
        )


def deposit_requests(receipts: Sequence[Receipt]) -> bytes:
    """EIP-6110: the deposit contract's DepositEvent logs, as request data."""
    data = b""
    for receipt in receipts:
        for log in receipt.logs:
            if log.address == DEPOSIT_CONTRACT_ADDRESS and log.topics and log.topics[0] == DEPOSIT_EVENT_SIGNATURE_HASH:
                d = log.data
                data += d[192:240] + d[288:320] + d[352:360] + d[416:512] + d[544:552]
    return data


def _system_call(state: StateAPI, address: Address) -> bytes:
    """Call a system contract as SYSTEM_ADDRESS with no value and no data."""
    code = state.get_code(address)
    if not code:
        return b""
    message = Message(
        gas=SYSTEM_MESSAGE_GAS,
        to=address,
        sender=SYSTEM_ADDRESS,
        value=0,
        data=b"",
        code=code,
        code_address=address,
    )
    context = state.get_transaction_context_class()(gas_price=0, origin=SYSTEM_ADDRESS)
    computation = state.computation_class.apply_computation(state, message, context)
    return bytes(computation.output)


def end_block(fork: Fork, state: StateAPI, receipts: Sequence[Receipt]) -> list[bytes]:
    """The block's requests (Prague on; empty before), each its type byte then data."""
    if not fork.at_least(PRAGUE):
        return []
    requests = [DEPOSIT_REQUEST_TYPE + deposit_requests(receipts)]
    for address, request_type in (
        (WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS, WITHDRAWAL_REQUEST_TYPE),
        (CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS, CONSOLIDATION_REQUEST_TYPE),
    ):
        output = _system_call(state, Address(address))
        if output:
            requests.append(request_type + output)
    return requests


def requests_hash(requests: Sequence[bytes]) -> bytes:
    """EIP-7685: sha256 over the sha256 of each non-empty request."""
    outer = hashlib.sha256()
    for request in requests:
        if len(request) > 1:
            outer.update(hashlib.sha256(request).digest())
    return outer.digest()
