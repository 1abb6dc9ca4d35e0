"""Reading a live cluster, read-only, for ``dry-run --kubeconfig`` and ``snapshot``.

Contract:
* ``resources_for(config)`` is what the profile reads: pods, nodes, the listers its enabled
  plugins declare (scheduler/watched.py) and PriorityClasses (to resolve ``--pod`` specs).
* ``preflight(client, resources)`` makes one ``list`` call with ``limit=1`` per resource and
  turns the first failure into ``InputError``: "cannot list pods at the cluster scope
  (forbidden)", "cannot reach the API server at URL: ...". Only ``list`` is used; the identity
  needs get/list/watch and nothing else.
* ``load_live(client, config)`` lists through the informer layer (SharedInformerFactory, the
  same reflectors ``run`` uses), stops watching once synced, and returns the decoded objects.
* ``dump(client, resources)`` lists raw objects page by page, strips ``managedFields`` and
  returns one ``List`` document (what ``kubectl get ... -o yaml`` would print).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from pyscheduler.api.resources import NODES, PODS
from pyscheduler.api.resources import Resource as ApiResource
from pyscheduler.dryrun.snapshot import PRIORITY_CLASSES, ClusterState, InputError
from pyscheduler.model.node import Node
from pyscheduler.model.pod import Pod
from pyscheduler.scheduler.watched import WATCHED

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient

    from pyscheduler.config import SchedulerConfig

PRIORITY_CLASS_RESOURCE = ApiResource("scheduling.k8s.io/v1", PRIORITY_CLASSES, namespaced=False)
_KINDS = {"pods": ("v1", "Pod"), "nodes": ("v1", "Node")}


def resources_for(config: SchedulerConfig) -> dict[str, ApiResource]:
    """Plural -> resource, for everything the profile reads (module contract)."""
    from pyscheduler.scheduler.scheduler import needed_listers

    out = {"pods": PODS, "nodes": NODES}
    for name in sorted(needed_listers(config)):
        out[name] = WATCHED[name].api
    out[PRIORITY_CLASSES] = PRIORITY_CLASS_RESOURCE
    return out


def _host(client: ApiClient) -> str:
    return str(getattr(client.configuration, "host", "") or "")


def api_failure(err: Exception, verb: str, res: ApiResource, client: ApiClient) -> InputError:
    """The one-line error for a failed call."""
    from pyscheduler.api.errors import (
        ApiConnectionError,
        ApiError,
        ForbiddenError,
        UnauthorizedError,
    )

    if isinstance(err, ForbiddenError):
        return InputError(f"cannot {verb} {res.plural} ({res.group_version}) at the cluster "
                          f"scope: forbidden; the identity needs get, list and watch on it")
    if isinstance(err, UnauthorizedError):
        return InputError(f"the API server at {_host(client)} rejected the credentials (401)")
    if isinstance(err, ApiConnectionError):
        return InputError(f"cannot reach the API server at {_host(client)}: {err}")
    if isinstance(err, ApiError):
        return InputError(f"{verb} {res.plural} failed: {err}")
    return InputError(f"{verb} {res.plural} failed: {err!r}")


async def preflight(client: ApiClient, resources: dict[str, ApiResource]) -> None:
    """One list call per resource; InputError on the first failure (module contract)."""
    from pyscheduler.api.raw import request_bytes

    for res in resources.values():
        try:
            await request_bytes(client, "GET", res.collection_path(), query=[("limit", "1")],
                                request_timeout=30.0)
        except Exception as err:
            raise api_failure(err, "list", res, client) from err


async def list_raw(client: ApiClient, res: ApiResource) -> list[dict[str, Any]]:
    """Every object of ``res``, raw, managedFields stripped, with apiVersion and kind set."""
    from pyscheduler.api.raw import request_bytes

    items: list[dict[str, Any]] = []
    cont = ""
    while True:
        query = [("limit", "500")] + ([("continue", cont)] if cont else [])
        try:
            body = await request_bytes(client, "GET", res.collection_path(), query=query,
                                       request_timeout=None, read_timeout=60.0)
        except Exception as err:
            raise api_failure(err, "list", res, client) from err
        doc = msgspec.json.decode(body)
        kind = str(doc.get("kind", "")).removesuffix("List")
        for item in doc.get("items") or []:
            item.setdefault("apiVersion", res.group_version)
            item.setdefault("kind", kind)
            (item.get("metadata") or {}).pop("managedFields", None)
            items.append(item)
        cont = (doc.get("metadata") or {}).get("continue") or ""
        if not cont:
            return items


async def dump(client: ApiClient, resources: dict[str, ApiResource]) -> dict[str, Any]:
    """One List document of every object the profile needs (module contract)."""
    items: list[dict[str, Any]] = []
    for res in resources.values():
        items.extend(await list_raw(client, res))
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
            "items": items}


async def load_live(client: ApiClient, config: SchedulerConfig,
                    timeout: float = 120.0) -> ClusterState:
    """The cluster's objects, listed through the informer layer (module contract)."""
    from pyscheduler.informers.factory import SharedInformerFactory
    from pyscheduler.scheduler.scheduler import NON_TERMINAL

    resources = resources_for(config)
    await preflight(client, resources)
    factory = SharedInformerFactory(client)
    informers: dict[str, Any] = {}
    for plural, res in resources.items():
        if plural == PRIORITY_CLASSES:
            continue
        typ: type[Any] = {"pods": Pod, "nodes": Node}.get(plural) or WATCHED[plural].type
        informers[plural] = factory.informer_for(
            res, typ, field_selector=NON_TERMINAL if plural == "pods" else "")
    factory.start()
    try:
        if not await factory.wait_for_cache_sync(timeout=timeout):
            raise InputError(f"listing the cluster at {_host(client)} did not finish within "
                             f"{timeout:.0f}s")
    finally:
        await factory.shutdown()
    state = ClusterState({plural: inf.indexer.list() for plural, inf in informers.items()})
    state.priority_classes = await list_raw(client, resources[PRIORITY_CLASSES])
    return state
