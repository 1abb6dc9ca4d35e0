"""Reading a cluster snapshot: what ``kubectl get nodes,pods,pdb,... -A -o yaml`` prints.

Contract:
* The input is YAML or JSON: one object, a ``List`` (``items``), or several YAML documents of
  either. JSON is read with msgspec (fast: the 50,000-pod benchmark uses it), YAML with
  libyaml when available.
* Each object is decoded by its ``kind`` into the partial schema the scheduler uses (Pods,
  Nodes and every kind in scheduler/watched.py; PriorityClasses are kept as plain documents for
  resolving ``--pod`` specs). Other kinds (Deployments, Events, ...) are skipped and counted.
* ``spec.priority`` and ``spec.overhead`` are taken as written: the apiserver resolved them
  when the pods were created, and a snapshot records that.
* NodeMetrics objects (metrics.k8s.io/v1beta1, what ``kubectl get nodes.metrics.k8s.io -o
  yaml`` prints; items of a NodeMetricsList may omit their kind) are the load sample of the
  load-aware plugins: ``node_metrics`` maps node name -> NodeSample (a later object of the same
  node wins). ``captured_at`` is the time the snapshot was taken, from the List's
  ``metadata.annotations["pyscheduler.dev/captured-at"]`` (RFC 3339, written by ``pyscheduler
  snapshot``), None when absent.
* Any problem raises ``InputError`` with one line naming the file, the object (its position
  and ``Kind ns/name``) and what is wrong: bad YAML/JSON, an object without ``kind``, a field of
  the wrong type, an unparsable resource quantity; with ``strict`` (``--pod`` specs) also a
  field the API does not define.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import yaml

from pyscheduler.dryrun.podspec import bad_quantity, unknown_field
from pyscheduler.loadmetrics.nodemetrics import sample_of
from pyscheduler.loadmetrics.types import NodeSample
from pyscheduler.model.meta import rfc3339_seconds
from pyscheduler.model.node import Node
from pyscheduler.model.pod import Pod
from pyscheduler.scheduler.watched import WATCHED

PRIORITY_CLASSES = "priorityclasses"
NODE_METRICS_KIND = "NodeMetrics"
CAPTURED_AT = "pyscheduler.dev/captured-at"


class InputError(Exception):
    """Bad input (file, object, field): the one-line message says which and why."""


def plural_of(kind: str) -> str:
    """The resource plural of a kind, as the API names it (Pod -> pods, StorageClass ->
    storageclasses)."""
    low = kind.lower()
    return low + ("es" if low.endswith("s") else "s")


TYPES: dict[str, type[Any]] = {"pods": Pod, "nodes": Node,
                               **{name: w.type for name, w in WATCHED.items()}}


@dataclass(slots=True)
class ClusterState:
    """Decoded objects by resource plural, plus what the reader skipped."""

    objects: dict[str, list[Any]] = field(default_factory=dict)
    priority_classes: list[dict[str, Any]] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    node_metrics: dict[str, NodeSample] = field(default_factory=dict)
    captured_at: float | None = None

    def add(self, other: ClusterState) -> None:
        """Merge ``other`` in."""
        for k, v in other.objects.items():
            self.objects.setdefault(k, []).extend(v)
        self.priority_classes.extend(other.priority_classes)
        for k, n in other.skipped.items():
            self.skipped[k] = self.skipped.get(k, 0) + n
        self.node_metrics.update(other.node_metrics)
        if other.captured_at is not None:
            self.captured_at = other.captured_at

    def copy(self) -> ClusterState:
        """A copy whose lists and maps can be changed without changing this one's."""
        return ClusterState(dict(self.objects), list(self.priority_classes),
                            dict(self.skipped), dict(self.node_metrics), self.captured_at)


def _documents(data: bytes, source: str) -> list[Any]:
    text = data.lstrip()
    if text[:1] in (b"{", b"["):
        try:
            doc = msgspec.json.decode(data)
            return doc if isinstance(doc, list) else [doc]
        except msgspec.DecodeError:
            pass  # YAML flow style starts the same way: let the YAML reader decide
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return [d for d in yaml.load_all(data, Loader=loader) if d is not None]
    except yaml.YAMLError as err:
        raise InputError(f"{source}: not valid YAML: {' '.join(str(err).split())}") from err


