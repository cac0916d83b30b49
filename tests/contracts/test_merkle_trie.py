"""RLPReader, MerkleTrie and SecureMerkleTrie (contracts/src/libraries), the
Merkle-Patricia proof verifier the L1 portal proves withdrawals with: run on
anvil through TrieHarness with web3.py, against proofs built by the `trie`
package (plain and hashed keys) and by the node's own eth_getProof
(`openledger_node.execution.proof.get_proof`) from a real L2 state.

Every valid proof must give exactly the stored value; every absent key and
every tampered proof must revert with its specific custom error, never give a
value. Decoding is compared with pyrlp in strict mode, which rejects the same
non-canonical encodings.

Two tests print gas figures of SecureMerkleTrie.verifyInclusionProof: on
real withdrawal proofs, and on storage proofs of depth 1 to 8 shaped like
those of a large contract (test_secureVerifyInclusionProof_gas_by_depth_succeeds).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
import rlp
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_hash.auto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trie import HexaryTrie
from web3 import HTTPProvider, Web3
from web3.exceptions import ContractCustomError

from contracts import load_artifact
from openledger_node.execution.block import begin_block
from openledger_node.execution.proof import get_proof
from openledger_node.execution.types import Receipt
from openledger_node.primitives import L2_TO_L1_MESSAGE_PASSER_ADDRESS
from openledger_node.storage import ChainStore, OverlayDB
from tests.conformance.endpoints import ANVIL, ANVIL_MISSING, anvil
from tests.conftest import Signer, next_env, seal_and_store

pytestmark = [pytest.mark.skipif(not ANVIL.exists(), reason=ANVIL_MISSING), pytest.mark.timeout(600)]

HARNESS_ADDRESS = Web3.to_checksum_address("0x" + "7e" * 20)
LONG = b"v" * 40  # a value long enough that the node holding it is referenced by hash
BLANK_ROOT = keccak(rlp.encode(b""))

# Hypothesis runs against a live node: no deadline, fewer but larger examples.
NODE_SETTINGS = settings(
    deadline=None,
    max_examples=25,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --- the harness on anvil ----------------------------------------------------------------


class Harness:
    """TrieHarness at a fixed address on anvil; calls are eth_calls."""

    def __init__(self, w3: Web3) -> None:
        artifact = load_artifact("TrieHarness")
        result = w3.provider.make_request(
            "anvil_setCode", [HARNESS_ADDRESS, "0x" + artifact.deployed_bytecode.hex()]
        )
        assert "error" not in result, result
        self.w3 = w3
        self.contract = w3.eth.contract(address=HARNESS_ADDRESS, abi=list(artifact.abi))
        self.errors: dict[bytes, tuple[str, list[str]]] = {}
        for item in artifact.abi:
            if item["type"] == "error":
                types = [i["type"] for i in item["inputs"]]
                self.errors[keccak(f"{item['name']}({','.join(types)})".encode())[:4]] = (item["name"], types)

    def call(self, function: str, *args: Any) -> Any:
        return getattr(self.contract.functions, function)(*args).call()

    def error(self, function: str, *args: Any) -> tuple[Any, ...]:
        """The custom error `function(*args)` reverts with: (name, *arguments).
        Fails the test when the call returns, or reverts with anything else
        (a panic, a revert string)."""
        try:
            result = self.call(function, *args)
        except ContractCustomError as exc:
            data = bytes.fromhex(str(exc.data)[2:])
            assert data[:4] in self.errors, f"unknown error data 0x{data.hex()}"
            name, types = self.errors[data[:4]]
            return (name, *abi_decode(types, data[4:]))
        raise AssertionError(f"{function} returned {result!r} instead of reverting")


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    with anvil(tmp_path_factory.mktemp("anvil")) as endpoint:
        yield Harness(Web3(HTTPProvider(endpoint.url, request_kwargs={"timeout": 60})))


# --- proofs --------------------------------------------------------------------------------


def encode_proof(nodes: Any) -> list[bytes]:
    """The `trie` package's proof (decoded nodes, embedded ones included) as
    eth_getProof gives it: encoded, and only the root and the nodes that their
    parent references by hash (encoding of 32 bytes or more)."""
    encoded = [rlp.encode(node) for node in nodes]
    return [node for index, node in enumerate(encoded) if index == 0 or len(node) >= 32]


def prove(trie: HexaryTrie, key: bytes) -> list[bytes]:
    return encode_proof(trie.get_proof(key))


def build(items: dict[bytes, bytes]) -> HexaryTrie:
    trie = HexaryTrie({})
    for key, value in items.items():
        trie[key] = value
    return trie


def secure(items: dict[bytes, bytes]) -> HexaryTrie:
    return build({keccak(key): value for key, value in items.items()})


def hex_prefix(nibbles: list[int], leaf: bool) -> bytes:
    """Hex-prefix encoding of a leaf or extension path (Yellow Paper, appendix C)."""
    flag = (2 if leaf else 0) + (len(nibbles) % 2)
    padded = [flag] + ([] if len(nibbles) % 2 else [0]) + nibbles
    return bytes(padded[i] << 4 | padded[i + 1] for i in range(0, len(padded), 2))


def nibbles_of(data: bytes) -> list[int]:
    return [n for byte in data for n in (byte >> 4, byte & 0x0F)]


def assert_proves(harness: Harness, key: bytes, value: bytes, proof: list[bytes], root: bytes) -> None:
    """get and verifyInclusionProof agree with the trie on a present key."""
    assert harness.call("get", key, proof, root) == value
    assert harness.call("verifyInclusionProof", key, value, proof, root) is True
    assert harness.call("verifyInclusionProof", key, value + b"\x00", proof, root) is False


def assert_absent(harness: Harness, key: bytes, proof: list[bytes], root: bytes) -> tuple[Any, ...]:
    """get and verifyInclusionProof both revert, with the same absence error."""
    error = harness.error("get", key, proof, root)
    assert error in {("PathMismatch",), ("KeyNotFound",)}, error
    assert harness.error("verifyInclusionProof", key, b"\x01", proof, root) == error
    return error


# --- RLPReader -----------------------------------------------------------------------------


@pytest.mark.parametrize("byte", [0x00, 0x01, 0x42, 0x7F])
def test_readBytes_single_byte_below_0x80_succeeds(harness: Harness, byte: int) -> None:
    assert harness.call("readBytes", bytes([byte])) == bytes([byte])
    assert harness.call("isList", bytes([byte])) is False


def test_readBytes_empty_string_succeeds(harness: Harness) -> None:
    assert harness.call("readBytes", b"\x80") == b""


@pytest.mark.parametrize("length", [1, 2, 31, 32, 33, 54, 55, 56, 57, 255, 256, 1024, 65536])
def test_readBytes_boundary_lengths_succeeds(harness: Harness, length: int) -> None:
    payload = bytes([0x80 | (i % 0x80) for i in range(length)])  # first byte >= 0x80
    encoded = rlp.encode(payload)
    # 55 bytes is the longest short form (0xb7); 56 the shortest long form (0xb8 0x38).
    assert encoded[0] == (0x80 + length if length <= 55 else 0xB7 + (length.bit_length() + 7) // 8)
    assert harness.call("readBytes", encoded) == payload


@pytest.mark.parametrize("byte", [0x00, 0x7F])
def test_readBytes_single_byte_as_string_reverts(harness: Harness, byte: int) -> None:
    assert harness.error("readBytes", bytes([0x81, byte])) == ("NonCanonicalSingleByte",)


def test_readBytes_one_byte_string_of_0x80_succeeds(harness: Harness) -> None:
    assert harness.call("readBytes", b"\x81\x80") == b"\x80"


@pytest.mark.parametrize("length", [1, 2, 55])
def test_readBytes_long_form_for_short_payload_reverts(harness: Harness, length: int) -> None:
    assert harness.error("readBytes", bytes([0xB8, length]) + b"\xaa" * length) == ("NonCanonicalLongForm",)


def test_readBytes_length_with_leading_zero_reverts(harness: Harness) -> None:
    assert harness.error("readBytes", b"\xb9\x00\x38" + b"\xaa" * 56) == ("LeadingZeroLength",)
    assert harness.error("readBytes", b"\xb8\x00") == ("LeadingZeroLength",)


@pytest.mark.parametrize(
    "encoded",
    [
        b"\x81",  # one payload byte announced, none there
        b"\x85abcd",  # five announced, four there
        b"\xb7" + b"\xaa" * 54,  # 55 announced, 54 there
        b"\xb8",  # the length byte itself is missing
        b"\xb9\x01",  # one of two length bytes missing
        b"\xb8\x38" + b"\xaa" * 55,  # 56 announced, 55 there
        b"\xbf\xff\xff\xff\xff\xff\xff\xff\xff" + b"\xaa" * 64,  # 2**64 - 1 announced
    ],
)
def test_readBytes_length_past_end_reverts(harness: Harness, encoded: bytes) -> None:
    assert harness.error("readBytes", encoded) == ("ItemOutOfBounds",)


@pytest.mark.parametrize("encoded", [b"\x01\x02", b"\x80\x80", b"\x83abcd", rlp.encode(b"x" * 60) + b"\x00"])
def test_readBytes_trailing_bytes_reverts(harness: Harness, encoded: bytes) -> None:
    assert harness.error("readBytes", encoded) == ("TrailingBytes",)


def test_readBytes_empty_input_reverts(harness: Harness) -> None:
    assert harness.error("readBytes", b"") == ("EmptyItem",)
    assert harness.error("readList", b"") == ("EmptyItem",)
    assert harness.error("isList", b"") == ("EmptyItem",)


def test_readBytes_list_reverts(harness: Harness) -> None:
    assert harness.error("readBytes", b"\xc0") == ("UnexpectedList",)
    assert harness.error("readBytes", rlp.encode([b"a", b"b"])) == ("UnexpectedList",)


def test_readList_empty_list_succeeds(harness: Harness) -> None:
    assert harness.call("readList", b"\xc0") == []
    assert harness.call("isList", b"\xc0") is True


def test_readList_items_are_exact_encodings_succeeds(harness: Harness) -> None:
    items: list[Any] = [b"", b"\x00", b"\x7f", b"\x80", b"dog", b"x" * 56, [], [b"cat", [b""]]]
    encoded = rlp.encode(items)
    assert harness.call("readList", encoded) == [rlp.encode(item) for item in items]
    for index, item in enumerate(items):
        assert harness.call("readRawItem", encoded, index) == rlp.encode(item)


@pytest.mark.parametrize("payload_length", [55, 56])
def test_readList_boundary_payload_lengths_succeeds(harness: Harness, payload_length: int) -> None:
    # A string of 54 bytes with its 1-byte header (0xb6) fills a 55-byte list
    # payload, the longest short form (0xf7); one byte more, the long form.
    items = [b"\x80" * (payload_length - 1)]
    encoded = rlp.encode(items)
    assert encoded[0] == (0xF7 if payload_length == 55 else 0xF8)
    assert harness.call("readList", encoded) == [rlp.encode(items[0])]


def test_readList_string_reverts(harness: Harness) -> None:
    assert harness.error("readList", b"\x83dog") == ("UnexpectedString",)
    assert harness.error("readList", b"\x05") == ("UnexpectedString",)


def test_readList_long_form_for_short_payload_reverts(harness: Harness) -> None:
    assert harness.error("readList", b"\xf8\x03\x83dog") == ("NonCanonicalLongForm",)
    assert harness.error("readList", b"\xf8\x37" + b"\x01" * 55) == ("NonCanonicalLongForm",)


def test_readList_length_with_leading_zero_reverts(harness: Harness) -> None:
    assert harness.error("readList", b"\xf9\x00\x38" + b"\x01" * 56) == ("LeadingZeroLength",)


def test_readList_non_canonical_item_reverts(harness: Harness) -> None:
    # Item headers are checked when the list is read.
    assert harness.error("readList", b"\xc2\x81\x01") == ("NonCanonicalSingleByte",)
    assert harness.error("readList", b"\xc4\xb8\x02ab") == ("NonCanonicalLongForm",)


def test_readList_item_past_list_end_reverts(harness: Harness) -> None:
    # The item claims 3 bytes where 2 of the list payload are left.
    assert harness.error("readList", b"\xc3\x83ab") == ("ItemOutOfBounds",)
    assert harness.error("readList", b"\xc1\xc1") == ("ItemOutOfBounds",)
    # A 32-byte string (0xa0, the hash in a branch slot) cut short by the list's end.
    assert harness.error("readList", b"\xe0\x80" + b"\xa0" + b"\x11" * 30) == ("ItemOutOfBounds",)
    assert harness.error("readList", b"\xc5\xa0abcd") == ("ItemOutOfBounds",)


def test_readList_length_past_end_reverts(harness: Harness) -> None:
    assert harness.error("readList", b"\xc3\x01\x02") == ("ItemOutOfBounds",)
    assert harness.error("readList", b"\xf8\x40" + b"\x01" * 63) == ("ItemOutOfBounds",)
    assert harness.error("readList", b"\xf9\x01") == ("ItemOutOfBounds",)


def test_readList_trailing_bytes_reverts(harness: Harness) -> None:
    assert harness.error("readList", b"\xc1\x01\x02") == ("TrailingBytes",)
    assert harness.error("readList", b"\xc0\xc0") == ("TrailingBytes",)


def test_readList_32_items_succeeds(harness: Harness) -> None:
    items = [bytes([i]) for i in range(32)]
    assert harness.call("readList", rlp.encode(items)) == items


def test_readList_33_items_reverts(harness: Harness) -> None:
    assert harness.error("readList", rlp.encode([bytes([i]) for i in range(33)])) == ("TooManyListItems",)


def test_readList_nested_lists_succeeds(harness: Harness) -> None:
    nested: Any = [[[[[b"deep"]]]], [b"a", [b"b", [b"c", []]]], b"", [[], [[]]]]
    assert decode_on_chain(harness, rlp.encode(nested)) == nested


def test_readList_non_canonical_nested_item_reverts(harness: Harness) -> None:
    # The outer list reads (its item's header is canonical), the inner one does not.
    encoded = b"\xc4\xc3\x81\x01\x02"
    [inner] = harness.call("readList", encoded)
    assert inner == b"\xc3\x81\x01\x02"
    assert harness.error("readList", inner) == ("NonCanonicalSingleByte",)


def decode_on_chain(harness: Harness, encoded: bytes) -> Any:
    """Full decoding, one level per call, the way a caller descends."""
    if harness.call("isList", encoded):
        return [decode_on_chain(harness, item) for item in harness.call("readList", encoded)]
    return harness.call("readBytes", encoded)


rlp_values: st.SearchStrategy[Any] = st.recursive(
    st.binary(max_size=70),
    lambda children: st.lists(children, max_size=6),
    max_leaves=20,
)


@NODE_SETTINGS
@given(value=rlp_values)
def test_readList_roundtrip_hypothesis_succeeds(harness: Harness, value: Any) -> None:
    assert decode_on_chain(harness, rlp.encode(value)) == value


# Prefix bytes near the boundaries of every form, then arbitrary bytes.
rlp_noise = st.lists(
    st.one_of(
        st.sampled_from([0x00, 0x7F, 0x80, 0x81, 0xB7, 0xB8, 0xB9, 0xBF, 0xC0, 0xC1, 0xF7, 0xF8, 0xF9, 0xFF]),
        st.integers(0, 255),
    ),
    min_size=0,
    max_size=80,
).map(bytes)


def _strict(encoded: bytes) -> Any:
    try:
        return rlp.decode(encoded, strict=True)
    except rlp.DecodingError:
        return None


def _on_chain_or_none(harness: Harness, encoded: bytes) -> Any:
    try:
        return decode_on_chain(harness, encoded)
    except ContractCustomError:
        return None


@st.composite
def mutated_rlp(draw: st.DrawFn) -> bytes:
    """A valid encoding with one change: a byte replaced, inserted or removed,
    or the end cut off or extended."""
    encoded = bytearray(rlp.encode(draw(rlp_values)))
    position = draw(st.integers(0, len(encoded) - 1))
    change = draw(st.sampled_from(["replace", "insert", "remove", "truncate", "extend"]))
    if change == "replace":
        encoded[position] = draw(st.integers(0, 255))
    elif change == "insert":
        encoded.insert(position, draw(st.integers(0, 255)))
    elif change == "remove":
        del encoded[position]
    elif change == "truncate":
        del encoded[position:]
    else:
        encoded += draw(st.binary(min_size=1, max_size=3))
    return bytes(encoded)


@NODE_SETTINGS
@given(encoded=st.one_of(rlp_noise, mutated_rlp()))
def test_readList_matches_strict_pyrlp_on_arbitrary_bytes_succeeds(harness: Harness, encoded: bytes) -> None:
    """Accepted exactly when pyrlp's strict decoder accepts, with the same value."""
    expected = _strict(encoded)
    if expected is not None and _max_list_length(expected) > 32:
        return
    assert _on_chain_or_none(harness, encoded) == expected


