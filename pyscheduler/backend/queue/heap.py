"""An indexed binary heap (upstream pkg/scheduler/backend/heap).

Contract: items are identified by ``key(item)``; at most one item per key is stored.
``add_or_update`` inserts or replaces (and re-sifts) in O(log n); ``delete(key)`` removes in
O(log n); ``peek``/``pop`` return the item for which ``less`` holds against every other item.
The heap is not stable: items that are neither less nor greater than each other come out in
an unspecified order, so orderings that must be total should break ties themselves (upstream
PrioritySort uses the timestamp). ``less`` must not mutate the heap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class KeyedHeap(Generic[T]):
    __slots__ = ("_index", "_items", "_key", "_less")

    def __init__(self, key: Callable[[T], str], less: Callable[[T, T], bool]) -> None:
        self._key = key
        self._less = less
        self._items: list[T] = []
        # key -> position in _items; kept in step with every swap.
        self._index: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: str) -> bool:
        return key in self._index

    def __iter__(self) -> Iterator[T]:
        """Items in heap (not sorted) order; do not mutate the heap while iterating."""
        return iter(self._items)

    def get(self, key: str) -> T | None:
        """The item stored under ``key``, or None; the heap is unchanged."""
        i = self._index.get(key)
        return None if i is None else self._items[i]

    def peek(self) -> T | None:
        """The least item, or None when empty; not removed."""
        return self._items[0] if self._items else None

    def add_or_update(self, item: T) -> bool:
        """Insert ``item`` or replace the stored item with its key; True if it was new."""
        k = self._key(item)
        i = self._index.get(k)
        if i is not None:
            self._items[i] = item
            self._fix(i)
            return False
        self._items.append(item)
        self._index[k] = len(self._items) - 1
        self._up(len(self._items) - 1)
        return True

    def pop(self) -> T | None:
        """Remove and return the least item, or None when empty; O(log n)."""
        if not self._items:
            return None
        return self._remove_at(0)

    def delete(self, key: str) -> T | None:
        """Remove and return the item under ``key``, or None if absent; O(log n)."""
        i = self._index.get(key)
        return None if i is None else self._remove_at(i)

    def _remove_at(self, i: int) -> T:
        items = self._items
        item = items[i]
        last = items.pop()
        del self._index[self._key(item)]
        if i < len(items):
            items[i] = last
            self._index[self._key(last)] = i
            self._fix(i)
        return item

    def _fix(self, i: int) -> None:
        if not self._down(i):
            self._up(i)

    def _swap(self, i: int, j: int) -> None:
        items = self._items
        items[i], items[j] = items[j], items[i]
        self._index[self._key(items[i])] = i
        self._index[self._key(items[j])] = j

    def _up(self, i: int) -> None:
        items, less = self._items, self._less
        while i > 0:
            parent = (i - 1) // 2
            if not less(items[i], items[parent]):
                break
            self._swap(i, parent)
            i = parent

    def _down(self, i: int) -> bool:
        """Sift down from i; True if the item moved."""
        items, less = self._items, self._less
        n = len(items)
        start = i
        while True:
            smallest = i
            left, right = 2 * i + 1, 2 * i + 2
            if left < n and less(items[left], items[smallest]):
                smallest = left
            if right < n and less(items[right], items[smallest]):
                smallest = right
            if smallest == i:
                return i != start
            self._swap(i, smallest)
            i = smallest
