"""The contributor and model-owner commands of `openledger-attribution`.

One subcommand per step of the Payable-AI loop that a person runs by hand:
``datanet create`` / ``datanet add-curator``, ``contribute`` (content into a
content store, its hash on chain), ``accept`` / ``reject`` (curators), ``train``
(every accepted contribution of some datanets, each blob checked against its
on-chain contentHash, into a model directory), ``register-model``, ``request``
(pay for an inference), ``earnings``, ``claim``, ``stake`` and ``content-serve``.
`attribution.cli` wires them beside the index/score commands and the service's
and verifier's own.

Chain commands read the node URL from ``--rpc`` (default ``$OPENLEDGER_RPC_URL``)
and sign with the key in ``$OPENLEDGER_PRIVATE_KEY``, or with ``--keystore FILE``
and its password in ``$OPENLEDGER_KEYSTORE_PASSWORD``: never a key on the command
line. ``--json`` prints one JSON object per line for scripts; otherwise a short
human line. A revert prints its decoded custom error (``UnknownModel(modelId=9)``)
on stderr and exits with status 1.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
from collections import defaultdict
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from attribution.errors import AttributionError
from attribution.payable.chain import POLICIES, ChainError, Economy, load_account
from attribution.payable.content import ContentStore, fetch_content
from attribution.payable.record import input_hash, read_model_json

OPEN = 10**18
DEFAULT_RPC = "http://127.0.0.1:8545"
PROVENANCE_FILE = "provenance.json"
"""Written by ``train`` beside model.json: the datanets and contributions (with
their content hashes) a model directory was trained on; ``register-model`` reads
its datanets. Not part of model.json, so it does not change the index version."""

_UINT256_MAX = 2**256 - 1


class CommandError(AttributionError):
    """A command-line input problem (exit status 2)."""


# ------------------------------------------------------------------ argument types


def _uint(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 <= value <= _UINT256_MAX:
        raise argparse.ArgumentTypeError(f"{value} is not a uint256")
    return value


def _id(text: str) -> int:
    value = _uint(text)
    if value == 0:
        raise argparse.ArgumentTypeError("ids start at 1")
    return value


def _id_list(text: str) -> list[int]:
    parts = [p.strip() for p in text.split(",")]
    if not parts or any(not p for p in parts):
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of ids")
    ids = [_id(p) for p in parts]
    if len(set(ids)) != len(ids):
        raise argparse.ArgumentTypeError(f"{text!r} lists an id twice")
    return sorted(ids)


def _amount(text: str) -> int:
    """Wei: an integer (``1000000000000000000``), or a decimal with the unit ``OPEN`` (``1.5OPEN``, ``2 open``)."""
    raw = text.strip()
    if raw.lower().endswith("open"):
        try:
            value = Decimal(raw[:-4].strip()) * OPEN
        except InvalidOperation:
            raise argparse.ArgumentTypeError(f"{text!r} is not an amount (wei, or a decimal followed by OPEN)") from None
        if value != value.to_integral_value():
            raise argparse.ArgumentTypeError(f"{text!r} has more than 18 decimals")
        amount = int(value)
    else:
        try:
            amount = int(raw, 0)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an amount (wei, or a decimal followed by OPEN)") from None
    if not 0 <= amount <= _UINT256_MAX:
        raise argparse.ArgumentTypeError(f"{text!r} is out of range")
    return amount


def _bps(text: str) -> int:
    value = _uint(text)
    if value > 10_000:
        raise argparse.ArgumentTypeError(f"{value} basis points is over 10000 (100 %)")
    return value


def _listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def _bytes32(text: str) -> bytes:
    body = text[2:] if text[:2].lower() == "0x" else text
    try:
        data = bytes.fromhex(body)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not hex") from None
    if len(data) != 32:
        raise argparse.ArgumentTypeError(f"{text!r} is not 32 bytes")
    return data


# ------------------------------------------------------------------ shared plumbing


def _hex(data: bytes) -> str:
    return "0x" + bytes(data).hex()


def _economy(args: argparse.Namespace, *, signer: bool = True) -> Economy:
    account = load_account(keystore=args.keystore) if signer else None
    economy = Economy(args.rpc, account)
    if not economy.w3.is_connected():
        raise ChainError(f"cannot reach a node at {args.rpc}")
    return economy


def _optional_account(args: argparse.Namespace) -> Any:
    """The signing account when one is configured, else None (read-only commands)."""
    if args.keystore is not None or os.environ.get("OPENLEDGER_PRIVATE_KEY", "").strip():
        return load_account(keystore=args.keystore)
    return None


def _out(args: argparse.Namespace, result: dict[str, Any], text: str) -> None:
    if args.json:
        print(json.dumps(result, sort_keys=True), flush=True)
    else:
        print(text, flush=True)


def _tx(receipt: Any) -> str:
    return _hex(bytes(receipt["transactionHash"]))


def _open(wei: int) -> str:
    return f"{Decimal(wei) / OPEN:f} OPEN"


def _kind_module(kind: str) -> Any:
    from attribution.payable.models import MODEL_KINDS

    target = MODEL_KINDS.get(kind)
    if target is None:
        raise CommandError(f"unknown model kind {kind!r} (known: {', '.join(sorted(MODEL_KINDS))})")
    return importlib.import_module(target.partition(":")[0])


# ------------------------------------------------------------------ commands


def cmd_datanet_create(args: argparse.Namespace) -> None:
    economy = _economy(args)
    datanet_id = economy.create_datanet(args.metadata, args.policy)
    _out(args, {"datanetId": datanet_id, "owner": economy.address, "policy": args.policy},
         f"datanet {datanet_id} created ({args.policy}), owner {economy.address}")


def cmd_datanet_add_curator(args: argparse.Namespace) -> None:
    economy = _economy(args)
    receipt = economy.add_curator(args.datanet, args.curator)
    _out(args, {"datanetId": args.datanet, "curator": args.curator, "tx": _tx(receipt)},
         f"{args.curator} curates datanet {args.datanet}")


def cmd_contribute(args: argparse.Namespace) -> None:
    if not args.file.is_file():
        raise CommandError(f"--file: no file at {args.file}")
    store = ContentStore(args.content)
    economy = _economy(args)
    content_hash = store.put_file(args.file)
    contribution_id = economy.contribute(args.datanet, content_hash, args.metadata)
    status = economy.contribution(contribution_id).status
    _out(args, {"contributionId": contribution_id, "datanetId": args.datanet, "contentHash": _hex(content_hash),
                "status": status, "contributor": economy.address},
         f"contribution {contribution_id} to datanet {args.datanet}: content {_hex(content_hash)}, {status}")


def cmd_decide(args: argparse.Namespace) -> None:
    economy = _economy(args)
    receipt = economy.accept(args.contribution) if args.command == "accept" else economy.reject(args.contribution)
    status = economy.contribution(args.contribution).status
    _out(args, {"contributionId": args.contribution, "status": status, "tx": _tx(receipt)},
         f"contribution {args.contribution} {status.lower()}")


def cmd_train(args: argparse.Namespace) -> None:
    module = _kind_module(args.kind)
    economy = _economy(args, signer=False)
    contributions: list[tuple[int, bytes]] = []
    provenance: list[dict[str, Any]] = []
    for datanet_id in args.datanets:
        for c in economy.contributions_of(datanet_id, accepted_only=True):
            # fetch_content refuses bytes whose keccak256 is not the on-chain contentHash.
            blob = fetch_content(args.content, c.content_hash)
            contributions.append((c.contribution_id, blob))
            provenance.append({"contributionId": c.contribution_id, "datanetId": datanet_id,
                               "contentHash": _hex(c.content_hash), "contributor": c.contributor})
    if not contributions:
        raise CommandError(f"datanets {','.join(map(str, args.datanets))} have no accepted contributions to train on")
    args.out.mkdir(parents=True, exist_ok=True)
    module.train(contributions, args.out, seed=args.seed)
    (args.out / PROVENANCE_FILE).write_text(json.dumps(
        {"chainId": int(economy.w3.eth.chain_id), "datanets": args.datanets, "contributions": provenance},
        indent=2, sort_keys=True) + "\n")
    meta = read_model_json(args.out)
    _out(args, {"modelDir": str(args.out), "kind": args.kind, "datanets": args.datanets,
                "contributions": [c for c, _ in sorted(contributions)], "weightsSha256": _weights_hash_hex(meta)},
         f"trained a {args.kind} model on {len(contributions)} contributions of datanets "
         f"{','.join(map(str, args.datanets))} -> {args.out}")


def index_model_dir(args: argparse.Namespace, options: dict[str, Any]) -> None:
    """``index --model-dir``: the model kind's own index builder, options passed through."""
    meta = read_model_json(args.model_dir)
    module = _kind_module(meta["kind"])
    module.build_index(args.model_dir, **options)
    from attribution.payable.record import index_version

    version = index_version(args.model_dir)
    print(json.dumps({"modelDir": str(args.model_dir), "kind": meta["kind"], "indexVersion": _hex(version)})
          if getattr(args, "json", False) else
          f"indexed {meta['kind']} model {args.model_dir}: index version {_hex(version)}", flush=True)


