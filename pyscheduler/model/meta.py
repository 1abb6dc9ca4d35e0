"""Object metadata shared by every decoded Kubernetes object.

Contract: these are *partial* typed schemas (msgspec Structs). They hold only the fields the
scheduler reads; every other field in the JSON is ignored, so newer API versions with extra
fields decode fine. Decoded objects are treated as immutable after decode: code that needs a
changed object builds a new one (``msgspec.structs.replace``), it never mutates a shared one,
because the same instance lives in the informer's indexer and in handler arguments.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import msgspec


class K8sStruct(msgspec.Struct, rename="camel", omit_defaults=True, gc=False):
    """Base of every partial schema: camelCase JSON names, defaults omitted when encoding.

    gc=False keeps the garbage collector from tracking instances: with 100k pods cached that
    saves memory and GC pause time. It is safe because decoded API objects are trees and we
    never make them point back at their owners (no reference cycles).
    """


class K8sLeaf(K8sStruct):
    """A struct holding only scalars and containers of scalars (kept as a marker)."""


class OwnerReference(K8sLeaf):
    api_version: str = ""
    kind: str = ""
    name: str = ""
    uid: str = ""
    controller: bool | None = None


class ObjectMeta(K8sStruct):
    name: str = ""
    namespace: str = ""
    uid: str = ""
    resource_version: str = ""
    generation: int = 0
    # RFC 3339 strings: parsing to datetime is deferred to the few places that compare times.
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    owner_references: list[OwnerReference] = []


class ListMeta(K8sLeaf):
    resource_version: str = ""
    # `continue` is a Python keyword, hence the explicit rename.
    continue_: str = msgspec.field(default="", name="continue")
    remaining_item_count: int | None = None


def object_key(meta: ObjectMeta) -> str:
    """client-go's MetaNamespaceKeyFunc: "ns/name", or "name" for cluster-scoped objects."""
    return f"{meta.namespace}/{meta.name}" if meta.namespace else meta.name


# Python's fromisoformat takes at most microseconds; the API (and metrics-server) may write
# nanoseconds.
_FRACTION = re.compile(r"\.(\d{6})\d+")


def format_rfc3339(ts: float, *, micro: bool = False) -> str:
    """``ts`` (epoch seconds) as the API writes a time: metav1.Time (whole seconds, UTC), or
    metav1.MicroTime with ``micro``."""
    dt = datetime.fromtimestamp(ts, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")


def rfc3339_seconds(text: str) -> float:
    """Epoch seconds of an RFC 3339 time as the API writes it ("Z" or an offset, fractions up
    to nanoseconds); ValueError when it is not one."""
    s = _FRACTION.sub(r".\1", text.strip())
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    return datetime.fromisoformat(s).timestamp()