def _items(docs: list[Any], source: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for d, doc in enumerate(docs):
        where = f"document {d + 1}" if len(docs) > 1 else "document"
        if not isinstance(doc, dict):
            raise InputError(f"{source}: {where}: expected an object, got "
                             f"{type(doc).__name__}")
        if doc.get("kind", "").endswith("List") and "items" in doc:
            items = doc.get("items") or []
            if not isinstance(items, list):
                raise InputError(f"{source}: {where}: items must be a list")
            # metrics.k8s.io lists (as the API serves them) leave their items' kind out.
            item_kind = "" if doc["kind"] == "List" else str(doc["kind"]).removesuffix("List")
            for i, item in enumerate(items):
                if item_kind and isinstance(item, dict) and "kind" not in item:
                    item = {**item, "kind": item_kind}
                yield f"{where} items[{i}]", item
        else:
            yield where, doc


def describe(doc: Any) -> str:
    """'Kind ns/name' (or what is known of it) for error messages."""
    if not isinstance(doc, dict):
        return type(doc).__name__
    raw = doc.get("metadata")
    meta: dict[str, Any] = raw if isinstance(raw, dict) else {}
    name = meta.get("name", "?")
    ns = meta.get("namespace")
    return f"{doc.get('kind', '?')} {ns}/{name}" if ns else f"{doc.get('kind', '?')} {name}"


def _validation_message(err: msgspec.ValidationError) -> str:
    msg = str(err)
    # msgspec says "... - at `$.spec.priority`": name the field the way kubectl would.
    if " - at `$." in msg:
        what, _, where = msg.partition(" - at `$.")
        return f"{where.rstrip('`')}: {what}"
    return msg


def decode_object(doc: Any, where: str, source: str, *,
                  strict: bool = False) -> tuple[str, Any] | None:
    """(plural, decoded object) for a known kind; None for a kind the scheduler never reads."""
    if not isinstance(doc, dict):
        raise InputError(f"{source}: {where}: expected an object, got {type(doc).__name__}")
    kind = doc.get("kind")
    if not isinstance(kind, str) or not kind:
        raise InputError(f"{source}: {where} ({describe(doc)}): missing kind")
    meta = doc.get("metadata")
    if not isinstance(meta, dict) or not meta.get("name"):
        raise InputError(f"{source}: {where} ({describe(doc)}): missing metadata.name")
    plural = plural_of(kind)
    label = f"{source}: {where} ({describe(doc)})"
    if strict:
        bad = unknown_field(doc, kind)
        if bad:
            raise InputError(f"{label}: unknown field {bad!r}")
    if plural == PRIORITY_CLASSES:
        value = doc.get("value", 0)
        if not isinstance(value, int) or isinstance(value, bool):
            raise InputError(f"{label}: value: expected an integer, got {value!r}")
        return plural, doc
    typ = TYPES.get(plural)
    if typ is None:
        return None
    q = bad_quantity(doc, kind)
    if q is not None:
        raise InputError(f"{label}: {q[0]}: invalid quantity {q[1]!r}")
    try:
        return plural, msgspec.convert(doc, typ)
    except msgspec.ValidationError as err:
        raise InputError(f"{label}: {_validation_message(err)}") from err


def _captured_at(docs: list[Any], source: str) -> float | None:
    for doc in docs:
        meta = doc.get("metadata") if isinstance(doc, dict) else None
        notes = meta.get("annotations") if isinstance(meta, dict) else None
        text = notes.get(CAPTURED_AT) if isinstance(notes, dict) else None
        if text is None:
            continue
        try:
            return rfc3339_seconds(str(text))
        except ValueError:
            raise InputError(f"{source}: metadata.annotations[{CAPTURED_AT}]: not an RFC 3339 "
                             f"time: {text!r}") from None
    return None


def load_state(data: bytes, source: str, *, strict: bool = False) -> ClusterState:
    """Decode a snapshot (or ``--pod`` specs with ``strict``); InputError on any problem."""
    state = ClusterState()
    docs = _documents(data, source)
    state.captured_at = _captured_at(docs, source)
    for where, doc in _items(docs, source):
        if isinstance(doc, dict) and doc.get("kind") == NODE_METRICS_KIND and not strict:
            name = (doc.get("metadata") or {}).get("name") if isinstance(
                doc.get("metadata"), dict) else None
            if not name:
                raise InputError(f"{source}: {where} ({describe(doc)}): missing metadata.name")
            try:
                state.node_metrics[str(name)] = sample_of(doc)
            except ValueError as err:
                raise InputError(f"{source}: {where} ({describe(doc)}): {err}") from err
            continue
        decoded = decode_object(doc, where, source, strict=strict)
        if decoded is None:
            kind = str(doc.get("kind"))
            state.skipped[kind] = state.skipped.get(kind, 0) + 1
            continue
        plural, obj = decoded
        if plural == PRIORITY_CLASSES:
            state.priority_classes.append(obj)
        else:
            state.objects.setdefault(plural, []).append(obj)
    return state


def read_file(path: str) -> bytes:
    """The file's bytes ('-' is stdin); InputError naming it when it cannot be read."""
    import sys

    try:
        if path == "-":
            return sys.stdin.buffer.read()
        with open(path, "rb") as f:
            return f.read()
    except OSError as err:
        raise InputError(f"{path}: cannot read: {err.strerror or err}") from err
