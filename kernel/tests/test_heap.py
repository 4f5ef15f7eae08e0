"""The collector's settings for long-running services (kernel.heap)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from kernel.heap import OLDER, YOUNG, collection_paused, settle_heap

pytestmark = pytest.mark.unit


@pytest.fixture
def restored() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_start_up_objects_are_frozen_and_collections_come_seldom(restored: None) -> None:
    settle_heap()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (YOUNG, *OLDER)


def test_cycles_are_still_collected(restored: None) -> None:
    """A larger young generation delays cycles; it does not keep them."""
    settle_heap()

    class Node:
        peer: object = None

    a, b = Node(), Node()
    a.peer, b.peer = b, a
    del a, b
    assert gc.collect() >= 2


def test_a_paused_collector_resumes_as_it_was() -> None:
    assert gc.isenabled()
    with collection_paused():
        assert not gc.isenabled()
        with collection_paused():  # nested: the outer pause holds
            pass
        assert not gc.isenabled()
    assert gc.isenabled()
