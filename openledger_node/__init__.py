"""OpenLedger node core: execution, storage, transaction pool and node assembly.

The sequencer, bridge and attribution packages build on this one; it imports
none of them.
"""

import os
from importlib.util import find_spec

__version__ = "0.1.0"

# eth-hash hashes with the first backend it can import, pycryptodome, at about
# 3.3 us a call; safe-pysha3's C keccak takes 0.7 us, and every trie key, node
# and transaction is hashed (eth_call: about 1.2x faster). It reads the choice
# from ETH_HASH_BACKEND when it first hashes, which is after this import; an
# operator's own setting wins.
if "ETH_HASH_BACKEND" not in os.environ and find_spec("sha3") is not None:
    os.environ["ETH_HASH_BACKEND"] = "pysha3"
