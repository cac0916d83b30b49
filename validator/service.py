"""The validator's services: the derivation loop, and the pool of a node that
does not build blocks.

`Validator` runs the derivation pipeline (openledger_node/derivation) step by
step through the core's `StepRunner`: each posted batch is derived, stored and
its output root compared with the one the sequencer posted; a disagreement is
logged with both roots and kept in `disagreements` (challenging it on L1 is the
next step of the dispute flow). An L1 reorganisation (a reset error) rewinds the
derived chain to the last block whose L1 origin is still canonical.

`ForwardingPool` answers the pool interface of the RPC server for such a node:
`eth_sendRawTransaction` is forwarded to the sequencer, as op-geth does in
verifier mode; the node holds no pending transactions of its own.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from tqdm import tqdm

from openledger_node.derivation.pipeline import Derivation, Verdict
from openledger_node.exceptions import CriticalError, ForwardedError, TemporaryError
from openledger_node.execution.state import StateView
from openledger_node.service import StepRunner
from openledger_node.storage import ChainStore
from validator.disputes import Disputes

log = logging.getLogger("openledger.validator")

# A progress bar when at least this many batches wait to be derived.
PROGRESS_FROM = 10


@runtime_checkable
class PostedOutputs(Protocol):
    def last_posted_block(self) -> tuple[int, int]:
        """(next batch index, the last L2 block the batches on L1 cover)."""
        ...

    def batch(self, index: int) -> Any: ...


class Validator:
    def __init__(self, derivation: Derivation, poll_interval: float = 1.0, disputes: Disputes | None = None) -> None:
        self.derivation = derivation
        self.disputes = disputes
        self.poll_interval = poll_interval
        self.runner = StepRunner("validator", log, on_reset=self.reset)
        self.disagreements: list[Verdict] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failure: BaseException | None = None

    def step(self) -> Verdict | None:
        verdict = self.derivation.step()
        if verdict is not None and not verdict.agrees:
            self.disagreements.append(verdict)
            if self.disputes is not None:
                self.disputes.on_verdict(verdict)
        return verdict

    def sync(self) -> int:
        """Derive every batch L1 has now, then take part in the open disputes;
        how many batches were derived. A validator far behind (a fresh one, or
        one that was down) shows its progress on the way."""
        self._follow_l1_reorgs()
        count = 0
        behind = len(self.derivation.pending())
        with tqdm(total=behind, unit="batch", desc="deriving from L1", disable=behind < PROGRESS_FROM,
                  leave=False) as progress:
            while self.step() is not None:
                count += 1
                progress.update(1)
        if self.disputes is not None:
            latest = self.derivation.l1.latest()
            verdicts = {v.index: v for v in self.derivation.verdicts}
            self.disputes.step(verdicts, latest.number, latest.timestamp)
        return count

    def _follow_l1_reorgs(self) -> None:
        """L1 may have reorganised away the origin of the derived head (and with
        it the batches that carried it): derive again from what is canonical."""
        store = self.derivation.store
        head = store.head("unsafe")
        if int(head.block_number) == 0:
            return
        origin, _ = store.l1_origin(head)
        block = self.derivation.l1.block(origin.number)
        if block is None or block.hash != origin.hash:
            self.reset()

    def reset(self) -> None:
        """Re-derive from the last block whose L1 origin is still canonical and
        that the batches L1 holds now still cover (a reorganisation can take
        batches away with the blocks that carried them)."""
        store = self.derivation.store
        traversal = self.derivation.l1
        number = int(store.head("unsafe").block_number)
        source = self.derivation.batches
        if isinstance(source, PostedOutputs):
            # Batches this validator derived that L1 no longer holds as they were.
            next_index, _ = source.last_posted_block()
            for verdict in reversed(self.derivation.verdicts):
                if verdict.derived_root is None:
                    continue
                still = verdict.index < next_index and (
                    (posted := source.batch(verdict.index)).first_block == verdict.first_block
                    and posted.last_block == verdict.last_block
                    and bytes(posted.output_root) == verdict.posted_root
                )
                if still:
                    break
                number = min(number, verdict.first_block - 1)
        while number > 0:
            origin, _ = store.l1_origin(store.header_by_number(number))
            block = traversal.block(origin.number)
            if block is not None and block.hash == origin.hash:
                break
            number -= 1
        if number < int(store.head("unsafe").block_number):
            log.warning("L1 reorganised under the derived chain: back to block %d", number)
            store.rewind(number)
        self.derivation.restart()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="validator", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                delay = self.runner.run(self.sync)
            except CriticalError as exc:
                self.failure = exc
                return
            self._stop.wait(delay or self.poll_interval)


class ForwardingPool:
    """The RPC pool of a validator: transactions go to the sequencer."""

    def __init__(self, sequencer_url: str | None, store: ChainStore, timeout: float = 10.0) -> None:
        self.sequencer_url = sequencer_url
        self.store = store
        self.timeout = timeout

    def add_raw(self, raw: bytes) -> bytes:
        if self.sequencer_url is None:
            raise TemporaryError("this validator has no validator.sequencer_rpc to forward transactions to")
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction",
                           "params": ["0x" + raw.hex()]}).encode()
        request = urllib.request.Request(self.sequencer_url, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                reply = json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise TemporaryError(f"the sequencer at {self.sequencer_url} did not take the transaction: {exc}") from None
        error = reply.get("error")
        if isinstance(error, dict):
            raise ForwardedError(int(error.get("code", -32000)), str(error.get("message", "")), error.get("data"))
        return bytes.fromhex(str(reply["result"])[2:])

    def get(self, tx_hash: bytes) -> Any:
        return None

    def pending_nonce(self, sender: bytes) -> int:
        head = self.store.head("unsafe")
        return StateView(self.store.state_db, bytes(head.state_root)).get_nonce(sender)

    def status(self) -> tuple[int, int]:
        return 0, 0

    def content(self) -> tuple[Any, Any]:
        return {}, {}

    def subscribe(self, callback: Callable[[bytes], None]) -> Callable[[], None]:
        return lambda: None

    def dropped_from(self, sender: bytes) -> list[Any]:
        return []

    def close(self) -> None:
        pass
