"""Assume caches: in-memory PV and PVC versions the scheduler has decided on but not written.

Contract (upstream volumebinding assume_cache.go over util/assumecache):
* ``get(key)`` is the latest view: the assumed object when there is one, else the informer's.
  An assumed object is dropped as soon as the informer holds a strictly newer resourceVersion
  of that object (the API caught up, or someone else changed it), or the object was deleted.
  Upstream applies that rule when informer events arrive; here it is applied when the entry is
  read, which gives the same answers because nothing reads the cache between the two.
* ``assume(obj)`` fails when the object is unknown or older than the latest view.
* ``restore(key)`` forgets an assumption (Unreserve, failed binds); it is idempotent.
* ``get_api(key)`` is the informer's object, ignoring assumptions (PreBind's checks).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from pyscheduler.model.meta import ObjectMeta
from pyscheduler.model.storage import (
    PersistentVolume,
    PersistentVolumeClaim,
    StorageListers,
    resource_version,
)

Obj = TypeVar("Obj", PersistentVolume, PersistentVolumeClaim)


class AssumeError(Exception):
    pass


def _meta_key(meta: ObjectMeta) -> str:
    return f"{meta.namespace}/{meta.name}" if meta.namespace else meta.name


class AssumeCache(Generic[Obj]):
    __slots__ = ("_assumed", "_get_api", "description")

    _get_api: Callable[[str], Obj | None]
    _assumed: dict[str, Obj]

    def __init__(self, description: str, get_api: Callable[[str], Obj | None]) -> None:
        self.description = description
        self._get_api = get_api
        self._assumed: dict[str, Obj] = {}

    def get_api(self, key: str) -> Obj | None:
        return self._get_api(key)

    def get(self, key: str) -> Obj | None:
        api = self._get_api(key)
        assumed = self._assumed.get(key)
        if assumed is None:
            return api
        if api is None or resource_version(api.metadata) > resource_version(assumed.metadata):
            del self._assumed[key]
            return api
        return assumed

    def latest(self, api: Obj) -> Obj:
        """The latest view of an object the caller just read from the informer."""
        key = _meta_key(api.metadata)
        assumed = self._assumed.get(key)
        if assumed is None:
            return api
        if resource_version(api.metadata) > resource_version(assumed.metadata):
            del self._assumed[key]
            return api
        return assumed

    def assume(self, obj: Obj) -> None:
        key = _meta_key(obj.metadata)
        stored = self.get(key)
        if stored is None:
            raise AssumeError(f"{self.description} {key!r} not found")
        new_version = resource_version(obj.metadata)
        stored_version = resource_version(stored.metadata)
        if new_version < stored_version:
            raise AssumeError(f"{self.description} {key!r} is out of sync (stored: "
                              f"{stored_version}, assume: {new_version})")
        self._assumed[key] = obj

    def restore(self, key: str) -> None:
        self._assumed.pop(key, None)

    def is_assumed(self, key: str) -> bool:
        return self.get(key) is not None and key in self._assumed


def pv_cache(listers: StorageListers) -> AssumeCache[PersistentVolume]:
    return AssumeCache("PersistentVolume", listers.pv)


def pvc_cache(listers: StorageListers) -> AssumeCache[PersistentVolumeClaim]:
    def get(key: str) -> PersistentVolumeClaim | None:
        ns, _, name = key.partition("/")
        return listers.pvc(ns, name)

    return AssumeCache("PersistentVolumeClaim", get)
