"""The sequencer: builds blocks from the pool and due deposits, on a clock or on demand."""

from sequencer.builder import BlockBuilder, BuildResult, SkippedTx
from sequencer.driver import SequencerDriver
from sequencer.sources import (
    DepositSource,
    FollowL1,
    L1Blocks,
    L1OriginSource,
    NoDeposits,
    QueuedDeposits,
    StaticL1Origin,
)

__all__ = [
    "BlockBuilder",
    "BuildResult",
    "DepositSource",
    "FollowL1",
    "L1Blocks",
    "L1OriginSource",
    "NoDeposits",
    "QueuedDeposits",
    "SequencerDriver",
    "SkippedTx",
    "StaticL1Origin",
]