def _weights_hash_hex(meta: dict[str, Any]) -> str:
    entry = meta.get("weights")
    digest = entry.get("sha256") if isinstance(entry, dict) else None
    if not isinstance(digest, str):
        raise CommandError("model.json records no weights sha256 (weights.sha256)")
    return _hex(_weights_bytes(digest))


def _weights_bytes(digest: str) -> bytes:
    try:
        return _bytes32(digest)
    except argparse.ArgumentTypeError as exc:
        raise CommandError(f"model.json weights.sha256 {digest!r}: {exc}") from None


def cmd_register_model(args: argparse.Namespace) -> None:
    meta = read_model_json(args.model_dir)
    weights_hash = _weights_bytes(str((meta.get("weights") or {}).get("sha256", "")))
    datanets = args.datanets
    if datanets is None:
        provenance = args.model_dir / PROVENANCE_FILE
        if not provenance.is_file():
            raise CommandError(f"--datanets not given and {provenance} (written by train) is absent")
        datanets = sorted(json.loads(provenance.read_text())["datanets"])
    economy = _economy(args)
    model_id = economy.register_model(weights_hash, datanets, args.fee, args.owner_share_bps, args.metadata)
    _out(args, {"modelId": model_id, "weightsHash": _hex(weights_hash), "datanets": datanets, "fee": args.fee,
                "ownerShareBps": args.owner_share_bps, "owner": economy.address},
         f"model {model_id} registered: weights {_hex(weights_hash)}, datanets {','.join(map(str, datanets))}, "
         f"fee {_open(args.fee)}, owner share {args.owner_share_bps} bps")


