"""A resolved configuration written back as a versioned KubeSchedulerConfiguration.

Contract: ``defaulted_document(config)`` is the document ``pyscheduler config defaults``
prints (as kube-scheduler's ``--write-config-to`` writes its defaulted configuration): every
field with its default filled in, each profile's merged plugin sets with their weights, and a
pluginConfig entry with the full args of every plugin that takes args. Parsing it back resolves
to an equal configuration, and encoding that again gives the same document.
"""

from __future__ import annotations

from typing import Any

import msgspec

from pyscheduler.config import defaults
from pyscheduler.config.load import LeaderElection, ProfileConfig, SchedulerConfig
from pyscheduler.config.types import API_VERSION, KIND


def _go_duration(seconds: float) -> str:
    """Seconds as a Go duration string ("15s", "1.5s", "2m0s" is written as "120s")."""
    return f"{seconds:g}s"


def full_builtins(value: Any) -> Any:
    """JSON-ready builtins of ``value``, msgspec Structs with every set field (defaults too)
    under their wire names."""
    if isinstance(value, msgspec.Struct):
        # None is "unset" in these types: leaving it out reads back the same.
        return {f.encode_name: full_builtins(getattr(value, f.name))
                for f in msgspec.structs.fields(value) if getattr(value, f.name) is not None}
    if isinstance(value, list | tuple):
        return [full_builtins(v) for v in value]
    if isinstance(value, dict):
        return {k: full_builtins(v) for k, v in value.items()}
    return msgspec.to_builtins(value)


def _leader_election(le: LeaderElection) -> dict[str, Any]:
    return {
        "leaderElect": le.leader_elect,
        "leaseDuration": _go_duration(le.lease_duration_seconds),
        "renewDeadline": _go_duration(le.renew_deadline_seconds),
        "retryPeriod": _go_duration(le.retry_period_seconds),
        "resourceLock": le.resource_lock,
        "resourceName": le.resource_name,
        "resourceNamespace": le.resource_namespace,
    }


def _plugins(prof: ProfileConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for point in (defaults.MULTI_POINT, *defaults.EXTENSION_POINTS):
        merged = prof.plugins.get(point)
        enabled = []
        for e in merged.enabled:
            entry: dict[str, Any] = {"name": e.name}
            if e.weight is not None:
                entry["weight"] = e.weight
            enabled.append(entry)
        disabled = [{"name": e.name} for e in merged.disabled]
        if enabled or disabled:
            out[point] = {k: v for k, v in (("enabled", enabled), ("disabled", disabled)) if v}
    return out


def _profile(prof: ProfileConfig) -> dict[str, Any]:
    doc: dict[str, Any] = {"schedulerName": prof.scheduler_name, "plugins": _plugins(prof)}
    if prof.percentage_of_nodes_to_score is not None:
        doc["percentageOfNodesToScore"] = prof.percentage_of_nodes_to_score
    configs = []
    for name in prof.plugin_names:
        args = prof.args.get(name)
        if args is None:
            continue
        configs.append({"name": name, "args": {"apiVersion": API_VERSION, "kind": f"{name}Args",
                                               **full_builtins(args)}})
    if configs:
        doc["pluginConfig"] = configs
    return doc


def defaulted_document(config: SchedulerConfig) -> dict[str, Any]:
    """The versioned document of ``config`` with every default written out."""
    doc: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "parallelism": config.parallelism,
        "leaderElection": _leader_election(config.leader_election),
        "clientConnection": {"kubeconfig": config.client_connection.kubeconfig,
                             "qps": config.client_connection.qps,
                             "burst": config.client_connection.burst},
        "podInitialBackoffSeconds": config.pod_initial_backoff_seconds,
        "podMaxBackoffSeconds": config.pod_max_backoff_seconds,
    }
    if config.percentage_of_nodes_to_score is not None:
        doc["percentageOfNodesToScore"] = config.percentage_of_nodes_to_score
    if config.delay_cache_until_active:
        doc["delayCacheUntilActive"] = True
    doc["profiles"] = [_profile(p) for p in config.profiles]
    allowed = config.preemption_allowed_scheduler_names
    extra = sorted((allowed or set()) - set(config.scheduler_names)) if allowed is not None else [
        defaults.PREEMPTION_ANY_SCHEDULER]
    if extra:
        doc["pyscheduler"] = {"preemption": {"allowedSchedulerNames": extra}}
    return doc