def _max_list_length(value: Any) -> int:
    if isinstance(value, list):
        return max([len(value), *(_max_list_length(v) for v in value)])
    return 0


# --- MerkleTrie: valid proofs ---------------------------------------------------------------


def test_get_single_leaf_trie_succeeds(harness: Harness) -> None:
    for value in (b"\x01", LONG):  # a root shorter and longer than 32 bytes
        trie = build({b"\x12\x34": value})
        proof = prove(trie, b"\x12\x34")
        assert len(proof) == 1
        assert_proves(harness, b"\x12\x34", value, proof, trie.root_hash)


def test_get_extension_and_branch_succeeds(harness: Harness) -> None:
    items = {b"\x12\x34\x56": LONG + b"1", b"\x12\x34\x57": LONG + b"2", b"\x12\x34\x66": LONG + b"3"}
    trie = build(items)
    for key, value in items.items():
        proof = prove(trie, key)
        shapes = [len(rlp.decode(node)) for node in proof]
        assert shapes[0] == 2 and 17 in shapes  # extension at the root, then branches
        assert_proves(harness, key, value, proof, trie.root_hash)


def test_get_value_in_branch_slot_succeeds(harness: Harness) -> None:
    # b"do" is a prefix of the other keys: its value sits in a branch's slot 16.
    items = {b"do": b"verb", b"dog": b"puppy", b"doge": b"coin", b"horse": b"stallion"}
    trie = build(items)
    for key, value in items.items():
        assert_proves(harness, key, value, prove(trie, key), trie.root_hash)
    branch = rlp.decode(prove(trie, b"do")[-1])
    assert len(branch) == 17 and branch[16] == b"verb"


