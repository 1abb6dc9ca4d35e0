"""Indexer: the informer's local cache, key -> object plus named secondary indexes.

The equivalent of client-go's threadSafeMap + Indexer, in asyncio terms.

Contract:
- Keys are client-go's MetaNamespaceKeyFunc keys ("ns/name", or "name" cluster-scoped).
  DeletedFinalStateUnknown tombstones are keyed by their recorded key, so a tombstone deletes
  exactly the entry it was made for.
- Every method is synchronous and never awaits, so in a single-threaded event loop each call is
  atomic with respect to every other task: a reader never sees a half-applied update (object
  stored but index not yet updated). That is why there are no locks, and why this class must not
  be touched from another thread (hand work to the loop with ``call_soon_threadsafe``).
- Indexes always agree with the stored objects after every call. Index functions run *before*
  anything is mutated, so an index function that raises leaves the store unchanged.
- Objects are stored and returned by reference and must be treated as immutable (see
  pyscheduler.model.meta). Lists returned are fresh lists; mutating them does not touch the store.
- Only the informer that owns an Indexer writes to it; everyone else reads.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Mapping
from typing import Generic, TypeVar

from pyscheduler.api.types import HasMetadata, T
from pyscheduler.informers.delta_fifo import DeletedFinalStateUnknown, deletion_handling_key

IndexFunc = Callable[[T], list[str]]
"""Maps an object to the index values it is filed under (zero, one or many)."""

NAMESPACE_INDEX = "namespace"
NODE_NAME_INDEX = "nodeName"

_O = TypeVar("_O", bound=HasMetadata)


def index_by_namespace(obj: HasMetadata) -> list[str]:
    """client-go's MetaNamespaceIndexFunc."""
    return [obj.metadata.namespace]


def index_by(getter: Callable[[_O], str | None]) -> IndexFunc[_O]:
    """An index on one string field; empty or None values are not indexed.

    ``index_by(lambda pod: pod.spec.node_name)`` is the scheduler's nodeName index over pods.
    """

    def index(obj: _O) -> list[str]:
        value = getter(obj)
        return [value] if value else []

    return index


class Indexer(Generic[T]):
    """A keyed store of objects with named indexes."""

    __slots__ = ("_index_funcs", "_indices", "_items")

    def __init__(self, indexers: Mapping[str, IndexFunc[T]] | None = None) -> None:
        self._items: dict[str, T] = {}
        self._index_funcs: dict[str, IndexFunc[T]] = {}
        # index name -> index value -> set of keys
        self._indices: dict[str, dict[str, set[str]]] = {}
        if indexers:
            self.add_indexers(indexers)

    # -- writes (the owning informer only) ---------------------------------------------------

    def add(self, obj: T) -> None:
        self.update(obj)

    def update(self, obj: T) -> None:
        """Store ``obj`` under its key, replacing any previous object and its index entries."""
        key = deletion_handling_key(obj)
        new_values = self._index_values(obj)
        old = self._items.get(key)
        if old is not None:
            self._remove_from_indices(key, self._index_values(old))
        self._items[key] = obj
        self._add_to_indices(key, new_values)

    def delete(self, obj: T | DeletedFinalStateUnknown[T]) -> None:
        self.delete_key(deletion_handling_key(obj))

    def delete_key(self, key: str) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self._remove_from_indices(key, self._index_values(old))

    def replace(self, objects: Iterable[T]) -> None:
        """Make the store hold exactly ``objects``, rebuilding every index."""
        items = {deletion_handling_key(obj): obj for obj in objects}
        indices: dict[str, dict[str, set[str]]] = {name: {} for name in self._index_funcs}
        for key, obj in items.items():
            for name, func in self._index_funcs.items():
                index = indices[name]
                for value in func(obj):
                    index.setdefault(value, set()).add(key)
        self._items = items
        self._indices = indices

    def add_indexers(self, indexers: Mapping[str, IndexFunc[T]]) -> None:
        """Register more index functions; they are built over the objects already stored."""
        overlap = self._index_funcs.keys() & indexers.keys()
        if overlap:
            raise ValueError(f"indexer conflict: {sorted(overlap)}")
        built: dict[str, dict[str, set[str]]] = {}
        for name, func in indexers.items():
            index: dict[str, set[str]] = {}
            for key, obj in self._items.items():
                for value in func(obj):
                    index.setdefault(value, set()).add(key)
            built[name] = index
        self._index_funcs.update(indexers)
        self._indices.update(built)

    # -- reads ---------------------------------------------------------------------------------

    def get_by_key(self, key: str) -> T | None:
        return self._items.get(key)

    def get(self, obj: T | DeletedFinalStateUnknown[T]) -> T | None:
        return self._items.get(deletion_handling_key(obj))

    def list(self) -> builtins.list[T]:
        return builtins.list(self._items.values())

    def list_keys(self) -> builtins.list[str]:
        return builtins.list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def index_keys(self, index_name: str, value: str) -> builtins.list[str]:
        """Keys of the objects filed under ``value`` in index ``index_name``."""
        return builtins.list(self._get_index(index_name).get(value, ()))

    def by_index(self, index_name: str, value: str) -> builtins.list[T]:
        """Objects filed under ``value`` in index ``index_name``."""
        items = self._items
        return [items[key] for key in self._get_index(index_name).get(value, ())]

    def index(self, index_name: str, obj: T) -> builtins.list[T]:
        """Objects sharing any index value with ``obj`` (client-go Indexer.Index)."""
        index = self._get_index(index_name)
        keys: set[str] = set()
        for value in self._index_funcs[index_name](obj):
            keys.update(index.get(value, ()))
        return [self._items[key] for key in keys]

    def list_index_func_values(self, index_name: str) -> builtins.list[str]:
        return builtins.list(self._get_index(index_name))

    def get_indexers(self) -> dict[str, IndexFunc[T]]:
        return dict(self._index_funcs)

    # -- internals -----------------------------------------------------------------------------

    def _get_index(self, index_name: str) -> dict[str, set[str]]:
        try:
            return self._indices[index_name]
        except KeyError:
            raise KeyError(f"index {index_name!r} does not exist") from None

    def _index_values(self, obj: T) -> builtins.list[tuple[str, builtins.list[str]]]:
        return [(name, func(obj)) for name, func in self._index_funcs.items()]

    def _add_to_indices(
        self, key: str, values: builtins.list[tuple[str, builtins.list[str]]]
    ) -> None:
        for name, index_values in values:
            index = self._indices[name]
            for value in index_values:
                index.setdefault(value, set()).add(key)

    def _remove_from_indices(
        self, key: str, values: builtins.list[tuple[str, builtins.list[str]]]
    ) -> None:
        for name, index_values in values:
            index = self._indices[name]
            for value in index_values:
                keys = index.get(value)
                if keys is None:
                    continue
                keys.discard(key)
                if not keys:
                    # Drop empty sets so value cardinality (e.g. one per node name) cannot leak.
                    del index[value]
