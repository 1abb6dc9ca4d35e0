"""Metrics of the load pipeline (pyscheduler's own: kube-scheduler has no load source)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

LOAD_METRICS_STALE_NODES = Gauge(
    "pyscheduler_load_metrics_stale_nodes",
    "Nodes whose load metrics are missing or older than staleAfterSeconds at the last poll; "
    "load-aware plugins score them by requests instead.",
    ["source"],
)
LOAD_METRICS_POLLS = Counter(
    "pyscheduler_load_metrics_polls_total",
    "Polls of a load metrics source, by result (success or error).",
    ["source", "result"],
)