def _request_input(args: argparse.Namespace) -> bytes:
    if args.input_file is not None:
        if not args.input_file.is_file():
            raise CommandError(f"--input-file: no file at {args.input_file}")
        return bytes(args.input_file.read_bytes())
    if args.input_text is not None:
        return str(args.input_text).encode("utf-8")
    body = args.input_hex[2:] if args.input_hex[:2].lower() == "0x" else args.input_hex
    try:
        return bytes.fromhex(body)
    except ValueError:
        raise CommandError(f"--input-hex {args.input_hex!r} is not hex") from None


def cmd_request(args: argparse.Namespace) -> None:
    data = _request_input(args)
    digest = input_hash(data)
    economy = _economy(args)
    fee = args.fee if args.fee is not None else economy.model(args.model_id).fee
    inference_id = economy.request_inference(args.model_id, digest, fee)
    inference = economy.inference(inference_id)
    _out(args, {"inferenceId": inference_id, "modelId": args.model_id, "inputHash": _hex(digest), "input": _hex(data),
                "fee": fee, "deadline": inference.deadline, "requester": economy.address},
         f"inference {inference_id} of model {args.model_id} paid ({_open(fee)}): input hash {_hex(digest)}, "
         f"settle by {inference.deadline}")


def cmd_earnings(args: argparse.Namespace) -> None:
    account = _optional_account(args)
    contributor = args.contributor or (account.address if account is not None else None)
    if contributor is None:
        raise CommandError("--contributor not given and no signing key configured to take the address from")
    economy = Economy(args.rpc, account)
    if not economy.w3.is_connected():
        raise ChainError(f"cannot reach a node at {args.rpc}")
    rewards = economy.rewards_of(contributor, from_block=args.from_block)
    per_contribution: dict[int, dict[str, Any]] = defaultdict(lambda: {"total": 0, "inferences": []})
    for r in rewards:
        entry = per_contribution[r.contribution_id]
        entry["total"] += r.amount
        entry["inferences"].append({"inferenceId": r.inference_id, "amount": r.amount, "block": r.block_number})
    total = sum(r.amount for r in rewards)
    claimable = economy.claimable(contributor)
    if args.json:
        for cid in sorted(per_contribution):
            print(json.dumps({"contributionId": cid, **per_contribution[cid]}, sort_keys=True))
        print(json.dumps({"contributor": contributor, "total": total, "claimable": claimable}, sort_keys=True), flush=True)
        return
    for cid in sorted(per_contribution):
        entry = per_contribution[cid]
        inferences = ", ".join(f"#{i['inferenceId']} {i['amount']}" for i in entry["inferences"])
        print(f"contribution {cid}: {_open(entry['total'])} from {len(entry['inferences'])} inferences ({inferences} wei)")
    print(f"{contributor}: earned {_open(total)}, claimable {_open(claimable)}", flush=True)


