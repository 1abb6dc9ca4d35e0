"""Generic wire types for list and watch responses, decoded with msgspec.

Contract:
- :class:`HasMetadata` is the only thing the informer machinery requires of an object type: a
  ``metadata: ObjectMeta`` attribute. Any msgspec Struct with that field (Pod, Node, a test
  struct) can be listed, watched, queued and indexed.
- :class:`ObjectList` decodes a list response for any such ``T``; unknown fields (``kind``,
  ``apiVersion``, fields added by newer servers) are ignored, and ``"items": null`` decodes as
  an empty list.
- A watch line is decoded in two steps: the envelope first (``type`` plus the raw bytes of
  ``object``), then the object with the schema its type calls for, so an ERROR's Status or a
  BOOKMARK's bare metadata never has to validate against ``T``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import msgspec

from pyscheduler.api.errors import Status
from pyscheduler.model.meta import ListMeta, ObjectMeta


class HasMetadata(Protocol):
    """Any API object: something with ObjectMeta."""

    @property
    def metadata(self) -> ObjectMeta: ...


T = TypeVar("T", bound=HasMetadata)
# msgspec's generic Struct needs an unbound TypeVar of its own (it resolves it at decode time).
_Item = TypeVar("_Item")


class ObjectList(msgspec.Struct, Generic[_Item]):
    """A list response: ``{"metadata": {...}, "items": [...]}``."""

    metadata: ListMeta = msgspec.field(default_factory=ListMeta)
    items: list[_Item] | None = None


class WatchEventEnvelope(msgspec.Struct, gc=False):
    """One line of a watch stream, with the object left undecoded."""

    type: str
    object: msgspec.Raw = msgspec.Raw(b"null")


class MetadataOnly(msgspec.Struct):
    """What a BOOKMARK carries that we use: metadata.resourceVersion (and annotations)."""

    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)


class EventType(enum.StrEnum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"
    BOOKMARK = "BOOKMARK"
    ERROR = "ERROR"


@dataclass(slots=True, frozen=True)
class WatchEvent(Generic[T]):
    """A decoded watch event.

    ``object`` is set for ADDED/MODIFIED/DELETED; ``status`` for ERROR; ``resource_version`` is
    the object's (or the bookmark's) metadata.resourceVersion, empty for ERROR.
    """

    type: EventType
    object: T | None = None
    resource_version: str = ""
    status: Status | None = None
