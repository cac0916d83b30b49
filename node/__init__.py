"""Node assembly: every node kind wired from its config, and the CLI. The only
package that imports all the others."""

from node.builder import Node, NodeBuilder, init_datadir

__all__ = ["Node", "NodeBuilder", "init_datadir"]
