"""A bulk command pauses the garbage collector and gives it back as it found it."""

from __future__ import annotations

import gc
import weakref

import pytest

from reconciler.cli.common import few_collections


class Node:
    """Something that can sit in a reference cycle and be watched going away."""

    def __init__(self) -> None:
        self.other: Node | None = None


def test_the_collector_is_paused_inside_and_the_cycles_made_there_are_collected_after() -> None:
    assert gc.isenabled()
    with few_collections():
        assert not gc.isenabled()
        assert gc.get_freeze_count() > 0  # what was alive before is out of sight
        a, b = Node(), Node()
        a.other, b.other = b, a
        gone = weakref.ref(a)
        del a, b
    assert gc.isenabled() and gc.get_freeze_count() == 0
    gc.collect()
    assert gone() is None


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    try:
        with few_collections():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_an_error_inside_restores_the_collector() -> None:
    with pytest.raises(RuntimeError), few_collections():
        raise RuntimeError("boom")
    assert gc.isenabled() and gc.get_freeze_count() == 0
