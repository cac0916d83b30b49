"""The rollup contracts on L1 as the sequencer's batcher uses them: views over
`eth_call` and writes through the one transaction manager.

`RollupClient` satisfies the batcher's `Rollup` interface (sequencer/batcher.py)
and the sequencer's bond check; it is wired by the node assembly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError

from bridge.bindings import OPEN_TOKEN, ROLLUP
from bridge.l1 import L1Client, Receipt
from bridge.txmgr import TxCandidate, TxManager
from openledger_node.derivation.batches import PostedBatch as PostedBatchData
from openledger_node.derivation.batches import RolledBack
from openledger_node.primitives import Address

SUBMIT_BATCH_ARGS = ["uint256", "uint64", "uint64", "bytes32", "bytes"]


@dataclass(frozen=True)
class PostedBatch:
    index: int
    first_block: int
    last_block: int
    output_root: bytes
    data_hash: bytes


class RollupClient:
    def __init__(self, client: L1Client, txmgr: TxManager | None, rollup: Address, token: Address) -> None:
        """`txmgr` None: a read-only client (the writes raise)."""
        self.client = client
        self._txmgr = txmgr
        self.rollup = rollup
        self.token = token

    def _view(self, binding: Any, address: Address, name: str, *args: Any) -> Any:
        return binding.decode_result(name, self.client.call(address, binding.encode(name, *args)))

    @property
    def txmgr(self) -> TxManager:
        if self._txmgr is None:
            raise RuntimeError("a read-only rollup client cannot send transactions")
        return self._txmgr

    # --- views -------------------------------------------------------------------

    def next_batch_index(self) -> int:
        return int(self._view(ROLLUP, self.rollup, "nextBatchIndex"))

    def batch(self, index: int) -> PostedBatch:
        raw = self._view(ROLLUP, self.rollup, "getBatch", index)
        return PostedBatch(
            index, int(raw["firstBlock"]), int(raw["lastBlock"]), bytes(raw["outputRoot"]), bytes(raw["dataHash"])
        )

    def last_posted_block(self) -> tuple[int, int]:
        """(next batch index, the last L2 block the batches on L1 cover; 0 for none)."""
        index = self.next_batch_index()
        return index, (self.batch(index - 1).last_block if index else 0)

    def finalized_output_count(self) -> int:
        return int(self._view(ROLLUP, self.rollup, "finalizedOutputCount"))

    def sequencer_bond(self, account: Address) -> tuple[int, int]:
        """(the account's bond, the minimum bond)."""
        return (int(self._view(ROLLUP, self.rollup, "sequencerBond", account)),
                int(self._view(ROLLUP, self.rollup, "minSequencerBond")))

    def posted_batches(self, from_l1_block: int, to_l1_block: int) -> list[PostedBatchData]:
        """Every batch posted in L1 blocks [from, to], in L1 order, with the data
        its transaction carried (the derivation's `BatchSource`)."""
        topic = ROLLUP.event("BatchSubmitted").topic
        logs = self.client.logs(from_block=from_l1_block, to_block=to_l1_block, address=self.rollup, topics=[topic])
        out = []
        for log in logs:
            event = ROLLUP.decode_log(log)
            if event is None:
                continue
            tx = self.client.request("eth_getTransactionByHash", ["0x" + bytes(log.transaction_hash).hex()])
            calldata = bytes.fromhex(str(tx["input"])[2:])
            data = b""
            if calldata[:4] == ROLLUP.function("submitBatch").selector:
                try:
                    data = bytes(abi_decode(SUBMIT_BATCH_ARGS, calldata[4:])[4])
                except (DecodingError, ValueError, IndexError):  # the hash check refuses it downstream
                    data = b""
            out.append(PostedBatchData(
                index=int(event.args["batchIndex"]),
                first_block=int(event.args["firstBlock"]),
                last_block=int(event.args["lastBlock"]),
                output_root=bytes(event.args["outputRoot"]),
                data_hash=bytes(event.args["dataHash"]),
                data=data,
                l1_block=int(log.block_number),
                log_index=int(log.log_index),
            ))
        return out

    def rollbacks(self, from_l1_block: int, to_l1_block: int) -> list[RolledBack]:
        """Every `OutputsRolledBack` in L1 blocks [from, to], in L1 order (the
        derivation's `BatchSource`: a successful challenge deleted those outputs)."""
        topic = ROLLUP.event("OutputsRolledBack").topic
        logs = self.client.logs(from_block=from_l1_block, to_block=to_l1_block, address=self.rollup, topics=[topic])
        out = []
        for log in logs:
            event = ROLLUP.decode_log(log)
            if event is not None:
                out.append(RolledBack(int(event.args["fromIndex"]), int(log.block_number), int(log.log_index)))
        return out

    def validator_stake(self, account: Address) -> tuple[int, int]:
        """(the account's active stake, the minimum validator stake)."""
        raw = self._view(ROLLUP, self.rollup, "getValidator", account)
        return int(raw["active"]), int(self._view(ROLLUP, self.rollup, "minValidatorStake"))

    def challenge_bond(self) -> int:
        return int(self._view(ROLLUP, self.rollup, "challengeBond"))

    def has_open_challenge(self, output_index: int) -> bool:
        return bool(self._view(ROLLUP, self.rollup, "hasOpenChallenge", output_index))

    def get_challenge(self, challenge_id: int) -> Any:
        return self._view(ROLLUP, self.rollup, "getChallenge", challenge_id)

    def has_voted(self, challenge_id: int, account: Address) -> bool:
        return bool(self._view(ROLLUP, self.rollup, "hasVoted", challenge_id, account))

    def challenges_opened(self, from_l1_block: int, to_l1_block: int) -> list[tuple[int, int]]:
        """(challenge id, output index) of every challenge opened in the L1 range."""
        topic = ROLLUP.event("ChallengeOpened").topic
        logs = self.client.logs(from_block=from_l1_block, to_block=to_l1_block, address=self.rollup, topics=[topic])
        events = [ROLLUP.decode_log(log) for log in logs]
        return [(int(e.args["challengeId"]), int(e.args["outputIndex"])) for e in events if e is not None]

    # --- writes ------------------------------------------------------------------

    def submit_batch(self, index: int, first: int, last: int, output_root: bytes, data: bytes) -> Receipt:
        """Post a batch and wait for its confirmations (the transaction manager's)."""
        return self.txmgr.send(TxCandidate(self.rollup, ROLLUP.encode("submitBatch", index, first, last, output_root, data)))

    def stake(self, amount: int) -> None:
        """Approve and stake `amount` OPEN of the sender's as validator stake."""
        self.txmgr.send(TxCandidate(self.token, OPEN_TOKEN.encode("approve", self.rollup, amount)))
        self.txmgr.send(TxCandidate(self.rollup, ROLLUP.encode("stake", amount)))

    def request_unstake(self, amount: int) -> Receipt:
        """Move `amount` of active stake to unbonding (withdrawable after the delay)."""
        return self.txmgr.send(TxCandidate(self.rollup, ROLLUP.encode("requestUnstake", amount)))

    def withdraw_stake(self) -> Receipt:
        """Take back the unbonding stake whose delay has passed."""
        return self.txmgr.send(TxCandidate(self.rollup, ROLLUP.encode("withdrawStake")))

    def challenge(self, output_index: int, claimed_root: bytes) -> Receipt:
        """Challenge an output with the sender's root (escrows the challenge bond)."""
        self.txmgr.send(TxCandidate(self.token, OPEN_TOKEN.encode("approve", self.rollup, self.challenge_bond())))
        return self.txmgr.send(TxCandidate(self.rollup, ROLLUP.encode("challenge", output_index, claimed_root)))

    def vote(self, challenge_id: int, root: bytes) -> Receipt:
        return self.txmgr.send(TxCandidate(self.rollup, ROLLUP.encode("vote", challenge_id, root)))

    def resolve(self, challenge_id: int) -> Receipt:
        return self.txmgr.send(TxCandidate(self.rollup, ROLLUP.encode("resolve", challenge_id)))

    def deposit_bond(self, amount: int) -> None:
        """Approve and deposit `amount` OPEN of the sender's as its sequencer bond."""
        self.txmgr.send(TxCandidate(self.token, OPEN_TOKEN.encode("approve", self.rollup, amount)))
        self.txmgr.send(TxCandidate(self.rollup, ROLLUP.encode("depositSequencerBond", amount)))
