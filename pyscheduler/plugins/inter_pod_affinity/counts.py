"""Topology-domain counts (upstream topologyToMatchedTermCount and scoreMap).

Contract: ``Counts`` is a nested dict, topology key -> topology value -> count. Entries that
reach zero are dropped, and a key with no values left is dropped too, so ``not counts`` is
upstream's ``len(map) == 0``. (Upstream's scoreMap can keep zero-valued entries; a zero adds
nothing to a node's score, so dropping them changes no outcome.)
"""

from __future__ import annotations

Counts = dict[str, dict[str, int]]
# One node's contribution: (topology key, topology value, delta) entries.
Entries = tuple[tuple[str, str, int], ...]


def add_count(counts: Counts, key: str, value: str, delta: int) -> None:
    values = counts.get(key)
    if values is None:
        if delta == 0:
            return
        counts[key] = {value: delta}
        return
    n = values.get(value, 0) + delta
    if n:
        values[value] = n
    else:
        values.pop(value, None)
        if not values:
            del counts[key]


def add_entries(counts: Counts, entries: Entries, sign: int) -> None:
    for key, value, delta in entries:
        add_count(counts, key, value, sign * delta)


def copy_counts(counts: Counts) -> Counts:
    return {k: dict(vs) for k, vs in counts.items()}


def count_of(counts: Counts, key: str, value: str) -> int:
    values = counts.get(key)
    return 0 if values is None else values.get(value, 0)