def test_get_embedded_nodes_succeeds(harness: Harness) -> None:
    # Small values keep leaves, and a branch, under 32 bytes: they are embedded
    # in their parent and are not elements of the proof.
    items = {bytes([0x11, i]): bytes([i + 1]) for i in range(6)} | {b"\x22": b"\x05", b"\x22\x01": b"\x06"}
    trie = build(items)
    embedded = 0
    for key, value in items.items():
        full, proof = trie.get_proof(key), prove(trie, key)
        embedded += len(full) - len(proof)
        assert_proves(harness, key, value, proof, trie.root_hash)
    assert embedded > 0


def test_get_embedded_branch_under_extension_succeeds(harness: Harness) -> None:
    # Embedded two levels deep: the root branch holds an extension under 32
    # bytes, which holds a branch under 32 bytes, which holds the leaves.
    items = {b"\xab\xcd\x01": b"\x01", b"\xab\xcd\x02": b"\x02"}
    trie = build(items | {b"\x01": LONG})
    for key, value in items.items():
        proof = prove(trie, key)
        assert len(proof) == 1
        extension = rlp.decode(proof[0])[0xA]
        assert len(extension) == 2 and isinstance(extension[1], list) and len(extension[1]) == 17
        assert_proves(harness, key, value, proof, trie.root_hash)


