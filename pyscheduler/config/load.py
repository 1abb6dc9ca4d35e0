"""Loading a KubeSchedulerConfiguration into the resolved structure the scheduler runs on.

Contract:
* ``parse_config(yaml_text, plugins=...)`` is pure: it reads the plugin registry but changes
  nothing, and it either returns a complete ``SchedulerConfig`` or raises ``ConfigError``
  listing every problem found. Nothing is ever partially applied, so a caller that hot-swaps
  configurations (the ConfigMap watcher) keeps running on its last good config when it
  catches ``ConfigError``. No other exception escapes, whatever the input text.
* ``load_config(text_or_path)`` is ``parse_config`` on a file's contents or on YAML text.
* Resolution follows upstream v1: defaults are applied (defaults.py), each profile's plugins are
  merged with the defaults (upstream mergePlugins), every ``pluginConfig[].args`` is decoded
  strictly into its plugin's ``args_type`` and validated, and every enabled plugin without a
  pluginConfig entry gets ``args_type()`` (None for plugins without args).
* ``plugins`` is the registry the command composed (in-tree plus out-of-tree; see
  framework/registry.py). This package imports neither the framework nor any plugin: it reads a
  registry entry only through ``RegisteredPlugin``; ``plugins`` is required.
* multiPoint is expanded later, against the plugin instances, by framework/multipoint.py
  (upstream expandMultiPointPlugins in framework/runtime).
* Departures from upstream are marked "departure" and listed in docs/CONFIGURATION.md.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pyscheduler.config import defaults, validation
from pyscheduler.config._decode import convert_checked, load_yaml, parse_duration
from pyscheduler.config.defaults import Entry, MergedPlugins, MergedSet
from pyscheduler.config.types import (
    KubeSchedulerConfiguration,
    KubeSchedulerProfile,
    PluginSet,
    RegisteredPlugin,
)
from pyscheduler.config.validation import ConfigError, forbidden, invalid, required


# ---- resolved structure ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LeaderElection:
    leader_elect: bool = defaults.DEFAULT_LEADER_ELECT
    lease_duration_seconds: float = defaults.DEFAULT_LEASE_DURATION_SECONDS
    renew_deadline_seconds: float = defaults.DEFAULT_RENEW_DEADLINE_SECONDS
    retry_period_seconds: float = defaults.DEFAULT_RETRY_PERIOD_SECONDS
    resource_lock: str = defaults.DEFAULT_RESOURCE_LOCK
    resource_name: str = defaults.DEFAULT_RESOURCE_NAME
    resource_namespace: str = defaults.DEFAULT_RESOURCE_NAMESPACE


@dataclass(frozen=True, slots=True)
class ClientConnection:
    kubeconfig: str = ""
    # client-go semantics: qps < 0 disables client-side rate limiting
    qps: float = defaults.DEFAULT_QPS
    burst: int = defaults.DEFAULT_BURST


@dataclass(frozen=True, slots=True)
class ProfileConfig:
    """One profile, resolved; framework.multipoint.expand turns it into per-point plugin lists.

    * ``plugin_names``: every plugin to instantiate, in first-appearance order (multiPoint, then
      the specific points).
    * ``args``: plugin name -> decoded args instance (``args_type``), or None for plugins that
      take none; covers ``plugin_names`` and every pluginConfig entry.
    * ``specs``: the PluginSpec each name resolved to when the profile was loaded.
    * ``score_weights``: plugin name -> weight for every plugin that could score (upstream
      getScoreWeights: a specific score entry wins over multiPoint; unset means 1).
    * ``plugins``: the merged plugin sets (multiPoint and each extension point).
    """

    index: int
    scheduler_name: str
    percentage_of_nodes_to_score: int | None
    plugins: MergedPlugins
    plugin_names: tuple[str, ...]
    score_weights: Mapping[str, int]
    args: Mapping[str, Any]
    specs: Mapping[str, RegisteredPlugin]

    @property
    def multi_point(self) -> tuple[str, ...]:
        """Names enabled through multiPoint, in order (before expansion)."""
        return tuple(self.plugins.get(defaults.MULTI_POINT).enabled_names())

    def enabled_at(self, point: str) -> tuple[str, ...]:
        """Names enabled explicitly at one extension point (before multiPoint expansion)."""
        return tuple(self.plugins.get(point).enabled_names())


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    """A whole configuration, resolved. ``source`` is the document as decoded (pre-defaults)."""

    parallelism: int
    leader_election: LeaderElection
    client_connection: ClientConnection
    # global value; each profile carries its effective one
    percentage_of_nodes_to_score: int | None
    pod_initial_backoff_seconds: int
    pod_max_backoff_seconds: int
    profiles: tuple[ProfileConfig, ...]
    # pyscheduler extension (courtesy): schedulerNames whose pods preemption may evict, always
    # including every profile's; None = any pod (upstream behaviour, allowedSchedulerNames ["*"])
    preemption_allowed_scheduler_names: frozenset[str] | None
    delay_cache_until_active: bool
    source: KubeSchedulerConfiguration = field(compare=False)

    @property
    def scheduler_names(self) -> tuple[str, ...]:
        return tuple(p.scheduler_name for p in self.profiles)

    def profile(self, scheduler_name: str) -> ProfileConfig | None:
        for p in self.profiles:
            if p.scheduler_name == scheduler_name:
                return p
        return None


# ---- entry points ---------------------------------------------------------------------------
def load_config(
    text_or_path: str | bytes | os.PathLike[str],
    *,
    plugins: Mapping[str, RegisteredPlugin],
) -> SchedulerConfig:
    """Load from a path (``os.PathLike``, or a one-line ``str`` naming an existing file or ending
    in .yaml/.yml/.json) or from YAML text; see ``parse_config``."""
    text: str | bytes
    if isinstance(text_or_path, os.PathLike) or (
        isinstance(text_or_path, str) and _looks_like_path(text_or_path)
    ):
        path = Path(text_or_path)
        try:
            text = path.read_bytes()
        except OSError as err:
            raise ConfigError([f"{path}: {err.strerror or err}"]) from None
    else:
        text = text_or_path
    return parse_config(text, plugins=plugins)


def _looks_like_path(s: str) -> bool:
    if "\n" in s or not s.strip():
        return False
    if s.endswith((".yaml", ".yml", ".json")):
        return True
    try:
        return os.path.isfile(s)
    except (OSError, ValueError):
        return False


def parse_config(
    yaml_text: str | bytes, *, plugins: Mapping[str, RegisteredPlugin]
) -> SchedulerConfig:
    """Parse, default, decode args and validate against ``plugins`` (the composed registry)."""
    raw = load_yaml(yaml_text)
    if raw is None:
        raise ConfigError(["configuration is empty: expected a KubeSchedulerConfiguration"])
    if not isinstance(raw, dict):
        raise ConfigError([f"configuration must be a YAML mapping (a KubeSchedulerConfiguration),"
                           f" got {type(raw).__name__}"])
    header = validation.validate_raw_header(raw)
    if header:
        # The wrong kind of document, or an older version of this one: that is the cause, and
        # the field-by-field errors it would produce would only hide it.
        raise ConfigError(header)
    errors: list[str] = []
    doc = convert_checked(raw, KubeSchedulerConfiguration, "", errors)
    if doc is None:
        raise ConfigError(errors)
    # Decoding problems (unknown fields, wrong types) left those fields out; the rest is
    # resolved and validated too, so one pass reports every problem.
    return resolve(doc, plugins=plugins, errors=errors)


def validate(
    text_or_path: str | bytes | os.PathLike[str], *, plugins: Mapping[str, RegisteredPlugin],
) -> list[validation.FieldError]:
    """Every problem of a configuration (file, or YAML text), each with its field path; empty
    when it loads. The reusable check behind ``run`` (and ``config validate``, hot reload)."""
    try:
        load_config(text_or_path, plugins=plugins)
    except ConfigError as err:
        return err.field_errors
    return []


def default_config(*, plugins: Mapping[str, RegisteredPlugin]) -> SchedulerConfig:
    """The configuration an empty document (just apiVersion and kind) resolves to."""
    return resolve(
        KubeSchedulerConfiguration(api_version="kubescheduler.config.k8s.io/v1",
                                   kind="KubeSchedulerConfiguration"),
        plugins=plugins,
    )


def resolve(
    doc: KubeSchedulerConfiguration, *, plugins: Mapping[str, RegisteredPlugin],
    errors: Sequence[str] = (),
) -> SchedulerConfig:
    """Defaults, merging, args decoding and validation of an already-decoded document, against
    ``plugins``: the registry the command composed (in-tree plus out-of-tree). ``errors``:
    problems already found while decoding it, reported first with the rest."""
    reg = dict(plugins)
    errors = [*errors, *validation.validate_header(doc)]

    parallelism = _or(doc.parallelism, defaults.DEFAULT_PARALLELISM)
    initial = _or(doc.pod_initial_backoff_seconds, defaults.DEFAULT_POD_INITIAL_BACKOFF_SECONDS)
    maximum = _or(doc.pod_max_backoff_seconds, defaults.DEFAULT_POD_MAX_BACKOFF_SECONDS)
    errors += validation.validate_top_level(doc, parallelism, initial, maximum)
    leader = _leader_election(doc, errors)
    client = _client_connection(doc, errors)

    profiles_in = list(doc.profiles) or [KubeSchedulerProfile()]
    names: list[str | None] = []
    for i, prof in enumerate(profiles_in):
        errors += validation.validate_profile(i, prof, len(profiles_in), reg)
        name = prof.scheduler_name
        if name is None and len(profiles_in) == 1:
            name = defaults.DEFAULT_SCHEDULER_NAME  # upstream: only with a single profile
        names.append(name)
    errors += validation.validate_scheduler_names(names)
    errors += validation.validate_common_queue_sort(profiles_in)

    profiles = tuple(
        _resolve_profile(i, prof, names[i] or "", doc, reg, errors)
        for i, prof in enumerate(profiles_in)
    )

    allowed = _preemption_allowed(doc, profiles)

    if errors:
        raise ConfigError(_dedupe(errors))
    return SchedulerConfig(
        parallelism=parallelism,
        leader_election=leader,
        client_connection=client,
        percentage_of_nodes_to_score=doc.percentage_of_nodes_to_score,
        pod_initial_backoff_seconds=initial,
        pod_max_backoff_seconds=maximum,
        profiles=profiles,
        preemption_allowed_scheduler_names=allowed,
        delay_cache_until_active=doc.delay_cache_until_active,
        source=doc,
    )


def _preemption_allowed(doc: KubeSchedulerConfiguration,
                        profiles: tuple[ProfileConfig, ...]) -> frozenset[str] | None:
    """The courtesy set: our profiles' names plus the listed ones; None when the list is ["*"]."""
    listed: list[str] = []
    if doc.pyscheduler is not None and doc.pyscheduler.preemption is not None:
        listed = doc.pyscheduler.preemption.allowed_scheduler_names or []
    if defaults.PREEMPTION_ANY_SCHEDULER in listed:
        return None
    return frozenset(p.scheduler_name for p in profiles) | frozenset(listed)


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def _dedupe(errors: list[str]) -> list[str]:
    return list(dict.fromkeys(errors))


