"""Node assembly: the one place that wires storage, pool and sequencer together."""

from openledger_node.node.builder import Node, init_datadir

__all__ = ["Node", "init_datadir"]
