"""KubeSchedulerConfiguration (``kubescheduler.config.k8s.io/v1``): the versioned schema subset.

Contract:
* These Structs mirror upstream's *versioned* types (staging/src/k8s.io/kube-scheduler/config/v1
  and component-base's LeaderElection/ClientConnection configurations), camelCase on the wire.
  They describe what a user wrote: an unset optional field stays ``None`` here, so that
  defaulting (``load.py``) can apply upstream's rules that depend on "unset" versus "zero"
  (e.g. the scheduler name is only defaulted when there is exactly one profile).
* Decoding is strict like upstream's loader: unknown fields are errors (``forbid_unknown_fields``;
  ``load.py`` additionally collects *every* unknown field with its path before decoding).
* Fields upstream has but pyscheduler does not implement are still declared, so that a config
  copied from kube-scheduler gets a precise error ("not supported") or is knowingly ignored,
  instead of a generic "unknown field". Which is which is listed in docs/CONFIGURATION.md.
* pyscheduler's own options live under the top-level ``pyscheduler`` key and nowhere else, so
  every other field keeps upstream's meaning.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Protocol

import msgspec

API_VERSION = "kubescheduler.config.k8s.io/v1"
KIND = "KubeSchedulerConfiguration"


class RegisteredPlugin(Protocol):
    """What configuration resolution reads of a registry entry (framework.registry.PluginSpec):
    the config package depends on this shape only, never on the framework or a plugin."""

    @property
    def name(self) -> str: ...
    @property
    def factory(self) -> Callable[[Any, Any], Any]: ...
    @property
    def args_type(self) -> type[Any] | None: ...
    @property
    def listers(self) -> tuple[str, ...]: ...


# Upstream's int32/int64 fields: out-of-range numbers are decoding errors there too.
Int32 = Annotated[int, msgspec.Meta(ge=-(2**31), le=2**31 - 1)]
Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]


class _V1(msgspec.Struct, rename="camel", forbid_unknown_fields=True, omit_defaults=True):
    """Base: camelCase field names, strict about unknown fields, like upstream's v1 decoder."""


class Plugin(_V1):
    """v1.Plugin: a plugin name and, for Score plugins, its weight (unset = upstream's 1)."""

    name: str = ""
    weight: Int32 | None = None


class PluginSet(_V1):
    """v1.PluginSet: plugins enabled besides the defaults; defaults disabled ("*" = all)."""

    enabled: list[Plugin] = []
    disabled: list[Plugin] = []


class Plugins(_V1):
    """v1.Plugins: one PluginSet per extension point, plus multiPoint."""

    multi_point: PluginSet = msgspec.field(default_factory=PluginSet)
    pre_enqueue: PluginSet = msgspec.field(default_factory=PluginSet)
    queue_sort: PluginSet = msgspec.field(default_factory=PluginSet)
    pre_filter: PluginSet = msgspec.field(default_factory=PluginSet)
    filter: PluginSet = msgspec.field(default_factory=PluginSet)
    post_filter: PluginSet = msgspec.field(default_factory=PluginSet)
    pre_score: PluginSet = msgspec.field(default_factory=PluginSet)
    score: PluginSet = msgspec.field(default_factory=PluginSet)
    reserve: PluginSet = msgspec.field(default_factory=PluginSet)
    permit: PluginSet = msgspec.field(default_factory=PluginSet)
    pre_bind: PluginSet = msgspec.field(default_factory=PluginSet)
    bind: PluginSet = msgspec.field(default_factory=PluginSet)
    post_bind: PluginSet = msgspec.field(default_factory=PluginSet)
    # Upstream's workload (PodGroup) scheduling points, feature-gated there. Declared so that a
    # non-empty one is reported as unsupported rather than as an unknown field.
    placement_generate: PluginSet | None = None
    placement_score: PluginSet | None = None
    placement_feasible: PluginSet | None = None
    pod_group_post_filter: PluginSet | None = None


class PluginConfig(_V1):
    """v1.PluginConfig: args for one plugin, decoded later into the plugin's ``args_type``."""

    name: str = ""
    # Kept as a plain mapping here: its schema depends on the plugin, known only at load time.
    args: dict[str, Any] | None = None


class KubeSchedulerProfile(_V1):
    """v1.KubeSchedulerProfile."""

    scheduler_name: str | None = None
    percentage_of_nodes_to_score: Int32 | None = None
    percentage_of_placements_to_score: Int32 | None = None  # unsupported (workload scheduling)
    plugins: Plugins | None = None
    plugin_config: list[PluginConfig] = []


class LeaderElectionConfiguration(_V1):
    """component-base LeaderElectionConfiguration (durations are Go duration strings, "15s")."""

    leader_elect: bool | None = None
    lease_duration: str | None = None
    renew_deadline: str | None = None
    retry_period: str | None = None
    resource_lock: str = ""
    resource_name: str = ""
    resource_namespace: str = ""


class ClientConnectionConfiguration(_V1):
    """component-base ClientConnectionConfiguration."""

    kubeconfig: str = ""
    accept_content_types: str = ""
    # Accepted for compatibility and ignored: pyscheduler always speaks JSON to the API server.
    content_type: str = ""
    qps: float = 0.0
    burst: Int32 = 0


class PreemptionExtension(_V1):
    """pyscheduler extension: how DefaultPreemption treats pods placed by other schedulers."""

    # Courtesy list (on by default). Only pods whose spec.schedulerName is one of this
    # process's profiles, or is listed here, may be victims, so a secondary scheduler does not
    # evict the primary scheduler's workloads. ["*"] turns the courtesy off: any lower-priority
    # pod may be a victim whoever scheduled it (upstream behaviour).
    allowed_scheduler_names: list[str] | None = None


class PySchedulerExtensions(_V1):
    """Options that exist only in pyscheduler, kept apart from upstream's fields."""

    preemption: PreemptionExtension | None = None


class KubeSchedulerConfiguration(_V1):
    """v1.KubeSchedulerConfiguration, the subset pyscheduler reads (see docs/CONFIGURATION.md)."""

    api_version: str = ""
    kind: str = ""
    parallelism: Int32 | None = None
    leader_election: LeaderElectionConfiguration = msgspec.field(
        default_factory=LeaderElectionConfiguration
    )
    client_connection: ClientConnectionConfiguration = msgspec.field(
        default_factory=ClientConnectionConfiguration
    )
    percentage_of_nodes_to_score: Int32 | None = None
    percentage_of_placements_to_score: Int32 | None = None  # unsupported (workload scheduling)
    pod_initial_backoff_seconds: Int64 | None = None
    pod_max_backoff_seconds: Int64 | None = None
    profiles: list[KubeSchedulerProfile] = []
    # Upstream DebuggingConfiguration (inlined): accepted and ignored, pyscheduler has no pprof.
    enable_profiling: bool | None = None
    enable_contention_profiling: bool | None = None
    # Upstream's HTTP extenders: not supported; a non-empty list is a validation error.
    extenders: list[dict[str, Any]] = []
    delay_cache_until_active: bool = False
    pyscheduler: PySchedulerExtensions | None = None
