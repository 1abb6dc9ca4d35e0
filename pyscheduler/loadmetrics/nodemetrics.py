"""metrics.k8s.io/v1beta1 NodeMetrics, decoded and written (offline-safe: msgspec only).

Contract:
* ``decode_node_metrics(body)`` reads a NodeMetricsList JSON body (metrics-server's answer)
  as node name -> ``NodeSample``; ``SourceError`` if it is not one; an item with an unparsable
  timestamp, window or quantity is skipped with a log line.
* ``sample_of(doc)`` reads one NodeMetrics object (a snapshot's, already decoded from YAML or
  JSON) and raises ValueError naming the field that is wrong.
* ``node_metrics_object(name, sample)`` is the NodeMetrics object of a sample, as metrics-server
  serves it (cpu in nanocores, memory in bytes, RFC 3339 timestamp, Go-duration window);
  ``sample_of`` reads it back to the same sample (to the microsecond and the nanocore).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
import structlog

from pyscheduler.config._decode import parse_duration
from pyscheduler.loadmetrics.types import NodeSample, SourceError
from pyscheduler.model.meta import format_rfc3339, rfc3339_seconds
from pyscheduler.model.quantity import parse_quantity

log = structlog.get_logger(__name__)

API_VERSION = "metrics.k8s.io/v1beta1"
KIND = "NodeMetrics"


class _Meta(msgspec.Struct):
    name: str = ""


class _NodeMetrics(msgspec.Struct):
    metadata: _Meta = msgspec.field(default_factory=_Meta)
    timestamp: str = ""
    window: str = ""
    usage: dict[str, str] = {}


class _NodeMetricsList(msgspec.Struct):
    items: list[_NodeMetrics] = []


_DECODER = msgspec.json.Decoder(_NodeMetricsList)


def _sample(timestamp: str, window: str, usage: Mapping[str, Any]) -> NodeSample:
    """ValueError naming the field when one is unparsable."""
    try:
        ts = rfc3339_seconds(timestamp)
    except (ValueError, TypeError) as err:
        raise ValueError(f"timestamp: not an RFC 3339 time: {timestamp!r}") from err
    try:
        win = parse_duration(window) if window else 0.0
    except (ValueError, TypeError) as err:
        raise ValueError(f"window: not a duration: {window!r}") from err
    values: dict[str, float | None] = {}
    for res, scale in (("cpu", 1000), ("memory", 1)):
        text = usage.get(res)
        try:
            values[res] = None if text is None else float(parse_quantity(str(text)) * scale)
        except ValueError as err:
            raise ValueError(f"usage.{res}: invalid quantity {text!r}") from err
    return NodeSample(cpu_milli=values["cpu"], memory_bytes=values["memory"], timestamp=ts,
                      window=win)


def decode_node_metrics(body: bytes) -> dict[str, NodeSample]:
    """A NodeMetricsList body as samples; SourceError if it is not one."""
    try:
        items = _DECODER.decode(body).items
    except msgspec.DecodeError as err:
        raise SourceError(f"undecodable NodeMetricsList: {err}") from err
    out: dict[str, NodeSample] = {}
    for item in items:
        name = item.metadata.name
        try:
            out[name] = _sample(item.timestamp, item.window, item.usage)
        except ValueError as err:
            log.warning("skipping unparsable node metrics", node=name, error=str(err))
    return out


def sample_of(doc: Mapping[str, Any]) -> NodeSample:
    """One NodeMetrics object's sample; ValueError naming the bad field."""
    usage = doc.get("usage") or {}
    if not isinstance(usage, Mapping):
        raise ValueError("usage: expected an object")
    return _sample(str(doc.get("timestamp") or ""), str(doc.get("window") or ""), usage)


def node_metrics_object(name: str, sample: NodeSample) -> dict[str, Any]:
    """The NodeMetrics object of ``sample`` (module contract)."""
    usage: dict[str, str] = {}
    if sample.cpu_milli is not None:
        usage["cpu"] = f"{round(sample.cpu_milli * 1_000_000)}n"
    if sample.memory_bytes is not None:
        usage["memory"] = str(round(sample.memory_bytes))
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": name},
            "timestamp": format_rfc3339(sample.timestamp, micro=True),
            "window": f"{sample.window:g}s", "usage": usage}