def _leader_election(doc: KubeSchedulerConfiguration, errors: list[str]) -> LeaderElection:
    le = doc.leader_election

    def dur(wire: str, value: str | None, default: float) -> float:
        if value is None or value == "":
            return default  # upstream defaults a zero duration
        try:
            seconds = parse_duration(value)
        except ValueError as err:
            errors.append(invalid(f"leaderElection.{wire}", value, str(err)))
            return default
        return default if seconds == 0 else seconds

    out = LeaderElection(
        leader_elect=defaults.DEFAULT_LEADER_ELECT if le.leader_elect is None else le.leader_elect,
        lease_duration_seconds=dur("leaseDuration", le.lease_duration,
                                   defaults.DEFAULT_LEASE_DURATION_SECONDS),
        renew_deadline_seconds=dur("renewDeadline", le.renew_deadline,
                                   defaults.DEFAULT_RENEW_DEADLINE_SECONDS),
        retry_period_seconds=dur("retryPeriod", le.retry_period,
                                 defaults.DEFAULT_RETRY_PERIOD_SECONDS),
        resource_lock=le.resource_lock or defaults.DEFAULT_RESOURCE_LOCK,
        resource_name=le.resource_name or defaults.DEFAULT_RESOURCE_NAME,
        resource_namespace=le.resource_namespace or defaults.DEFAULT_RESOURCE_NAMESPACE,
    )
    errors += validation.validate_leader_election(
        out.leader_elect, out.lease_duration_seconds, out.renew_deadline_seconds,
        out.retry_period_seconds, out.resource_lock, out.resource_name, out.resource_namespace,
    )
    return out


