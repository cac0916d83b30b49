"""OpenLedger node core: execution, storage, transaction pool and node assembly.

The sequencer, bridge and attribution packages build on this one; it imports
none of them.
"""

__version__ = "0.1.0"
