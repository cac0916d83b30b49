"""`openledger-node`: the command line of the node.

    openledger-node init --config configs/devnet.toml
    openledger-node sequencer --config configs/devnet.toml [--mode instant]
    openledger-node accounts
    openledger-node l1 [--genesis configs/l1-genesis-devnet.json] [--block-time 2]
    openledger-node import chain.rlp.gz / export chain.rlp.gz   (the L1 node's chain files)

Without --config, `configs/devnet.toml` of the working directory is used if there
is one, else the devnet config shipped with the package, so the commands work
from any directory (data directories are relative to the working directory).

Errors in configuration or data directory end the command with a one-line message
that names the problem and exit code 2; no traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from openledger_node import __version__
from openledger_node.config import LogConfig, NodeConfig, load_config, packaged_config
from openledger_node.exceptions import ConfigError, OpenLedgerError

DEFAULT_CONFIG = Path("configs/devnet.toml")


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def setup_logging(config: LogConfig) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if config.json_format:
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(config.level.upper())


def _config(args: argparse.Namespace) -> NodeConfig:
    overrides: dict[str, dict[str, Any]] = {}
    # `is not None`: a value given on the command line is checked, even 0.
    if getattr(args, "data_dir", None) is not None:
        overrides.setdefault("storage", {})["data_dir"] = args.data_dir
    if getattr(args, "mode", None) is not None:
        overrides.setdefault("sequencer", {})["mode"] = args.mode
    if getattr(args, "block_time", None) is not None:
        overrides.setdefault("chain", {})["block_time"] = args.block_time
    if getattr(args, "rpc_port", None) is not None:
        overrides.setdefault("rpc", {})["port"] = args.rpc_port
    if getattr(args, "rpc_host", None) is not None:
        overrides.setdefault("rpc", {})["host"] = args.rpc_host
    return load_config(args.config if args.config is not None else default_config(), overrides=overrides)


def default_config() -> Path:
    """configs/devnet.toml of the working directory, else the packaged one."""
    return DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else packaged_config(DEFAULT_CONFIG.name)


def cmd_init(args: argparse.Namespace) -> int:
    from node.builder import init_datadir

    config = _config(args)
    setup_logging(config.log)
    header, created = init_datadir(config)
    verb = "wrote" if created else "already holds"
    print(
        f"{config.storage.data_dir} {verb} genesis 0x{bytes(header.hash).hex()} "
        f"(chain id {config.chain.chain_id}, state root 0x{bytes(header.state_root).hex()})"
    )
    return 0


def cmd_accounts(args: argparse.Namespace) -> int:
    from openledger_node.execution.genesis import (
        DEV_ACCOUNTS,
        DEV_MNEMONIC,
        dev_private_keys,
    )

    print(f"Dev accounts (mnemonic: \"{DEV_MNEMONIC}\"); for dev networks only:")
    for i, (address, key) in enumerate(zip(DEV_ACCOUNTS, dev_private_keys(), strict=True)):
        print(f"({i}) 0x{address.hex()}  private key 0x{key.hex()}")
    return 0


def run_loop(main: Coroutine[Any, Any, int]) -> int:
    """Run the node's coroutine on uvloop's event loop where it is installed
    (libuv's loop costs every JSON-RPC request 20-30% less server CPU than
    asyncio's own, docs/benchmarks.md), else on asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def cmd_sequencer(args: argparse.Namespace) -> int:
    from node.builder import Node

    config = _config(args)
    setup_logging(config.log)
    node = Node.open(config)
    try:
        return run_loop(_serve(node, config, args.stop_after_blocks))
    finally:
        node.stop()


def cmd_validator(args: argparse.Namespace) -> int:
    from node.builder import NodeBuilder

    config = _config(args)
    setup_logging(config.log)
    node = NodeBuilder(config).build("validator")
    try:
        return run_loop(_serve(node, config, args.stop_after_blocks))
    finally:
        node.stop()


async def _serve(node: Any, config: NodeConfig, stop_after_blocks: int) -> int:
    from node.serving import serve

    def running(head: int) -> str:
        if node.kind == "validator":
            return (f"validator running: chain id {config.chain.chain_id}, head {head}, "
                    f"L1 {config.l1.rpc_url}, data dir {config.storage.data_dir}")
        return (f"sequencer running: chain id {config.chain.chain_id}, head {head}, "
                f"mode {config.sequencer.mode}, block time {config.chain.block_time}s, "
                f"data dir {config.storage.data_dir}")

    def accounts() -> None:
        if config.chain.network == "dev":
            cmd_accounts(argparse.Namespace())

    return await serve(node, config, stop_after_blocks, running, accounts)


def cmd_stake(args: argparse.Namespace) -> int:
    """`openledger-node stake|unstake|withdraw-stake`: the validator's stake on L1,
    with the key of [validator] (environment or keystore)."""
    from decimal import Decimal, InvalidOperation

    from openledger_node.exceptions import ExecutionReverted

    from bridge.deploy import load_deployment
    from bridge.l1 import L1Client
    from bridge.rollup import RollupClient
    from bridge.txmgr import TxManager
    from node.keys import load_key
    from openledger_node.primitives import addr

    config = _config(args)
    setup_logging(config.log)
    if config.l1.rpc_url is None or config.l1.deployment is None:
        raise ConfigError("l1.rpc_url and l1.deployment: staking is on the L1 rollup contract")
    deployment = load_deployment(config.l1.deployment)
    section = config.validator
    key = load_key("validator", section.key_env, section.keystore, section.keystore_password_env, dev_network=False)
    client = L1Client(config.l1.rpc_url, timeout=config.l1.timeout, chain_id=deployment.chain_id)
    txmgr = TxManager(client, key)
    try:
        rollup = RollupClient(client, txmgr, addr(deployment.rollup), addr(deployment.open_token))
        amount = 0
        if args.command in ("stake", "unstake"):
            try:
                amount = int(Decimal(args.amount) * 10**18)
            except InvalidOperation:
                raise ConfigError(f"{args.command}: amount {args.amount!r} is not a number of OPEN") from None
            if amount <= 0:
                raise ConfigError(f"{args.command}: amount must be positive, got {args.amount}")
        try:
            if args.command == "stake":
                rollup.stake(amount)
            elif args.command == "unstake":
                rollup.request_unstake(amount)
            else:
                rollup.withdraw_stake()
        except ExecutionReverted as exc:  # the contract's own error, by name
            from bridge.bindings import ROLLUP

            decoded = ROLLUP.decode_error(exc.data)
            reason = (f"{decoded.name}({', '.join(f'{k}={v}' for k, v in decoded.args.items())})"
                      if decoded is not None else str(exc))
            raise ConfigError(f"{args.command}: the rollup contract refused: {reason}") from None
        active, minimum = rollup.validator_stake(txmgr.address)
        print(f"validator 0x{bytes(txmgr.address).hex()}: active stake {active / 10**18:g} OPEN "
              f"(minimum to challenge and vote: {minimum / 10**18:g} OPEN)")
    finally:
        txmgr.close()
    return 0


def cmd_deploy_l1(args: argparse.Namespace) -> int:
    from web3 import Web3

    from bridge.deploy import DeployConfig, deploy_l1, write_deployment
    from openledger_node.execution.genesis import dev_private_keys

    key = os.environ.get("OPENLEDGER_DEPLOYER_KEY")
    if args.dev:
        key = "0x" + dev_private_keys()[0].hex()
    if not key:
        raise ConfigError(
            "deploy-l1: set OPENLEDGER_DEPLOYER_KEY to the deployer's private key "
            "(or pass --dev to use the public test-mnemonic key on a dev L1)"
        )
    w3 = Web3(Web3.HTTPProvider(args.l1_rpc, request_kwargs={"timeout": 60}))
    if not w3.is_connected():
        raise ConfigError(f"deploy-l1: no Ethereum JSON-RPC endpoint answers at {args.l1_rpc}")
    from eth_account import Account

    deployer = Account.from_key(key).address
    config = DeployConfig(
        sequencer=args.sequencer or deployer,
        admin=args.admin or deployer,
        treasury=args.treasury or deployer,
        token_holder=args.token_holder or deployer,
    )
    deployment = deploy_l1(w3, key, config)
    write_deployment(args.out, deployment)
    print(
        f"deployed on L1 chain {deployment.chain_id} at block {deployment.deployed_at_block}: "
        f"OpenToken {deployment.open_token}, OpenLedgerRollup {deployment.rollup}, "
        f"OpenLedgerPortal {deployment.portal}; wrote {args.out}"
    )
    if args.bond:
        _bond_sequencer(args.l1_rpc, key, deployment)
    if args.genesis_out is not None:
        _write_anchored_genesis(args, deployment)
    return 0


def _bond_sequencer(l1_rpc: str, key: str, deployment: Any) -> None:
    """Deposit the minimum sequencer bond from the deployer, who must be the
    sequencer and hold OPEN (a dev deployment)."""
    from bridge.l1 import L1Client
    from bridge.rollup import RollupClient
    from bridge.txmgr import TxManager
    from openledger_node.primitives import addr

    client = L1Client(l1_rpc, timeout=60)
    txmgr = TxManager(client, key)
    try:
        rollup = RollupClient(client, txmgr, addr(deployment.rollup), addr(deployment.open_token))
        bond, minimum = rollup.sequencer_bond(txmgr.address)
        if bond < minimum:
            rollup.deposit_bond(minimum - bond)
        print(f"sequencer 0x{bytes(txmgr.address).hex()} bonded with {max(bond, minimum) / 10**18:g} OPEN")
    finally:
        txmgr.close()


def _write_anchored_genesis(args: argparse.Namespace, deployment: Any) -> None:
    from bridge.l1 import L1Client
    from openledger_node.derivation.l1_traversal import origin_of
    from openledger_node.execution.genesis import anchor_genesis

    block = L1Client(args.l1_rpc, timeout=60).block(deployment.deployed_at_block)
    if block is None:
        raise ConfigError(f"deploy-l1: L1 block {deployment.deployed_at_block} is gone")
    template = args.genesis_template or _config(argparse.Namespace(config=None)).chain.genesis
    out = anchor_genesis(template, origin_of(block), args.genesis_out)
    print(f"wrote the L2 genesis anchored on L1 block {block.number} to {out}")


def cmd_l1(args: argparse.Namespace) -> int:
    from node import l1

    return l1.cmd_l1(args)


def cmd_import(args: argparse.Namespace) -> int:
    from node import l1

    return l1.cmd_import(args)


def cmd_export(args: argparse.Namespace) -> int:
    from node import l1

    return l1.cmd_export(args)


def cmd_bridge(args: argparse.Namespace) -> int:
    from node import bridge_cli

    return bridge_cli.cmd_bridge(args)


def add_l1_commands(sub: Any) -> None:
    """The L1 node kind's subcommands (node/l1.py)."""

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--genesis", type=Path, default=None,
                       help="geth-format genesis (default configs/l1-genesis-devnet.json, else the packaged one)")
        p.add_argument("--data-dir", type=Path, default=None, help="data directory (default data/l1)")

    p_l1 = sub.add_parser("l1", help="run the project's own L1 node (plain Ethereum rules, dev methods)")
    common(p_l1)
    p_l1.add_argument("--mode", choices=["interval", "instant"], default=None,
                      help="instant: a block per transaction (default); interval: a block every --block-time")
    p_l1.add_argument("--block-time", type=float, default=None,
                      help="seconds between blocks; implies --mode interval (default 2)")
    p_l1.add_argument("--coinbase", default=None, help="fee recipient of mined blocks (default the zero address)")
    p_l1.add_argument("--rpc-port", type=int, default=None, help="JSON-RPC port (default 8545; 0: any free port)")
    p_l1.add_argument("--rpc-host", default=None, help="JSON-RPC bind address (default 127.0.0.1)")
    p_l1.add_argument("--stop-after-blocks", type=int, default=0, help=argparse.SUPPRESS)
    p_l1.set_defaults(func=cmd_l1)

    p_imp = sub.add_parser("import", help="import a chain file (geth export format) into an L1 data directory")
    common(p_imp)
    p_imp.add_argument("file", type=Path, help="chain file: RLP blocks one after another, optionally gzip")
    p_imp.set_defaults(func=cmd_import)

    p_exp = sub.add_parser("export", help="export an L1 data directory's chain to a file (geth export format)")
    common(p_exp)
    p_exp.add_argument("file", type=Path, help="chain file to write (gzip when it ends in .gz)")
    p_exp.add_argument("--first", type=int, default=0, help="first block (default 0, the genesis)")
    p_exp.add_argument("--last", type=int, default=None, help="last block (default the head)")
    p_exp.set_defaults(func=cmd_export)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="openledger-node", description="OpenLedger rollup node")
    parser.add_argument("--version", action="version", version=f"openledger-node {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", type=Path, default=None, help="TOML config (default configs/devnet.toml, else the packaged devnet config)")
        p.add_argument("--data-dir", type=Path, default=None, help="override storage.data_dir")

    p_init = sub.add_parser("init", help="write the genesis block into the data directory")
    common(p_init)
    p_init.set_defaults(func=cmd_init)

    p_seq = sub.add_parser("sequencer", help="run the sequencer")
    common(p_seq)
    p_seq.add_argument("--mode", choices=["interval", "instant"], default=None)
    p_seq.add_argument("--block-time", type=float, default=None, help="seconds between blocks")
    p_seq.add_argument("--rpc-port", type=int, default=None, help="JSON-RPC port (default 8545; 0: any free port)")
    p_seq.add_argument("--rpc-host", default=None, help="JSON-RPC bind address (default 127.0.0.1)")
    p_seq.add_argument("--stop-after-blocks", type=int, default=0, help=argparse.SUPPRESS)
    p_seq.set_defaults(func=cmd_sequencer)

    p_val = sub.add_parser("validator", help="derive the chain from L1 alone and check every posted output")
    common(p_val)
    p_val.add_argument("--rpc-port", type=int, default=None, help="JSON-RPC port (default 8545; 0: any free port)")
    p_val.add_argument("--rpc-host", default=None, help="JSON-RPC bind address (default 127.0.0.1)")
    p_val.add_argument("--stop-after-blocks", type=int, default=0, help=argparse.SUPPRESS)
    p_val.set_defaults(func=cmd_validator)

    for name, text in (("stake", "stake OPEN on L1 as a validator (approves it first)"),
                       ("unstake", "start unbonding OPEN of the validator's stake"),
                       ("withdraw-stake", "take back the unbonded stake")):
        p_stake = sub.add_parser(name, help=text)
        common(p_stake)
        if name != "withdraw-stake":
            p_stake.add_argument("amount", help="OPEN, e.g. 1000 or 0.5")
        p_stake.set_defaults(func=cmd_stake)

    p_dep = sub.add_parser("deploy-l1", help="deploy the L1 contracts and write the deployment file")
    p_dep.add_argument("--l1-rpc", required=True, help="L1 JSON-RPC URL")
    p_dep.add_argument("--out", type=Path, required=True, help="deployment file to write (JSON)")
    p_dep.add_argument("--dev", action="store_true", help="deploy from the public test-mnemonic key (dev L1 only)")
    p_dep.add_argument("--sequencer", help="sequencer address (default: the deployer)")
    p_dep.add_argument("--admin", help="admin of the contracts, a timelock in production (default: the deployer)")
    p_dep.add_argument("--treasury", help="treasury address (default: the deployer)")
    p_dep.add_argument("--token-holder", help="receives the OPEN supply (default: the deployer)")
    p_dep.add_argument("--bond", action="store_true",
                       help="deposit the minimum sequencer bond from the deployer (it must be the sequencer)")
    p_dep.add_argument("--genesis-out", type=Path, default=None,
                       help="also write the L2 genesis anchored on the deployment's L1 block")
    p_dep.add_argument("--genesis-template", type=Path, default=None,
                       help="genesis to anchor (default: the config's chain.genesis)")
    p_dep.set_defaults(func=cmd_deploy_l1)

    p_acc = sub.add_parser("accounts", help="print the funded dev accounts and their keys")
    p_acc.set_defaults(func=cmd_accounts)
    add_l1_commands(sub)

    from node.bridge_cli import add_arguments as bridge_arguments

    p_bridge = sub.add_parser("bridge", help="move OPEN between L1 and L2: deposit, withdraw, prove, finalize, status")
    bridge_sub = p_bridge.add_subparsers(dest="bridge_command", required=True)
    for name, help_text in (("deposit", "approve and deposit OPEN on L1 for an account on L2"),
                            ("withdraw", "start a withdrawal on L2 (L2ToL1MessagePasser.initiateWithdrawal)")):
        p = bridge_sub.add_parser(name, help=help_text)
        bridge_arguments(p, signs=True)
        p.add_argument("--to", required=True, help="recipient (on L2 for a deposit, on L1 for a withdrawal)")
        p.add_argument("--amount", required=True, help="OPEN to move, e.g. 1.5")
        p.add_argument("--gas-limit", type=int, default=100_000, help="gas for the call on the other side")
        p.add_argument("--data", default="", help="calldata for the call on the other side (hex)")
        if name == "deposit":
            p.add_argument("--no-approve", action="store_true", help="refuse instead of approving the portal")
    for name, help_text in (("prove", "prove a withdrawal on L1 against the output that covers it"),
                            ("finalize", "finalize a proven withdrawal on L1 once final and mature"),
                            ("status", "say where a withdrawal stands and what it waits for")):
        p = bridge_sub.add_parser(name, help=help_text)
        bridge_arguments(p, signs=name != "status")
        p.add_argument("withdrawal", help="the withdrawal's hash, or the hash of the L2 transaction that started it")
    p_bridge.set_defaults(func=cmd_bridge)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.monotonic()
    try:
        return int(args.func(args))
    except OpenLedgerError as exc:
        print(f"openledger-node {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        logging.getLogger("openledger.node").debug("exit after %.1fs", time.monotonic() - started)


def run() -> None:
    """Console entry point. Every resource (LevelDB, pool journal) is closed by
    `main` before it returns, so the process exits without interpreter
    finalisation, where py-evm/plyvel objects left for shutdown print a spurious
    "Error in sys.excepthook" line."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
