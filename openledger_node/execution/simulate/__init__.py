"""Simulated calls: what eth_call, eth_estimateGas and eth_createAccessList execute.

A call runs as an unsigned transaction at the state and in the block context of
one header, through the same py-evm executor that applies real transactions (so
its gas used is what a receipt would say), and on a fresh in-memory overlay, so
nothing it writes persists. Only the checks before execution differ from a
block's, and they follow geth's eth_call: no signature, the nonce is checked only
when the caller gives one, the sender's code is ignored, and with no fee fields
the gas is free (the base fee is then taken as 0, as geth does) while the value
must still be covered.

The JSON-RPC handlers parse their parameters into `CallRequest` and
`AccountOverride` (`request`) and call a `Simulator` (`simulator`) built for the
block they resolved; it runs them on the VM in `vm`, or on the tracing VM in
`tracer` when it builds an access list.
"""

from openledger_node.execution.simulate.request import (
    AccessList,
    AccountOverride,
    CallRequest,
    CallResult,
    decode_revert_reason,
    vm_error_message,
)
from openledger_node.execution.simulate.simulator import DEFAULT_GAS_CAP, Simulator
from openledger_node.execution.simulate.tracer import AccessListTracer
from openledger_node.execution.simulate.vm import SimulatedTransaction, deadline

__all__ = [
    "DEFAULT_GAS_CAP",
    "AccessList",
    "AccessListTracer",
    "AccountOverride",
    "CallRequest",
    "CallResult",
    "SimulatedTransaction",
    "Simulator",
    "deadline",
    "decode_revert_reason",
    "vm_error_message",
]
