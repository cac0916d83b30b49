"""Request bodies are read as the standard library's json reads them: orjson
first, json where orjson would differ (floats, integers past 64 bits, what
orjson refuses); these tests hold the result to json.loads."""

from __future__ import annotations

import json
import math

from hypothesis import given
from hypothesis import strategies as st

from openledger_node.rpc.server import _loads

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet="0123456789abcdefxXeE.,:[]-+ ", max_size=12)
)
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner, max_size=5),
    max_leaves=25,
)


def _same(a: object, b: object) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))  # type: ignore[arg-type]
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))  # type: ignore[arg-type]
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)  # type: ignore[attr-defined,index]
    return a == b


@given(documents, st.sampled_from([None, 0, 2]))
def test_bodies_read_as_json_reads_them(document: object, indent: int | None) -> None:
    body = json.dumps(document, indent=indent).encode()
    assert _same(_loads(body), json.loads(body))


def test_floats_and_big_integers_keep_their_types() -> None:
    body = b'{"jsonrpc":"2.0","id":1.5,"params":[1e3, 18446744073709551616, "0x1e5", -0.0]}'
    value = _loads(body)
    assert _same(value, json.loads(body))
    assert type(value["id"]) is float and type(value["params"][1]) is int