def test_get_every_key_of_large_trie_succeeds(harness: Harness) -> None:
    rng = random.Random(1)
    items = {rng.randbytes(rng.randint(1, 12)): rng.randbytes(rng.randint(1, 60)) for _ in range(400)}
    trie = build(items)
    for key, value in items.items():
        assert harness.call("get", key, prove(trie, key), trie.root_hash) == value


# Small alphabets and short keys, so that keys are often prefixes of each other.
plain_keys = st.lists(st.sampled_from([0x00, 0x01, 0x10, 0x11, 0xFF]), min_size=1, max_size=5).map(bytes)
plain_values = st.one_of(st.binary(min_size=1, max_size=3), st.binary(min_size=1, max_size=64))


@NODE_SETTINGS
@given(
    items=st.dictionaries(plain_keys, plain_values, min_size=1, max_size=300),
    absent=st.lists(plain_keys, max_size=5),
)
def test_get_hypothesis_plain_trie_succeeds(
    harness: Harness, items: dict[bytes, bytes], absent: list[bytes]
) -> None:
    trie = build(items)
    for key in sorted(items)[:: max(1, len(items) // 12)]:
        assert_proves(harness, key, items[key], prove(trie, key), trie.root_hash)
    for key in absent:
        if key not in items:
            assert_absent(harness, key, prove(trie, key), trie.root_hash)


@NODE_SETTINGS
@given(
    items=st.dictionaries(
        st.binary(min_size=1, max_size=32),
        st.integers(1, 2**256 - 1).map(rlp.encode),
        min_size=100,
        max_size=500,
    ),
    absent=st.binary(min_size=1, max_size=32),
)
def test_secureGet_hypothesis_hashed_keys_succeeds(
    harness: Harness, items: dict[bytes, bytes], absent: bytes
) -> None:
    trie = secure(items)
    for key in sorted(items)[:: max(1, len(items) // 8)]:
        proof = prove(trie, keccak(key))
        assert harness.call("secureGet", key, proof, trie.root_hash) == items[key]
        assert harness.call("secureVerifyInclusionProof", key, items[key], proof, trie.root_hash) is True
    if absent not in items:
        error = harness.error("secureGet", absent, prove(trie, keccak(absent)), trie.root_hash)
        assert error in {("PathMismatch",), ("KeyNotFound",)}


@NODE_SETTINGS
@given(
    items=st.dictionaries(plain_keys, plain_values, min_size=2, max_size=200),
    data=st.data(),
)
def test_get_hypothesis_tampered_proof_reverts(
    harness: Harness, items: dict[bytes, bytes], data: Any
) -> None:
    """Any byte of any node changed: that node's hash check fails, whatever
    the change would otherwise have meant."""
    trie = build(items)
    key = data.draw(st.sampled_from(sorted(items)))
    proof = prove(trie, key)
    index = data.draw(st.integers(0, len(proof) - 1))
    position = data.draw(st.integers(0, len(proof[index]) - 1))
    mask = data.draw(st.integers(1, 255))
    tampered = list(proof)
    tampered[index] = (
        proof[index][:position] + bytes([proof[index][position] ^ mask]) + proof[index][position + 1 :]
    )
    assert harness.error("get", key, tampered, trie.root_hash) == ("InvalidNodeHash", index)


# --- MerkleTrie: absent keys ---------------------------------------------------------------


def test_get_absent_key_at_empty_branch_slot_reverts(harness: Harness) -> None:
    trie = build({b"\x12": LONG, b"\x56": LONG})
    assert assert_absent(harness, b"\x99", prove(trie, b"\x99"), trie.root_hash) == ("KeyNotFound",)


def test_get_absent_key_at_branch_without_value_reverts(harness: Harness) -> None:
    # Extension 0x12, then a branch with no value: b"\x12" ends there.
    trie = build({b"\x12\x34": LONG, b"\x12\x56": LONG})
    assert assert_absent(harness, b"\x12", prove(trie, b"\x12"), trie.root_hash) == ("KeyNotFound",)


def test_get_absent_key_diverging_from_extension_reverts(harness: Harness) -> None:
    trie = build({b"\x12\x34": LONG, b"\x12\x56": LONG})
    assert assert_absent(harness, b"\x13\x34", prove(trie, b"\x13\x34"), trie.root_hash) == ("PathMismatch",)


def test_get_absent_key_ending_inside_extension_reverts(harness: Harness) -> None:
    trie = build({b"\x12\x34\x56": LONG, b"\x12\x34\x78": LONG})
    assert assert_absent(harness, b"\x12", prove(trie, b"\x12"), trie.root_hash) == ("PathMismatch",)


@pytest.mark.parametrize("key", [b"\x12", b"\x12\x34\x56", b"\x12\x35"])
def test_get_absent_key_not_matching_leaf_reverts(harness: Harness, key: bytes) -> None:
    trie = build({b"\x12\x34": LONG})
    assert assert_absent(harness, key, prove(trie, key), trie.root_hash) == ("PathMismatch",)


def test_get_empty_trie_reverts(harness: Harness) -> None:
    """The empty trie: eth_getProof gives no nodes, and the empty string that
    hashes to its root is not a node."""
    assert harness.error("get", b"\x12", [], BLANK_ROOT) == ("EmptyProof",)
    assert harness.error("get", b"\x12", [b"\x80"], BLANK_ROOT) == ("UnexpectedString",)


def test_verifyInclusionProof_other_value_succeeds(harness: Harness) -> None:
    """A valid proof of another value: false, not a revert."""
    trie = build({b"\x12\x34": LONG})
    proof = prove(trie, b"\x12\x34")
    assert harness.call("verifyInclusionProof", b"\x12\x34", LONG[:-1], proof, trie.root_hash) is False
    assert harness.call("verifyInclusionProof", b"\x12\x34", b"", proof, trie.root_hash) is False


# --- MerkleTrie: tampered proofs -----------------------------------------------------------


@pytest.fixture(scope="module")
def deep() -> tuple[HexaryTrie, bytes, bytes, list[bytes]]:
    """A secure trie of 300 keys and the proof (4 nodes: three branches and a
    leaf) of one of them: (trie, key, value, proof)."""
    rng = random.Random(7)
    items = {rng.randbytes(32): rlp.encode(rng.randrange(1, 2**256)) for _ in range(300)}
    trie = secure(items)
    for key, value in items.items():
        proof = prove(trie, keccak(key))
        if len(proof) == 4:
            return trie, keccak(key), value, proof
    raise AssertionError("no key at depth 4")


def test_get_deep_proof_succeeds(harness: Harness, deep: Any) -> None:
    trie, key, value, proof = deep
    assert_proves(harness, key, value, proof, trie.root_hash)


def test_get_flipped_byte_in_each_node_reverts(harness: Harness, deep: Any) -> None:
    trie, key, _, proof = deep
    for index, node in enumerate(proof):
        # Every byte of the small nodes; a spread of positions in the large ones.
        positions = (
            range(len(node))
            if len(node) <= 80
            else sorted({0, 1, 2, len(node) - 1, *range(3, len(node), 17)})
        )
        for position in positions:
            tampered = list(proof)
            tampered[index] = node[:position] + bytes([node[position] ^ 0x01]) + node[position + 1 :]
            assert harness.error("get", key, tampered, trie.root_hash) == ("InvalidNodeHash", index)


def test_get_wrong_root_reverts(harness: Harness, deep: Any) -> None:
    trie, key, value, proof = deep
    wrong = bytes([trie.root_hash[0] ^ 0xFF]) + trie.root_hash[1:]
    assert harness.error("get", key, proof, wrong) == ("InvalidNodeHash", 0)
    assert harness.error("verifyInclusionProof", key, value, proof, wrong) == ("InvalidNodeHash", 0)


def test_get_truncated_proof_reverts(harness: Harness, deep: Any) -> None:
    trie, key, value, proof = deep
    for length in range(1, len(proof)):
        assert harness.error("get", key, proof[:length], trie.root_hash) == ("ProofTooShort",)
    assert harness.error("verifyInclusionProof", key, value, proof[:-1], trie.root_hash) == ("ProofTooShort",)


def test_get_extra_node_appended_reverts(harness: Harness, deep: Any) -> None:
    trie, key, value, proof = deep
    for extra in (proof[-1], proof[0], b"\xc0", rlp.encode([b"\x20", b"\x01"])):
        assert harness.error("get", key, [*proof, extra], trie.root_hash) == ("ProofTooLong",)
    assert harness.error("verifyInclusionProof", key, value, [*proof, proof[-1]], trie.root_hash) == (
        "ProofTooLong",
    )


def test_get_extra_node_prepended_reverts(harness: Harness, deep: Any) -> None:
    trie, key, _, proof = deep
    assert harness.error("get", key, [proof[1], *proof], trie.root_hash) == ("InvalidNodeHash", 0)


def test_get_swapped_nodes_reverts(harness: Harness, deep: Any) -> None:
    trie, key, _, proof = deep
    for index in range(len(proof) - 1):
        swapped = list(proof)
        swapped[index], swapped[index + 1] = swapped[index + 1], swapped[index]
        assert harness.error("get", key, swapped, trie.root_hash) == ("InvalidNodeHash", index)


def test_get_empty_proof_reverts(harness: Harness, deep: Any) -> None:
    trie, key, value, _ = deep
    assert harness.error("get", key, [], trie.root_hash) == ("EmptyProof",)
    assert harness.error("verifyInclusionProof", key, value, [], trie.root_hash) == ("EmptyProof",)


def test_get_empty_key_reverts(harness: Harness, deep: Any) -> None:
    trie, _, value, proof = deep
    assert harness.error("get", b"", proof, trie.root_hash) == ("EmptyKey",)
    assert harness.error("verifyInclusionProof", b"", value, proof, trie.root_hash) == ("EmptyKey",)


def test_get_wrong_key_reverts(harness: Harness, deep: Any) -> None:
    """The proof of one key never proves a value for another, whether it is in
    the trie or not."""
    trie, key, _, proof = deep
    others = [key[:-1] + bytes([key[-1] ^ 1]), bytes([key[0] ^ 0x10]) + key[1:], key[:-1], key + b"\x00"]
    for other in others:
        error = harness.error("get", other, proof, trie.root_hash)
        assert error[0] in {"InvalidNodeHash", "PathMismatch", "KeyNotFound"}, error


def test_get_embedded_node_as_separate_element_reverts(harness: Harness) -> None:
    # The `trie` package lists embedded nodes too; they are part of their
    # parent already, so a proof that repeats them runs on.
    items = {bytes([0x11, i]): bytes([i + 1]) for i in range(6)}
    trie = build(items | {b"\x22": LONG})
    key = b"\x11\x03"
    full = [rlp.encode(node) for node in trie.get_proof(key)]
    assert len(full) > len(prove(trie, key))
    assert harness.error("get", key, full, trie.root_hash) == ("ProofTooLong",)


# --- MerkleTrie: nodes no canonical trie contains ------------------------------------------


def _leaf(path: bytes, value: bytes) -> bytes:
    return rlp.encode([hex_prefix(nibbles_of(path), leaf=True), value])


def _branch(children: dict[int, Any], value: bytes = b"") -> list[Any]:
    return [children.get(i, b"") for i in range(16)] + [value]


BAD_SINGLE_NODES: dict[str, tuple[bytes, bytes]] = {
    # name: (key, root node encoding)
    "three_items": (b"\x12", rlp.encode([b"\x20\x12", LONG, b""])),
    "eighteen_items": (b"\x12", rlp.encode([b""] * 17 + [LONG])),
    "one_item": (b"\x12", rlp.encode([LONG])),
    "hex_prefix_flag_4": (b"\x12", rlp.encode([b"\x40\x12", LONG])),
    "even_path_padding_not_zero": (b"\x12", rlp.encode([b"\x21\x12", LONG])),
    "empty_path": (b"\x12", rlp.encode([b"", LONG])),
    "path_is_a_list": (b"\x12", rlp.encode([[b"\x20\x12"], LONG])),
    "leaf_with_empty_value": (b"\x12", rlp.encode([b"\x20\x12", b""])),
    "leaf_value_is_a_list": (b"\x12", rlp.encode([b"\x20\x12", [LONG]])),
    "extension_with_empty_path": (b"\x12", rlp.encode([b"\x00", keccak(b"x")])),
    "extension_child_31_bytes": (b"\x12", rlp.encode([b"\x00\x12", b"\x01" * 31])),
    "extension_child_33_bytes": (b"\x12", rlp.encode([b"\x00\x12", b"\x01" * 33])),
    "extension_with_empty_child": (b"\x12", rlp.encode([b"\x00\x12", b""])),
    "branch_child_31_bytes": (b"\x12", rlp.encode(_branch({1: b"\x01" * 31, 2: keccak(b"y")}))),
    "branch_embedded_node_32_bytes": (
        b"\x12",
        rlp.encode(_branch({1: [b"\x32", b"\x01" * 29], 2: keccak(b"y")})),
    ),
    "branch_value_is_a_list": (b"\x12", rlp.encode([b"\x00\x12", [*([b""] * 16), [b"\x01"]]])),
}


@pytest.mark.parametrize("name", sorted(BAD_SINGLE_NODES))
def test_get_invalid_node_reverts(harness: Harness, name: str) -> None:
    key, node = BAD_SINGLE_NODES[name]
    if name == "branch_embedded_node_32_bytes":
        assert len(rlp.encode([b"\x32", b"\x01" * 29])) == 32
    assert harness.error("get", key, [node], keccak(node)) == ("InvalidNode", 0)


def test_get_extension_to_leaf_reverts(harness: Harness) -> None:
    leaf = _leaf(b"\x34", LONG)
    extension = rlp.encode([hex_prefix([1, 2], leaf=False), keccak(leaf)])
    assert harness.error("get", b"\x12\x34", [extension, leaf], keccak(extension)) == ("InvalidNode", 1)


def test_get_extension_to_extension_reverts(harness: Harness) -> None:
    branch = rlp.encode(_branch({1: keccak(b"a"), 2: keccak(b"b")}))
    inner = rlp.encode([hex_prefix([3, 4], leaf=False), keccak(branch)])
    outer = rlp.encode([hex_prefix([1, 2], leaf=False), keccak(inner)])
    assert len(inner) >= 32
    assert harness.error("get", b"\x12\x34\x10", [outer, inner, branch], keccak(outer)) == ("InvalidNode", 1)


def test_get_short_node_referenced_by_hash_reverts(harness: Harness) -> None:
    # A leaf under 32 bytes must be embedded; a reference by its hash is not canonical.
    leaf = _leaf(b"\x34", b"\x01")
    branch = rlp.encode(_branch({1: keccak(leaf), 2: keccak(b"y")}))
    assert len(leaf) < 32
    assert harness.error("get", b"\x1f\x34", [branch, leaf], keccak(branch)) == ("InvalidNode", 1)


def test_get_embedded_node_error_names_parent_reverts(harness: Harness) -> None:
    # An invalid node embedded in proof[1] is reported as proof[1]'s.
    child = rlp.encode([b"\x20", b""])  # leaf with an empty value, embedded
    branch = rlp.encode(_branch({2: rlp.decode(child), 3: keccak(b"z")}))
    root = rlp.encode(_branch({1: keccak(branch), 5: keccak(b"w")}))
    assert harness.error("get", b"\x12", [root, branch], keccak(root)) == ("InvalidNode", 1)


def test_get_non_canonical_root_encoding_reverts(harness: Harness) -> None:
    payload = rlp.encode([b"\x20\x12", LONG])[1:]
    assert len(payload) <= 55  # canonically a short-form list
    for node, error in (
        (b"\xf8" + bytes([len(payload)]) + payload, "NonCanonicalLongForm"),
        (b"\xf9\x00" + bytes([len(payload)]) + payload, "LeadingZeroLength"),
        (rlp.encode(LONG), "UnexpectedString"),
    ):
        assert harness.error("get", b"\x12", [node], keccak(node)) == (error,)


# --- SecureMerkleTrie on a real L2 state ---------------------------------------------------

INITIATE_WITHDRAWAL = keccak(b"initiateWithdrawal(address,uint256,bytes)")[:4]
MESSAGE_PASSED = keccak(b"MessagePassed(uint256,address,address,uint256,uint256,bytes,bytes32)")
MSG_NONCE_SLOT = 1


def mine(store: ChainStore, genesis_spec: Any, *txs: Any) -> list[Receipt]:
    overlay = OverlayDB(store.state_db)
    executor = begin_block(next_env(store, genesis_spec), overlay)
    receipts = [executor.apply(tx) for tx in txs]
    seal_and_store(store, executor, overlay)
    return receipts


def sent_messages_slot(withdrawal_hash: bytes) -> int:
    """sentMessages[withdrawal_hash], a mapping at slot 0."""
    return int.from_bytes(keccak(withdrawal_hash + (0).to_bytes(32, "big")), "big")


@pytest.fixture()
def withdrawals(store: ChainStore, genesis_spec: Any, signers: list[Signer]) -> tuple[bytes, list[int]]:
    """40 withdrawals initiated on L2: (state root, their sentMessages slots)."""
    txs = []
    for i in range(40):
        data = INITIATE_WITHDRAWAL + abi_encode(
            ["address", "uint256", "bytes"], [b"\x11" * 20, 100_000, bytes([i])]
        )
        txs.append(
            signers[i % 4].tx(to=L2_TO_L1_MESSAGE_PASSER_ADDRESS, data=data, value=10**15 + i, gas=500_000)
        )
    receipts = mine(store, genesis_spec, *txs)
    slots = []
    for receipt in receipts:
        assert receipt.status == 1
        [log] = [log for log in receipt.logs if log.topics[0] == MESSAGE_PASSED]
        *_, withdrawal_hash = abi_decode(["uint256", "uint256", "bytes", "bytes32"], log.data)
        slots.append(sent_messages_slot(withdrawal_hash))
    return bytes(store.head().state_root), slots


@pytest.mark.filterwarnings("ignore:SELFDESTRUCT opcode present:DeprecationWarning")
def test_secureVerifyInclusionProof_withdrawal_storage_proof_succeeds(
    harness: Harness,
    store: ChainStore,
    withdrawals: tuple[bytes, list[int]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The portal's call: slot as abi.encode(slot), value hex"01", against the
    message passer's storage root, with proofs from the node's eth_getProof."""
    state_root, slots = withdrawals
    proof = get_proof(
        store.state_db, state_root, bytes(L2_TO_L1_MESSAGE_PASSER_ADDRESS), [*slots, MSG_NONCE_SLOT]
    )
    root = proof.storage_hash
    gas_by_depth: dict[int, int] = {}
    for storage in proof.storage_proofs[:-1]:
        assert storage.value == 1
        key = storage.key.to_bytes(32, "big")
        assert key == abi_encode(["uint256"], [storage.key])  # abi.encode(slot)
        assert harness.call("secureVerifyInclusionProof", key, b"\x01", storage.proof, root) is True
        assert harness.call("secureGet", key, storage.proof, root) == b"\x01"
        assert harness.call("secureVerifyInclusionProof", key, b"\x02", storage.proof, root) is False
        valid, gas = harness.call("measureSecureVerifyInclusionProof", key, b"\x01", storage.proof, root)
        assert valid is True
        gas_by_depth[len(storage.proof)] = max(gas, gas_by_depth.get(len(storage.proof), 0))
    with capsys.disabled():
        print(
            "\nsecureVerifyInclusionProof gas, real withdrawal proofs (40 withdrawals): "
            + ", ".join(f"depth {d}: {g:,}" for d, g in sorted(gas_by_depth.items()))
        )
    nonce = proof.storage_proofs[-1]
    assert nonce.value == 40
    assert harness.call("secureGet", MSG_NONCE_SLOT.to_bytes(32, "big"), nonce.proof, root) == rlp.encode(40)


@pytest.mark.filterwarnings("ignore:SELFDESTRUCT opcode present:DeprecationWarning")
def test_secureGet_account_proof_from_state_succeeds(
    harness: Harness, store: ChainStore, withdrawals: tuple[bytes, list[int]], signers: list[Signer]
) -> None:
    """Account proofs against the state root, the message passer's included:
    its proven account holds the storage root the withdrawals are proven against."""
    state_root, _ = withdrawals
    for address in [bytes(L2_TO_L1_MESSAGE_PASSER_ADDRESS), *(s.address for s in signers[:4])]:
        proof = get_proof(store.state_db, state_root, address, [])
        account = harness.call("secureGet", address, proof.account_proof, state_root)
        assert account == rlp.encode([proof.nonce, proof.balance, proof.storage_hash, proof.code_hash])


@pytest.mark.filterwarnings("ignore:SELFDESTRUCT opcode present:DeprecationWarning")
def test_secureVerifyInclusionProof_absent_withdrawal_reverts(
    harness: Harness, store: ChainStore, withdrawals: tuple[bytes, list[int]]
) -> None:
    """A withdrawal never initiated: its slot's proof of absence reverts."""
    state_root, _ = withdrawals
    for never_sent in (b"\x00" * 32, b"\x99" * 32, keccak(b"forged")):
        slot = sent_messages_slot(never_sent)
        proof = get_proof(store.state_db, state_root, bytes(L2_TO_L1_MESSAGE_PASSER_ADDRESS), [slot])
        [storage] = proof.storage_proofs
        assert storage.value == 0 and storage.proof
        error = harness.error(
            "secureVerifyInclusionProof", slot.to_bytes(32, "big"), b"\x01", storage.proof, proof.storage_hash
        )
        assert error in {("PathMismatch",), ("KeyNotFound",)}, error


@pytest.mark.filterwarnings("ignore:SELFDESTRUCT opcode present:DeprecationWarning")
def test_secureVerifyInclusionProof_absent_account_reverts(
    harness: Harness, store: ChainStore, withdrawals: tuple[bytes, list[int]]
) -> None:
    state_root, _ = withdrawals
    absent = b"\xab" * 20
    proof = get_proof(store.state_db, state_root, absent, [])
    error = harness.error("secureGet", absent, proof.account_proof, state_root)
    assert error in {("PathMismatch",), ("KeyNotFound",)}, error


@pytest.mark.filterwarnings("ignore:SELFDESTRUCT opcode present:DeprecationWarning")
def test_secureVerifyInclusionProof_tampered_storage_proof_reverts(
    harness: Harness, store: ChainStore, withdrawals: tuple[bytes, list[int]]
) -> None:
    state_root, slots = withdrawals
    proof = get_proof(store.state_db, state_root, bytes(L2_TO_L1_MESSAGE_PASSER_ADDRESS), slots[:2])
    root = proof.storage_hash
    first, second = proof.storage_proofs
    key = first.key.to_bytes(32, "big")
    nodes = first.proof
    assert len(nodes) >= 2

    def verify_error(candidate: list[bytes], at_root: bytes = root, at_key: bytes = key) -> tuple[Any, ...]:
        return harness.error("secureVerifyInclusionProof", at_key, b"\x01", candidate, at_root)

    for index, node in enumerate(nodes):
        for position in (0, len(node) // 2, len(node) - 1):
            tampered = list(nodes)
            tampered[index] = node[:position] + bytes([node[position] ^ 0x80]) + node[position + 1 :]
            assert verify_error(tampered) == ("InvalidNodeHash", index)
    assert verify_error(nodes, at_root=state_root) == ("InvalidNodeHash", 0)
    assert verify_error(nodes[:-1]) == ("ProofTooShort",)
    assert verify_error([*nodes, nodes[-1]]) == ("ProofTooLong",)
    assert verify_error([nodes[1], nodes[0], *nodes[2:]]) == ("InvalidNodeHash", 0)
    assert verify_error([]) == ("EmptyProof",)
    # The other withdrawal's key with this proof, and the unhashed-key mistake
    # (passing keccak(slot), which the library hashes again).
    assert verify_error(nodes, at_key=second.key.to_bytes(32, "big"))[0] in {
        "InvalidNodeHash",
        "KeyNotFound",
        "PathMismatch",
    }
    assert verify_error(nodes, at_key=keccak(key))[0] in {"InvalidNodeHash", "KeyNotFound", "PathMismatch"}


# --- gas -----------------------------------------------------------------------------------


def synthetic_storage_proof(slot: bytes, value: bytes, depth: int, seed: int) -> tuple[bytes, list[bytes]]:
    """A storage proof of `depth` nodes as a large contract's storage trie has
    near the top: depth - 1 full branches (16 hashed children), then the leaf.
    The siblings are random hashes of nodes the proof does not need.
    Returns (root, proof)."""
    rng = random.Random(seed)
    path = nibbles_of(keccak(slot))
    node = rlp.encode([hex_prefix(path[depth - 1 :], leaf=True), rlp.encode(int.from_bytes(value, "big"))])
    assert len(node) >= 32
    proof = [node]
    for level in reversed(range(depth - 1)):
        children: dict[int, Any] = {i: rng.randbytes(32) for i in range(16)}
        children[path[level]] = keccak(node)
        node = rlp.encode(_branch(children))
        proof.insert(0, node)
    return keccak(node), proof


def test_secureVerifyInclusionProof_gas_by_depth_succeeds(
    harness: Harness, record_property: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    slot = sent_messages_slot(keccak(b"a withdrawal")).to_bytes(32, "big")
    lines = ["secureVerifyInclusionProof gas, storage proof of sentMessages[hash] = true:"]
    for depth in range(1, 9):
        root, proof = synthetic_storage_proof(slot, b"\x01", depth, seed=depth)
        # An independent reader agrees that this is a valid proof.
        assert HexaryTrie.get_from_proof(root, keccak(slot), [rlp.decode(n) for n in proof]) == b"\x01"
        valid, library_gas = harness.call("measureSecureVerifyInclusionProof", slot, b"\x01", proof, root)
        assert valid is True
        call_gas = harness.contract.functions.secureVerifyInclusionProof(
            slot, b"\x01", proof, root
        ).estimate_gas()
        size = sum(len(node) for node in proof)
        lines.append(
            f"  depth {depth}: {library_gas:>7,} gas in the library, {call_gas:>7,} for the whole "
            f"transaction ({size:,} proof bytes)"
        )
        record_property(f"gas_depth_{depth}", library_gas)
        # Budget for the portal: a deep proof stays well within a withdrawal's gas.
    with capsys.disabled():
        print("\n" + "\n".join(lines))
