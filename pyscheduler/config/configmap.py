"""Reading a scheduler configuration from a ConfigMap: one GET, never a write.

Contract: ``read_config_map(client, "ns/name", key)`` GETs the ConfigMap and returns the text
under ``key`` (default: the only key, or ``config.yaml`` when there are several). Errors are
``ConfigMapError`` with one line naming the ConfigMap and the problem (not found, forbidden
with the verb and resource, missing key). Reused by later work (hot reload) as the single
place that turns a ConfigMap into configuration text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient

DEFAULT_KEY = "config.yaml"


class ConfigMapError(Exception):
    """The ConfigMap could not be read or holds no usable key."""


class _ConfigMap(msgspec.Struct):
    data: dict[str, str] = {}


def split_ref(ref: str) -> tuple[str, str]:
    """'namespace/name' -> (namespace, name); ConfigMapError if malformed."""
    ns, sep, name = ref.partition("/")
    if not sep or not ns or not name or "/" in name:
        raise ConfigMapError(f"--config-map {ref!r}: expected NAMESPACE/NAME")
    return ns, name


async def read_config_map(client: ApiClient, ref: str, key: str | None = None) -> str:
    """The configuration text held by ConfigMap ``ref`` (module contract)."""
    from pyscheduler.api.errors import ApiError, ForbiddenError, NotFoundError
    from pyscheduler.api.raw import request_bytes

    ns, name = split_ref(ref)
    try:
        body = await request_bytes(client, "GET", f"/api/v1/namespaces/{ns}/configmaps/{name}")
    except NotFoundError as err:
        raise ConfigMapError(f"ConfigMap {ref} not found") from err
    except ForbiddenError as err:
        raise ConfigMapError(f"cannot get configmaps in namespace {ns!r} (forbidden): "
                             f"the identity needs get on configmaps") from err
    except ApiError as err:
        raise ConfigMapError(f"ConfigMap {ref}: {err}") from err
    data = msgspec.json.decode(body, type=_ConfigMap).data
    if key is None:
        if len(data) == 1:
            return next(iter(data.values()))
        key = DEFAULT_KEY
    if key not in data:
        raise ConfigMapError(f"ConfigMap {ref} has no key {key!r} (keys: "
                             f"{', '.join(sorted(data)) or 'none'})")
    return data[key]
