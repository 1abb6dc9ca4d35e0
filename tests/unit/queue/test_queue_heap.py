from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from pyscheduler.backend.queue.heap import KeyedHeap


@dataclass
class Item:
    key: str
    value: int


def _heap() -> KeyedHeap[Item]:
    return KeyedHeap(lambda i: i.key, lambda a, b: a.value < b.value)


def test_pop_order_delete_and_update() -> None:
    h = _heap()
    for k, v in [("a", 5), ("b", 1), ("c", 3), ("d", 4)]:
        assert h.add_or_update(Item(k, v))
    assert len(h) == 4 and "c" in h
    assert h.delete("c") == Item("c", 3)
    assert h.delete("c") is None
    assert not h.add_or_update(Item("a", 0))  # update: moves to the front
    assert h.peek() == Item("a", 0)
    assert [h.pop(), h.pop(), h.pop(), h.pop()] == [Item("a", 0), Item("b", 1), Item("d", 4), None]


@given(st.lists(st.tuples(st.sampled_from("abcdefghij"), st.integers(-50, 50),
                          st.booleans())))
def test_matches_a_sorted_model(ops: list[tuple[str, int, bool]]) -> None:
    h = _heap()
    model: dict[str, int] = {}
    for key, value, remove in ops:
        if remove:
            got = h.delete(key)
            assert (got is None) == (key not in model)
            model.pop(key, None)
        else:
            assert h.add_or_update(Item(key, value)) == (key not in model)
            model[key] = value
        assert len(h) == len(model)
        assert {i.key: i.value for i in h} == model
    popped = []
    while (item := h.pop()) is not None:
        popped.append(item.value)
    assert popped == sorted(model.values())