def cmd_claim(args: argparse.Namespace) -> None:
    economy = _economy(args)
    amount = economy.staking_claim() if args.staking else economy.claim()
    where = "AttributionStaking" if args.staking else "PayableAI"
    _out(args, {"account": economy.address, "amount": amount, "from": where},
         f"claimed {_open(amount)} from {where} to {economy.address}")


def cmd_stake(args: argparse.Namespace) -> None:
    economy = _economy(args)
    if args.amount == 0:
        raise CommandError("--amount must be positive")
    total = economy.stake(args.amount)
    active = economy.is_active_provider()
    _out(args, {"provider": economy.address, "added": args.amount, "stake": total, "activeProvider": active},
         f"staked {_open(args.amount)}: {economy.address} has {_open(total)} staked"
         + ("" if active else " (below the minimum provider stake: not yet an active provider)"))


def cmd_content_serve(args: argparse.Namespace) -> None:
    from aiohttp import web

    from attribution.payable.content import content_app

    store = ContentStore(args.dir)
    host, port = args.listen
    print(f"serving content of {store.directory} on http://{host}:{port}/content/0x<hash>", flush=True)
    web.run_app(content_app(store), host=host, port=port, print=None)


# ------------------------------------------------------------------ parser


def _chain_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--rpc", metavar="URL", default=os.environ.get("OPENLEDGER_RPC_URL", DEFAULT_RPC),
                        help="the node's JSON-RPC URL (default: $OPENLEDGER_RPC_URL or %(default)s)")
    common.add_argument("--keystore", type=Path, metavar="FILE",
                        help="Ethereum keystore JSON of the account, its password in $OPENLEDGER_KEYSTORE_PASSWORD "
                             "(default: the hex key in $OPENLEDGER_PRIVATE_KEY)")
    common.add_argument("--json", action="store_true", help="one JSON object per line")
    return common


