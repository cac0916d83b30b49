"""py-evm 0.12.1b1's post-merge forks, corrected where they diverge from Ethereum.

Ethereum's own test vectors (tests/ethereum/, run through the L1 node's import
path) found these divergences in py-evm's execution; each is corrected here by
subclassing the fork's class and overriding only what differs, and both the L1
node's fork VMs (`execution/l1/forks.py`) and the rollup's `OpenLedgerVM`
(`execution/vm.py`) build on these classes:

- MODEXP (EIP-198) with an empty base returns 0 in py-evm; Ethereum computes
  0 ** exponent % modulus, which is 1 for an empty exponent and a modulus
  above 1;
- CREATE / CREATE2 and contract-creating transactions onto an address that
  has storage but no code and nonce 0 succeed in py-evm; EIP-7610 counts
  non-empty storage as a collision too;
- the point-evaluation precompile (EIP-4844) reloads the KZG trusted setup on
  every call, seconds of CPU for 50,000 gas; the result is the same, the
  setup is loaded once here.

py-evm's upstream has no release or commit after 0.12.1b1 (May 2025) that
changes these. The sender's balance check that covers the blob fee is the
node's `validate_sender` (`execution/vm.py`), shared by both chains.
"""

from __future__ import annotations

import functools
from typing import Any

from ckzg import load_trusted_setup, verify_kzg_proof
from eth._utils.address import force_bytes_to_address
from eth._utils.padding import zpad_right
from eth.abc import ComputationAPI
from eth.constants import BLANK_ROOT_HASH
from eth.exceptions import VMError
from eth.precompiles.modexp import extract_lengths
from eth.precompiles.point_evaluation import TRUSTED_SETUP_PATH, kzg_to_versioned_hash
from eth.vm.forks.berlin.computation import _compute_modexp_gas_fee_eip_2565
from eth.vm.forks.cancun.computation import CancunComputation as _CancunComputation
from eth.vm.forks.cancun.constants import (
    BLS_MODULUS,
    FIELD_ELEMENTS_PER_BLOB,
    POINT_EVALUATION_PRECOMPILE_ADDRESS,
    POINT_EVALUATION_PRECOMPILE_GAS,
)
from eth.vm.forks.cancun.state import CancunState as _CancunState
from eth.vm.forks.paris.computation import ParisComputation as _ParisComputation
from eth.vm.forks.paris.state import ParisState as _ParisState
from eth.vm.forks.prague.computation import PragueComputation as _PragueComputation
from eth.vm.forks.prague.state import PragueState as _PragueState
from eth.vm.forks.shanghai.computation import (
    ShanghaiComputation as _ShanghaiComputation,
)
from eth.vm.forks.shanghai.state import ShanghaiState as _ShanghaiState
from eth_typing import Address

MODEXP_ADDRESS = force_bytes_to_address(b"\x05")


def modexp_result(data: bytes) -> bytes:
    """EIP-198's output: base ** exponent % modulus as `modulus_length` bytes,
    each operand read zero-padded from `data` (an empty operand is 0)."""
    base_length, exponent_length, modulus_length = extract_lengths(data)
    if modulus_length == 0:
        return b""
    base_end = 96 + base_length
    exponent_end = base_end + exponent_length
    modulus = int.from_bytes(zpad_right(data[exponent_end : exponent_end + modulus_length], modulus_length), "big")
    if modulus == 0:
        return bytes(modulus_length)
    base = int.from_bytes(zpad_right(data[96:base_end], base_length), "big")
    exponent = int.from_bytes(zpad_right(data[base_end:exponent_end], exponent_length), "big")
    return pow(base, exponent, modulus).to_bytes(modulus_length, "big")


def modexp(computation: ComputationAPI) -> ComputationAPI:
    """The MODEXP precompile (EIP-198, priced by EIP-2565 as from Berlin)."""
    data = computation.msg.data_as_bytes
    computation.consume_gas(_compute_modexp_gas_fee_eip_2565(data), reason="MODEXP Precompile")
    computation.output = modexp_result(data)
    return computation


@functools.cache
def _kzg_setup() -> Any:
    return load_trusted_setup(TRUSTED_SETUP_PATH, 0)


POINT_EVALUATION_OUTPUT = FIELD_ELEMENTS_PER_BLOB.to_bytes(32, "big") + BLS_MODULUS.to_bytes(32, "big")


def point_evaluation(computation: ComputationAPI) -> ComputationAPI:
    """EIP-4844's point evaluation: verify that the blob committed to by the
    versioned hash evaluates to y at z, as py-evm's precompile does."""
    computation.consume_gas(POINT_EVALUATION_PRECOMPILE_GAS, reason="Point Evaluation Precompile")
    data = computation.msg.data_as_bytes
    if len(data) != 192:
        raise VMError("Point evaluation invalid input length.")
    versioned_hash, z, y, commitment, proof = data[:32], data[32:64], data[64:96], data[96:144], data[144:192]
    if kzg_to_versioned_hash(commitment) != versioned_hash:
        raise VMError("Point evaluation commitment does not match versioned hash.")
    try:
        valid = verify_kzg_proof(commitment, z, y, proof, _kzg_setup())
    except RuntimeError:  # ckzg's error for inputs that are not field elements or points
        valid = False
    if not valid:
        raise VMError("Point evaluation KZG proof verification failed.")
    computation.output = POINT_EVALUATION_OUTPUT
    return computation


def _corrected_precompiles(computation_class: Any) -> dict[Address, Any]:
    precompiles = {**computation_class.get_precompiles(), MODEXP_ADDRESS: modexp}
    point_evaluation_address = force_bytes_to_address(POINT_EVALUATION_PRECOMPILE_ADDRESS)
    if point_evaluation_address in precompiles:
        precompiles[point_evaluation_address] = point_evaluation
    return precompiles


class ParisComputation(_ParisComputation):
    _precompiles = _corrected_precompiles(_ParisComputation)


class ShanghaiComputation(_ShanghaiComputation):
    _precompiles = _corrected_precompiles(_ShanghaiComputation)


class CancunComputation(_CancunComputation):
    _precompiles = _corrected_precompiles(_CancunComputation)


class PragueComputation(_PragueComputation):
    _precompiles = _corrected_precompiles(_PragueComputation)


class CreateCollision:
    """EIP-7610: an address with code, a nonce or storage cannot be created at.
    py-evm asks `has_code_or_nonce` only for that check (CREATE, CREATE2 and a
    contract-creating transaction), so storage joins the question here."""

    _account_db: Any

    def has_code_or_nonce(self, address: Address) -> bool:
        if super().has_code_or_nonce(address):  # type: ignore[misc]
            return True
        # Storage written earlier in the block is in the account's storage
        # store, not yet in its committed storage root.
        store = self._account_db._account_stores.get(address)
        if store is not None and store.has_changed_root:
            return bytes(store.get_changed_root()) != BLANK_ROOT_HASH
        return bytes(self._account_db._get_storage_root(address)) != BLANK_ROOT_HASH


class ParisState(CreateCollision, _ParisState):
    computation_class = ParisComputation


class ShanghaiState(CreateCollision, _ShanghaiState):
    computation_class = ShanghaiComputation


class CancunState(CreateCollision, _CancunState):
    computation_class = CancunComputation


class PragueState(CreateCollision, _PragueState):
    computation_class = PragueComputation
