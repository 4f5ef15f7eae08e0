"""A service's export part split into chunks that each fit one broker record (PRV-1)."""

from __future__ import annotations

import orjson
import pytest

from kernel.export import chunked

pytestmark = pytest.mark.unit


def _value(i: int, size: int = 100) -> dict[str, object]:
    return {"field": "phone", "value": f"{i:06d}" + "x" * size}


def test_a_small_part_is_one_chunk_and_nothing_held_is_one_empty_chunk() -> None:
    content = {"contact": [_value(1)], "identity": [_value(2)]}
    assert chunked(content) == [content]
    assert chunked({}) == [{}]


def test_a_large_part_is_split_under_the_limit_keeping_every_value_in_order() -> None:
    content = {"usage": [_value(i) for i in range(300)],
               "contact": [_value(i) for i in range(300, 400)]}
    pieces = chunked(content, limit=4096)
    assert len(pieces) > 5
    for piece in pieces:
        assert sum(len(orjson.dumps(v)) for vs in piece.values() for v in vs) <= 4096
    joined: dict[str, list[object]] = {}
    for piece in pieces:
        for category, values in piece.items():
            joined.setdefault(category, []).extend(values)
    assert joined == content


def test_a_value_larger_than_the_limit_has_a_chunk_of_its_own() -> None:
    big = _value(1, size=10_000)
    pieces = chunked({"listings": [_value(0), big, _value(2)]}, limit=4096)
    assert pieces == [{"listings": [_value(0)]}, {"listings": [big]},
                      {"listings": [_value(2)]}]
