"""Watch the ConfigMap that holds the KubeSchedulerConfiguration, through kopf.

Contract: one low-level ``@kopf.on.event`` handler per watched ConfigMap. It only reads: no
finalizer, no annotation, no status (cause handlers such as on.create/on.update would annotate
the object with their progress). Every event for the named ConfigMap, the initial listing
included, is handed to the scheduler's loop as a ``ConfigChange`` with
``loop.call_soon_threadsafe``; deciding what it means (unchanged, invalid, a new profile) is the
reloader's job, on that loop (operator/reload.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import kopf

from pyscheduler.operator.change import ConfigChange

DEFAULT_KEY = "config.yaml"


def describe(namespace: str, name: str, key: str) -> str:
    """How logs name a ConfigMap source."""
    return f"ConfigMap {namespace}/{name} (key {key})"


def change_from(body: Any, namespace: str, name: str, key: str,
                deleted: bool = False) -> ConfigChange:
    """The ConfigChange a ConfigMap object (a mapping) stands for."""
    meta = body.get("metadata") or {}
    regarding = {"apiVersion": "v1", "kind": "ConfigMap", "namespace": namespace, "name": name,
                 "uid": str(meta.get("uid") or ""),
                 "resourceVersion": str(meta.get("resourceVersion") or "")}
    source = describe(namespace, name, key)
    if deleted:
        return ConfigChange(source, None, "the ConfigMap was deleted", regarding)
    data = body.get("data") or {}
    text = data.get(key) if isinstance(data, dict) else None
    if not isinstance(text, str):
        return ConfigChange(source, None, f"data[{key}]: Required value", regarding)
    return ConfigChange(source, text, "", regarding)


def watch_config_map(registry: kopf.OperatorRegistry, namespace: str, name: str, key: str,
                     loop: asyncio.AbstractEventLoop,
                     deliver: Callable[[ConfigChange], None]) -> None:
    """Register on ``registry`` a read-only handler that calls ``deliver`` on ``loop`` for
    every event of ConfigMap ``namespace/name``."""

    def is_ours(**kwargs: Any) -> bool:
        return bool(kwargs.get("name") == want_name and kwargs.get("namespace") == want_ns)

    want_ns, want_name = namespace, name

    @kopf.on.event("", "v1", "configmaps", registry=registry, when=is_ours)
    def _on_event(event: Any, body: Any, **_: Any) -> None:
        deleted = (event or {}).get("type") == "DELETED"
        change = change_from(body, want_ns, want_name, key, deleted=deleted)
        loop.call_soon_threadsafe(deliver, change)