def _client_connection(doc: KubeSchedulerConfiguration, errors: list[str]) -> ClientConnection:
    cc = doc.client_connection
    # upstream: a zero qps/burst means "not set" (so neither can be configured to 0)
    out = ClientConnection(
        kubeconfig=cc.kubeconfig,
        qps=cc.qps if cc.qps != 0 else defaults.DEFAULT_QPS,
        burst=cc.burst if cc.burst != 0 else defaults.DEFAULT_BURST,
    )
    errors += validation.validate_client_connection(out.qps, out.burst)
    return out


def _custom_plugins(path: str, prof: KubeSchedulerProfile) -> MergedPlugins | None:
    if prof.plugins is None:
        return None

    def conv(point: str, ps: PluginSet) -> MergedSet:
        base = f"{path}.plugins.{point}"
        return MergedSet(
            tuple(Entry(p.name, p.weight, f"{base}.enabled[{j}]")
                  for j, p in enumerate(ps.enabled)),
            tuple(Entry(p.name, None, f"{base}.disabled[{j}]")
                  for j, p in enumerate(ps.disabled)),
        )

    points = (defaults.MULTI_POINT, *defaults.EXTENSION_POINTS)
    return MergedPlugins(
        {p: conv(p, getattr(prof.plugins, validation._attr(p))) for p in points}
    )


