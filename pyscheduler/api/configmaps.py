"""Read one key of a ConfigMap (the profile source of ``run --config-map`` and ``dry-run``).

Contract: ``read_config_map_key`` returns the key's text and the ConfigMap object; it raises
``ConfigSourceError`` with a one-line reason for a missing ConfigMap, a missing key, a refused
read (naming the verb and resource) or an unreachable server. Retriable API errors are retried
with backoff for up to ``deadline`` seconds.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

from pyscheduler.api.errors import (
    ApiConnectionError,
    ApiError,
    ForbiddenError,
    NotFoundError,
    is_retriable,
)

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient


class ConfigSourceError(Exception):
    """The configuration source cannot be read; the message says why, in one line."""


def parse_ref(ref: str) -> tuple[str, str]:
    """'NAMESPACE/NAME' -> (namespace, name); ValueError naming the expected form."""
    namespace, sep, name = ref.partition("/")
    if not sep or not namespace or not name or "/" in name:
        raise ValueError(f"--config-map: expected NAMESPACE/NAME, got {ref!r}")
    return namespace, name


async def read_config_map_key(client: ApiClient, namespace: str, name: str, key: str,
                              deadline: float = 30.0) -> tuple[str, dict[str, Any]]:
    """GET ConfigMap namespace/name; (data[key], the object) or ConfigSourceError."""
    # Imported here: the module's error type is caught by offline commands (dry-run
    # --snapshot), which must not load aiohttp and the Kubernetes client for it.
    from pyscheduler.api.raw import request_bytes

    path = f"/api/v1/namespaces/{namespace}/configmaps/{name}"
    give_up = time.monotonic() + deadline
    delay = 0.5
    while True:
        try:
            raw = await request_bytes(client, "GET", path, request_timeout=15.0)
            break
        except NotFoundError:
            raise ConfigSourceError(f"ConfigMap {namespace}/{name}: not found") from None
        except ForbiddenError:
            raise ConfigSourceError(
                f"ConfigMap {namespace}/{name}: forbidden: cannot get resource "
                f"\"configmaps\" in namespace \"{namespace}\"") from None
        except ApiError as err:
            # 429, 5xx and transport errors: the server may be starting; retry until deadline.
            if not is_retriable(err) or time.monotonic() + delay > give_up:
                what = ("cannot reach the API server: " if isinstance(err, ApiConnectionError)
                        else "")
                raise ConfigSourceError(f"ConfigMap {namespace}/{name}: {what}{err}") from None
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)
    obj: dict[str, Any] = json.loads(raw)
    data = obj.get("data") or {}
    text = data.get(key) if isinstance(data, dict) else None
    if not isinstance(text, str):
        raise ConfigSourceError(
            f"ConfigMap {namespace}/{name}: data[{key}]: Required value"
            + (f" (keys: {', '.join(sorted(data))})" if data else ""))
    return text, obj
