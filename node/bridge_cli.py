"""`openledger-node bridge`: deposits and withdrawals from the command line, over
`bridge.flows` (docs/bridge.md).

    openledger-node bridge deposit  --to ADDR --amount 10 [--gas-limit N] [--data 0x..] [--no-approve]
    openledger-node bridge withdraw --to ADDR --amount 4  [--gas-limit N] [--data 0x..]
    openledger-node bridge status   WITHDRAWAL
    openledger-node bridge prove    WITHDRAWAL
    openledger-node bridge finalize WITHDRAWAL

WITHDRAWAL is the withdrawal's hash or the hash of the L2 transaction that
started it. The endpoints and the deployment file come from `--l1-rpc`,
`--l2-rpc`, `--deployment` or the node's environment (`OPENLEDGER__L1__RPC_URL`,
`OPENLEDGER__L1__DEPLOYMENT`). The signing key comes from `OPENLEDGER_BRIDGE_KEY`,
or `--dev N` picks dev key N on a dev L1; never from the command line.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openledger_node.exceptions import ConfigError

# The parser of every command imports this module: the bridge's own imports (web3,
# the contract bindings) wait until a bridge command runs.
if TYPE_CHECKING:
    from bridge.flows import Bridge
    from bridge.l1 import L1Client
    from bridge.txmgr import TxManager
    from openledger_node.primitives import Address

KEY_ENV = "OPENLEDGER_BRIDGE_KEY"
L1_RPC_ENV = "OPENLEDGER__L1__RPC_URL"
DEPLOYMENT_ENV = "OPENLEDGER__L1__DEPLOYMENT"
DEFAULT_L2_RPC = "http://127.0.0.1:8545"
# L1 chains on which the public dev keys may sign: the project's L1 node, anvil / hardhat, geth --dev.
DEV_L1_CHAIN_IDS = frozenset({900, 31337, 1337})
RECEIPT_POLL_INTERVAL = 0.25  # one transaction at a time, each waited for: poll faster than the services
SEND_TIMEOUT = 300.0


def add_arguments(parser: argparse.ArgumentParser, *, signs: bool) -> None:
    """The options every bridge subcommand takes (and `--dev` for those that sign)."""
    parser.add_argument("--l1-rpc", default=None, help=f"L1 JSON-RPC URL (default ${L1_RPC_ENV})")
    parser.add_argument("--l2-rpc", default=None, help=f"L2 JSON-RPC URL (default {DEFAULT_L2_RPC})")
    parser.add_argument("--deployment", default=None,
                        help=f"the L1 deployment file of deploy-l1 (default ${DEPLOYMENT_ENV})")
    if signs:
        parser.add_argument("--dev", type=int, default=None, metavar="N",
                            help=f"sign with dev key N (0-9, a dev L1 only); default: the key in ${KEY_ENV}")


def cmd_bridge(args: argparse.Namespace) -> int:
    commands: dict[str, Callable[[argparse.Namespace, Bridge], int]] = {
        "deposit": _deposit, "withdraw": _withdraw, "prove": _prove, "finalize": _finalize, "status": _status,
    }
    return commands[args.bridge_command](args, _bridge(args))


def _bridge(args: argparse.Namespace) -> Bridge:
    from bridge.deploy import load_deployment
    from bridge.flows import Bridge
    from bridge.l1 import L1Client

    l1_rpc = args.l1_rpc or os.environ.get(L1_RPC_ENV)
    deployment_path = args.deployment or os.environ.get(DEPLOYMENT_ENV)
    if not l1_rpc:
        raise ConfigError(f"bridge: name the L1 endpoint with --l1-rpc (or set {L1_RPC_ENV})")
    if not deployment_path:
        raise ConfigError(f"bridge: name the L1 deployment file with --deployment (or set {DEPLOYMENT_ENV})")
    deployment = load_deployment(Path(deployment_path))
    l1 = L1Client(l1_rpc, timeout=30, chain_id=deployment.chain_id)
    l1.chain_id()  # an L1 of another chain stops here
    return Bridge.of(l1, L1Client(args.l2_rpc or DEFAULT_L2_RPC, timeout=30), deployment)


def _key(args: argparse.Namespace, bridge: Bridge) -> str:
    if args.dev is not None:
        from openledger_node.execution.genesis import dev_private_keys

        keys = dev_private_keys()
        if not 0 <= args.dev < len(keys):
            raise ConfigError(f"bridge: --dev takes a dev key index from 0 to {len(keys) - 1}, got {args.dev}")
        chain_id = bridge.l1.chain_id()
        if chain_id not in DEV_L1_CHAIN_IDS:
            raise ConfigError(
                f"bridge: --dev signs with a public test key, refused on L1 chain {chain_id} (dev L1 chains: "
                f"{', '.join(map(str, sorted(DEV_L1_CHAIN_IDS)))}); set {KEY_ENV} instead"
            )
        return "0x" + bytes(keys[args.dev]).hex()
    key = os.environ.get(KEY_ENV)
    if not key:
        raise ConfigError(f"bridge: set {KEY_ENV} to the signing key (or pass --dev N on a dev network)")
    return key


def _txmgr(args: argparse.Namespace, bridge: Bridge, client: L1Client) -> TxManager:
    from bridge.txmgr import TxManager, TxManagerConfig

    config = TxManagerConfig(receipt_poll_interval=RECEIPT_POLL_INTERVAL, send_timeout=SEND_TIMEOUT)
    try:
        return TxManager(client, _key(args, bridge), config)
    except (ValueError, TypeError) as exc:  # eth_account's complaint about a malformed key
        raise ConfigError(f"bridge: {KEY_ENV} is not a private key: {type(exc).__name__}") from None


def _address(text: str, what: str) -> Address:
    from bridge.flows import BridgeError
    from openledger_node.primitives import addr

    try:
        return addr(text)
    except ValueError as exc:
        raise BridgeError(f"{what}: {exc}") from None


def _hash(text: str) -> bytes:
    from bridge.flows import BridgeError

    raw = text[2:] if text.startswith(("0x", "0X")) else text
    try:
        value = bytes.fromhex(raw)
    except ValueError:
        value = b""
    if len(value) != 32:
        raise BridgeError(f"{text!r} is not a 32-byte hash (a withdrawal hash or its L2 transaction hash)")
    return value


def _data(text: str) -> bytes:
    from bridge.flows import BridgeError

    try:
        return bytes.fromhex(text[2:] if text.startswith(("0x", "0X")) else text)
    except ValueError:
        raise BridgeError(f"--data {text!r} is not hex") from None


def _closing(txmgr: TxManager, work: Callable[[], Any]) -> Any:
    try:
        return work()
    finally:
        txmgr.close()


def _deposit(args: argparse.Namespace, bridge: Bridge) -> int:
    from bridge.flows import format_open, parse_open

    to, amount, data = _address(args.to, "--to"), parse_open(args.amount), _data(args.data)
    txmgr = _txmgr(args, bridge, bridge.l1)
    result = _closing(txmgr, lambda: bridge.deposit(txmgr, to, amount, args.gas_limit, data,
                                                    approve=not args.no_approve))
    receipt = result.receipt
    print(f"deposited {format_open(amount)} from 0x{txmgr.address.hex()} for 0x{to.hex()} on L2 "
          f"in L1 transaction 0x{receipt.transaction_hash.hex()} (block {receipt.block_number})"
          + (", after approving the portal" if result.approved else ""))
    print(f"L2 deposit transaction 0x{result.l2_transaction.hex()}: credited at the start of the L2 epoch "
          f"of L1 block {receipt.block_number}")
    return 0


def _withdraw(args: argparse.Namespace, bridge: Bridge) -> int:
    from bridge.flows import format_open, parse_open

    to, amount, data = _address(args.to, "--to"), parse_open(args.amount), _data(args.data)
    txmgr = _txmgr(args, bridge, bridge.l2)
    initiated = _closing(txmgr, lambda: bridge.withdraw(txmgr, to, amount, args.gas_limit, data))
    print(f"withdrawal 0x{initiated.hash.hex()} initiated on L2 in block {initiated.l2_block} "
          f"(transaction 0x{initiated.l2_transaction.hex()})")
    print(f"  {format_open(amount)} from 0x{initiated.withdrawal.sender.hex()} to 0x{to.hex()} on L1")
    print(f"next: once an output on L1 covers L2 block {initiated.l2_block}, "
          f"`openledger-node bridge prove 0x{initiated.hash.hex()}` (see `bridge status`)")
    return 0


def _prove(args: argparse.Namespace, bridge: Bridge) -> int:
    from bridge.flows import format_time

    ref = _hash(args.withdrawal)
    txmgr = _txmgr(args, bridge, bridge.l1)
    result = _closing(txmgr, lambda: bridge.prove(txmgr, ref))
    print(f"proved withdrawal 0x{result.withdrawal.hash.hex()} against output {result.output.index} "
          f"(L2 block {result.output.l2_block}) in L1 transaction 0x{result.receipt.transaction_hash.hex()}")
    print(f"finalizable from {format_time(result.ready_at)} of L1 time, once the output is final "
          f"and the proof mature: `openledger-node bridge finalize 0x{result.withdrawal.hash.hex()}`")
    return 0


def _finalize(args: argparse.Namespace, bridge: Bridge) -> int:
    from bridge.flows import format_open

    ref = _hash(args.withdrawal)
    txmgr = _txmgr(args, bridge, bridge.l1)
    result = _closing(txmgr, lambda: bridge.finalize(txmgr, ref))
    withdrawal = result.withdrawal.withdrawal
    print(f"finalized withdrawal 0x{result.withdrawal.hash.hex()}: {format_open(withdrawal.value)} paid to "
          f"0x{withdrawal.target.hex()} in L1 transaction 0x{result.receipt.transaction_hash.hex()}")
    if withdrawal.data and not result.call_succeeded:
        print("  the call to the target failed (the OPEN is paid all the same, and the call is not retried)")
    return 0


def _status(args: argparse.Namespace, bridge: Bridge) -> int:
    status = bridge.status(_hash(args.withdrawal))
    name = f"0x{status.withdrawal.hash.hex()}" if status.withdrawal is not None else args.withdrawal
    print(f"withdrawal {name}: {status.stage.key}")
    print(f"  {status.stage.label}: {status.detail}")
    return 0
