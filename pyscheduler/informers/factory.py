"""SharedInformerFactory: at most one informer per watched collection, started together.

Contract:
- :meth:`SharedInformerFactory.informer_for` returns the same SharedInformer for the same
  (resource, namespace, label selector, field selector); asking again with a different object
  type raises, because two consumers would then disagree about what the cache holds.
  Index functions passed on a later call are added to the existing informer.
- :meth:`start` starts every informer not yet running (call it again after adding informers);
  :meth:`shutdown` stops them all and waits until their tasks have finished.
- :meth:`wait_for_cache_sync` waits for every started informer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

from kubernetes_asyncio.client import ApiClient

from pyscheduler.api.listwatch import ListWatch
from pyscheduler.api.resources import Resource
from pyscheduler.api.types import T
from pyscheduler.informers.indexer import IndexFunc
from pyscheduler.informers.shared_informer import SharedInformer, wait_for_cache_sync

_Key = tuple[Resource, str | None, str, str]


class SharedInformerFactory:
    def __init__(self, api_client: ApiClient, *, resync_period: float | None = None) -> None:
        self.api_client = api_client
        self.resync_period = resync_period
        self._informers: dict[_Key, SharedInformer[Any]] = {}
        self._types: dict[_Key, type[Any]] = {}
        self._tasks: dict[_Key, asyncio.Task[None]] = {}

    def informer_for(
        self,
        resource: Resource,
        object_type: type[T],
        *,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        indexers: Mapping[str, IndexFunc[T]] | None = None,
    ) -> SharedInformer[T]:
        key: _Key = (resource, namespace, label_selector, field_selector)
        existing = self._informers.get(key)
        if existing is not None:
            if self._types[key] is not object_type:
                raise TypeError(
                    f"{resource.plural} already watched as {self._types[key].__name__}, "
                    f"not {object_type.__name__}"
                )
            if indexers:
                have = existing.indexer.get_indexers()
                missing = {n: f for n, f in indexers.items() if n not in have}
                existing.add_indexers(missing)
            informer: SharedInformer[T] = existing
            return informer
        list_watch = ListWatch(
            self.api_client,
            resource,
            object_type,
            namespace=namespace,
            label_selector=label_selector,
            field_selector=field_selector,
        )
        name = resource.plural if namespace is None else f"{namespace}/{resource.plural}"
        informer = SharedInformer(
            list_watch, name=name, indexers=indexers, resync_period=self.resync_period
        )
        self._informers[key] = informer
        self._types[key] = object_type
        return informer

    def start(self) -> None:
        """Start every informer that is not running yet (needs a running event loop)."""
        for key, informer in self._informers.items():
            if key not in self._tasks:
                self._tasks[key] = asyncio.create_task(
                    informer.run(), name=f"informer-{informer.name}"
                )

    async def wait_for_cache_sync(self, timeout: float | None = None) -> bool:
        started = [self._informers[key] for key in self._tasks]
        return await wait_for_cache_sync(*started, timeout=timeout)

    async def shutdown(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
