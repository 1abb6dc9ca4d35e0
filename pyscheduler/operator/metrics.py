"""Metrics of the configuration reload (pyscheduler's own: kube-scheduler cannot reload)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

CONFIG_LAST_RELOAD_SUCCESSFUL = Gauge(
    "pyscheduler_config_last_reload_successful",
    "Whether the last configuration reload attempt succeeded (1) or not (0).",
)
CONFIG_RELOADS = Counter(
    "pyscheduler_config_reloads_total",
    "Configuration reload attempts, by result (success or failure).",
    ["result"],
)
CONFIG_INFO = Gauge(
    "pyscheduler_config_info",
    "The configuration in force: 1 for its hash (sha256 of the text, first 16 hex digits).",
    ["hash"],
)
