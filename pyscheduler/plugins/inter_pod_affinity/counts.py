"""Topology-domain counts (upstream topologyToMatchedTermCount and scoreMap).

Contract: ``Counts`` is a nested dict, topology key -> topology value -> count. Entries that
reach zero are dropped, and a key with no values left is dropped too, so ``not counts`` is
upstream's ``len(map) == 0``. (Upstream's scoreMap can keep zero-valued entries; a zero adds
nothing to a node's score, so dropping them changes no outcome.)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import numpy.typing as npt

Counts = dict[str, dict[str, int]]
# What readers take: a Counts, or a DomainCounts naming its values on first use.
CountsView = Mapping[str, Mapping[str, int]]
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


def copy_counts(counts: CountsView) -> Counts:
    return {k: dict(vs) for k, vs in counts.items()}


def count_of(counts: CountsView, key: str, value: str) -> int:
    values = counts.get(key)
    return 0 if values is None else values.get(value, 0)


class DomainCounts(Mapping[str, dict[str, int]]):
    """Read-only Counts over per-label-code lookup tables, each key's values named on first
    use: the batch score reads only the tables, and naming 5,000 hostname domains every cycle
    cost more than the rest of PreScore. Keys whose table is all zero are absent, as in
    Counts."""

    __slots__ = ("_built", "_luts", "_values")

    def __init__(self, luts: Mapping[str, npt.NDArray[np.int64]],
                 values: Mapping[str, Sequence[str | None]]) -> None:
        self._luts = {k: v for k, v in luts.items() if v.any()}
        self._values = values
        self._built: dict[str, dict[str, int]] = {}

    def __getitem__(self, key: str) -> dict[str, int]:
        built = self._built.get(key)
        if built is None:
            lut = self._luts[key]
            nz = np.flatnonzero(lut)
            names = self._values[key]
            # the absent code's count is zeroed by the fold, so every name here is a value
            built = dict(zip([str(names[c]) for c in nz.tolist()], lut[nz].tolist(),
                             strict=True))
            self._built[key] = built
        return built

    def __contains__(self, key: object) -> bool:
        return key in self._luts  # without naming the key's values

    def __iter__(self) -> Iterator[str]:
        return iter(self._luts)

    def __len__(self) -> int:
        return len(self._luts)
