"""Thin async layer over kubernetes-asyncio: raw JSON requests, list and watch, typed errors."""

from pyscheduler.api.client import new_api_client
from pyscheduler.api.errors import (
    ApiConnectionError,
    ApiError,
    ConflictError,
    ForbiddenError,
    GoneError,
    NotFoundError,
    ServerError,
    Status,
    TooManyRequestsError,
    is_gone,
    is_retriable,
)
from pyscheduler.api.listwatch import NODES, PODS, ListerWatcher, ListWatch, Resource
from pyscheduler.api.types import EventType, HasMetadata, WatchEvent

__all__ = [
    "NODES",
    "PODS",
    "ApiConnectionError",
    "ApiError",
    "ConflictError",
    "EventType",
    "ForbiddenError",
    "GoneError",
    "HasMetadata",
    "ListWatch",
    "ListerWatcher",
    "NotFoundError",
    "Resource",
    "ServerError",
    "Status",
    "TooManyRequestsError",
    "WatchEvent",
    "is_gone",
    "is_retriable",
    "new_api_client",
]