def _resolve_profile(
    i: int,
    prof: KubeSchedulerProfile,
    name: str,
    doc: KubeSchedulerConfiguration,
    reg: dict[str, RegisteredPlugin],
    errors: list[str],
) -> ProfileConfig:
    path = f"profiles[{i}]"
    merged = defaults.merge_plugins(defaults.default_plugins(), _custom_plugins(path, prof))

    # every plugin the profile needs (upstream pluginsNeeded), in first-appearance order
    needed: dict[str, None] = {}
    for point in (defaults.MULTI_POINT, *defaults.EXTENSION_POINTS):
        for e in merged.get(point).enabled:
            needed.setdefault(e.name, None)
            if not e.path and e.name not in reg:
                # A built-in default the registry lacks: the user did not write it, so say how
                # to run without it rather than pointing at a field that does not exist.
                errors.append(invalid(f"{path}.plugins.{point}", e.name,
                                      "default plugin not registered (disable it explicitly "
                                      "to run without it)"))

    # upstream getScoreWeights over Score.Enabled + MultiPoint.Enabled: first occurrence wins,
    # an unset weight is 1
    weights: dict[str, int] = {}
    for e in (*merged.get("score").enabled, *merged.get(defaults.MULTI_POINT).enabled):
        if e.name not in weights:
            weights[e.name] = e.weight if e.weight else 1

    args = _decode_args(path, prof, needed, reg, errors)
    specs = {n: reg[n] for n in (*needed, *args) if n in reg}
    pct = prof.percentage_of_nodes_to_score
    if pct is None:
        pct = doc.percentage_of_nodes_to_score
    return ProfileConfig(
        index=i,
        scheduler_name=name,
        percentage_of_nodes_to_score=pct,
        plugins=merged,
        plugin_names=tuple(needed),
        score_weights=MappingProxyType(weights),
        args=MappingProxyType(args),
        specs=MappingProxyType(specs),
    )


_ARGS_META = ("apiVersion", "kind")


def _decode_args(
    path: str,
    prof: KubeSchedulerProfile,
    needed: Mapping[str, None],
    reg: Mapping[str, RegisteredPlugin],
    errors: list[str],
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    configured: set[str] = set()
    for j, pc in enumerate(prof.plugin_config):
        spec = reg.get(pc.name)
        if not pc.name or pc.name in configured or spec is None:
            continue  # reported by validation
        configured.add(pc.name)
        apath = f"{path}.pluginConfig[{j}].args"
        raw = dict(pc.args or {})
        kind = raw.pop("kind", None)
        raw.pop("apiVersion", None)  # out-of-tree args use their own groups: not checked
        if kind is not None and kind != f"{pc.name}Args":
            errors.append(invalid(f"{apath}.kind", kind, f"must be {pc.name}Args"))
        if spec.args_type is None:
            if raw:
                # departure: upstream hands unknown args to the plugin, which ignores them
                errors.append(forbidden(apath, f"plugin {pc.name!r} takes no args"))
            out[pc.name] = None
            continue
        value = convert_checked(raw, spec.args_type, apath, errors)
        if value is not None:
            errors += validation.validate_plugin_args(apath, value)
            out[pc.name] = value
    for name in needed:
        if name in out or name in configured:
            continue
        spec = reg.get(name)
        if spec is None:
            continue  # reported by validation
        if spec.args_type is None:
            out[name] = None
            continue
        try:
            out[name] = spec.args_type()
        except Exception as err:  # an args type without defaults: the plugin needs config
            errors.append(required(f"{path}.pluginConfig",
                                   f"plugin {name!r} needs args ({type(err).__name__}: {err})"))
    return out