def register_commands(sub: Any) -> None:
    """Add the contributor and model-owner commands to ``sub`` (argparse subparsers)."""
    common = _chain_options()

    p = sub.add_parser("datanet", help="create a datanet or add a curator")
    dsub = p.add_subparsers(dest="datanet_command", required=True, metavar="ACTION")
    q = dsub.add_parser("create", parents=[common], help="create a datanet owned by the signing account")
    q.add_argument("--metadata", default="", metavar="URI", help="off-chain description (name, schema, licence)")
    q.add_argument("--policy", choices=tuple(POLICIES), default="open",
                   help="open: contributions accepted on submission; curated: the owner or a curator accepts them")
    q.set_defaults(func=cmd_datanet_create)
    q = dsub.add_parser("add-curator", parents=[common], help="let an address accept contributions (datanet owner)")
    q.add_argument("--datanet", required=True, type=_id, metavar="N")
    q.add_argument("--curator", required=True, metavar="ADDRESS")
    q.set_defaults(func=cmd_datanet_add_curator)

    p = sub.add_parser("contribute", parents=[common],
                       help="put a file in a content store and register its keccak256 in a datanet")
    p.add_argument("--datanet", required=True, type=_id, metavar="N")
    p.add_argument("--file", required=True, type=Path, metavar="FILE", help="the contributed data (the kind's format)")
    p.add_argument("--content", required=True, type=Path, metavar="DIR",
                   help="content store directory to add the file to (serve it with content-serve)")
    p.add_argument("--metadata", default="", metavar="URI", help="off-chain description of the contribution")
    p.set_defaults(func=cmd_contribute)

    for name, verb in (("accept", "accept"), ("reject", "reject")):
        p = sub.add_parser(name, parents=[common], help=f"{verb} a pending contribution (datanet owner or curator)")
        p.add_argument("--contribution", required=True, type=_id, metavar="N")
        p.set_defaults(func=cmd_decide)

    p = sub.add_parser("train", parents=[common],
                       help="train a model on the accepted contributions of datanets (content checked against the chain)")
    p.add_argument("--kind", required=True, metavar="KIND", help="model kind: digits or text")
    p.add_argument("--datanets", required=True, type=_id_list, metavar="N[,N]")
    p.add_argument("--content", required=True, metavar="DIR|URL[,...]",
                   help="content store directories or endpoints serving GET /content/0x<hash>, tried in order")
    p.add_argument("--out", required=True, type=Path, metavar="MODEL_DIR")
    p.add_argument("--seed", type=_uint, default=0, metavar="N", help="training seed (default 0)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("register-model", parents=[common],
                       help="register a trained model directory (weights hash from its model.json)")
    p.add_argument("--model-dir", required=True, type=Path, metavar="DIR")
    p.add_argument("--datanets", type=_id_list, metavar="N[,N]", help="default: the datanets train recorded")
    p.add_argument("--fee", required=True, type=_amount, metavar="AMOUNT", help="fee per inference: wei, or e.g. 1.5OPEN")
    p.add_argument("--owner-share-bps", required=True, type=_bps, metavar="BPS", help="owner's share of each fee")
    p.add_argument("--metadata", default="", metavar="URI", help="off-chain description (endpoint, licence)")
    p.set_defaults(func=cmd_register_model)

    p = sub.add_parser("request", parents=[common], help="pay for an inference; prints its id and input hash")
    p.add_argument("--model-id", required=True, type=_id, metavar="N")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--input-file", type=Path, metavar="FILE", help="the input bytes (digits: 64 bytes 0..16)")
    source.add_argument("--input-hex", metavar="HEX", help="the input bytes as hex")
    source.add_argument("--input-text", metavar="TEXT", help="a text prompt (its UTF-8 bytes)")
    p.add_argument("--fee", type=_amount, metavar="AMOUNT", help="fee to pay (default: the model's current fee)")
    p.set_defaults(func=cmd_request)

    p = sub.add_parser("earnings", parents=[common], help="rewards per contribution and per inference, and the claimable balance")
    p.add_argument("--contributor", metavar="ADDRESS", help="default: the signing account")
    p.add_argument("--from-block", type=_uint, default=0, metavar="N")
    p.set_defaults(func=cmd_earnings)

    p = sub.add_parser("claim", parents=[common], help="withdraw the signing account's claimable balance")
    p.add_argument("--staking", action="store_true",
                   help="claim from AttributionStaking (dispute bonds and rewards) instead of PayableAI")
    p.set_defaults(func=cmd_claim)

    p = sub.add_parser("stake", parents=[common], help="add provider stake (needed to settle, dispute and vote)")
    p.add_argument("--amount", required=True, type=_amount, metavar="AMOUNT", help="wei, or e.g. 1000OPEN")
    p.set_defaults(func=cmd_stake)

    p = sub.add_parser("content-serve", help="serve a content store directory over HTTP (GET /content/0x<hash>)")
    p.add_argument("--dir", required=True, type=Path, metavar="DIR")
    p.add_argument("--listen", type=_listen, default=("127.0.0.1", 8600), metavar="HOST:PORT",
                   help="default 127.0.0.1:8600")
    p.set_defaults(func=cmd_content_serve)


__all__ = ["PROVENANCE_FILE", "CommandError", "index_model_dir", "register_commands"]
