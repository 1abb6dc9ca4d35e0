"""Checks on objects read from files (snapshots, ``--pod`` specs) before the engine sees them.

Contract:
* ``unknown_field(doc, kind)`` returns the dotted path of the first field the Kubernetes API
  does not define for that kind (per the kubernetes-asyncio models of our pinned API version),
  or None. Only kinds with a model are checked; ``metadata.labels`` and other free-form maps are
  not descended into.
* ``bad_quantity(doc, kind)`` returns ``(path, value)`` of the first resource quantity that
  does not parse (container and pod-level requests/limits, overhead; node capacity and
  allocatable), or None.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from pyscheduler.model.quantity import parse_quantity

_LIST = re.compile(r"^list\[(.+)\]$")
_DICT = re.compile(r"^dict\(str, (.+)\)$")


@cache
def _model(name: str) -> Any:
    from kubernetes_asyncio.client import models

    return getattr(models, name, None)


def _walk(value: Any, type_name: str, path: str) -> str | None:
    m = _LIST.match(type_name)
    if m:
        if not isinstance(value, list):
            return None
        for i, item in enumerate(value):
            found = _walk(item, m.group(1), f"{path}[{i}]")
            if found:
                return found
        return None
    m = _DICT.match(type_name)
    if m:
        if isinstance(value, dict):
            for k, item in value.items():
                found = _walk(item, m.group(1), f"{path}.{k}")
                if found:
                    return found
        return None
    model = _model(type_name) if type_name.startswith("V") else None
    if model is None or not isinstance(value, dict):
        return None
    by_json = {j: a for a, j in model.attribute_map.items()}
    for key, item in value.items():
        attr = by_json.get(key)
        child = f"{path}.{key}" if path else key
        if attr is None:
            return child
        found = _walk(item, model.openapi_types[attr], child)
        if found:
            return found
    return None


def unknown_field(doc: dict[str, Any], kind: str) -> str | None:
    """The first field the API does not define for ``kind`` (module contract), or None."""
    if _model(f"V1{kind}") is None:
        return None
    return _walk(doc, f"V1{kind}", "")


# Quantity strings already parsed once: a snapshot repeats a handful ("500m", "1Gi") across
# tens of thousands of pods, and parsing each again is most of the check's cost.
_GOOD: set[str] = set()


def _bad_in(m: Any, path: str) -> tuple[str, Any] | None:
    if not isinstance(m, dict):
        return None
    for k, v in m.items():
        if isinstance(v, str) and v in _GOOD:
            continue
        if not isinstance(v, (str, int, float)) or isinstance(v, bool):
            return f"{path}.{k}", v
        try:
            parse_quantity(str(v))
        except ValueError:
            return f"{path}.{k}", v
        if isinstance(v, str):
            _GOOD.add(v)
    return None


def bad_quantity(doc: dict[str, Any], kind: str) -> tuple[str, Any] | None:
    """The first unparsable resource quantity (module contract), or None."""
    if kind == "Pod":
        spec = doc.get("spec") or {}
        for group in ("containers", "initContainers"):
            for i, c in enumerate(spec.get(group) or []):
                res = (c or {}).get("resources") or {}
                for part in ("requests", "limits"):
                    bad = _bad_in(res.get(part), f"spec.{group}[{i}].resources.{part}")
                    if bad:
                        return bad
        bad = _bad_in(spec.get("overhead"), "spec.overhead")
        if bad:
            return bad
        res = spec.get("resources") or {}
        for part in ("requests", "limits"):
            bad = _bad_in(res.get(part), f"spec.resources.{part}")
            if bad:
                return bad
    elif kind == "Node":
        status = doc.get("status") or {}
        for part in ("capacity", "allocatable"):
            bad = _bad_in(status.get(part), f"status.{part}")
            if bad:
                return bad
    return None
