"""RFC 7386 JSON merge patch, applied in memory (what the apiserver does with
``application/merge-patch+json``): for the dry run's copy and for tests' in-memory objects."""

from __future__ import annotations

from typing import Any


def json_merge_patch(target: Any, patch: Any) -> Any:
    """``target`` with ``patch`` merged in (a null removes a key); neither input is changed."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = json_merge_patch(out.get(key), value)
    return out
