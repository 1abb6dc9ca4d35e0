"""Validation of a KubeSchedulerConfiguration, with upstream-style field-path errors.

Contract:
* Every check appends messages to a list instead of raising, so one load reports *all* problems
  at once (upstream aggregates too). The loader raises ``ConfigError(errors)`` at the end.
* Messages follow apimachinery's ``field.Error`` rendering: ``<path>: <Type>: <detail>``, e.g.
  ``profiles[0].plugins.score.enabled[1].weight: Invalid value: 0: must be a positive integer``,
  ``profiles[1].schedulerName: Duplicate value: "x"``, ``parallelism: Required value``.
  Values render like JSON (strings quoted). Paths are the ones the user wrote (indexes into the
  user's own lists, before defaults are merged in).
* The rules are upstream's (pkg/scheduler/apis/config/validation/validation.go, component-base's
  leader-election/client-connection validation, and the checks upstream's framework makes when
  it builds a profile), plus pyscheduler's stricter ones, each marked "departure" below and
  listed in docs/CONFIGURATION.md.
* Plugin args are validated by the args type itself: an args instance with a ``validate()`` (or
  ``validate_args()``) method raising ``ValueError``. The errors are the exception's ``errors``
  list when it has one (``pyscheduler.plugins.validation.ArgsError``), else the lines of its
  message; one that starts with a field path (``scoringStrategy.type: ...``) is prefixed with
  the pluginConfig entry's path (``profiles[0].pluginConfig[0].args.scoringStrategy.type:``).
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyscheduler.config import defaults
from pyscheduler.config.types import API_VERSION, KIND, KubeSchedulerConfiguration, PluginSet

if TYPE_CHECKING:
    from pyscheduler.config.types import KubeSchedulerProfile, RegisteredPlugin

@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem, as upstream's field.Error: the field's path ("" when the problem is the
    document as a whole, e.g. bad YAML) and the whole one-line message naming it."""

    field: str
    message: str

    def __str__(self) -> str:
        return self.message


_ERROR_TYPES = ("Invalid value", "Required value", "Duplicate value", "Unsupported value",
                "Forbidden", "Not found", "Too many", "Too long", "Internal error")
_PATH_MSG = re.compile(r"^(?P<path>[A-Za-z_<][^\s:]*): (?:" + "|".join(_ERROR_TYPES) + ")")
_UNKNOWN_MSG = re.compile(r'^unknown field (?P<path>"(?:[^"\\]|\\.)*")')


def field_error(message: str) -> FieldError:
    """The FieldError of one rendered message (the path is read back from its start)."""
    m = _PATH_MSG.match(message)
    if m:
        return FieldError(m.group("path"), message)
    m = _UNKNOWN_MSG.match(message)
    if m:
        try:
            return FieldError(str(json.loads(m.group("path"))), message)
        except ValueError:
            pass
    return FieldError("", message)


class ConfigError(ValueError):
    """An invalid configuration; ``errors`` holds every problem found, one message each.

    Raised by ``parse_config``/``load_config`` before anything is applied: a caller that hot-swaps
    configurations keeps its last good one when it catches this.
    """

    def __init__(self, errors: Iterable[str]) -> None:
        self.errors: list[str] = list(errors) or ["invalid configuration"]
        # upstream's utilerrors.Aggregate rendering: one error as is, several as "[a, b]"
        if len(self.errors) == 1:
            msg = self.errors[0]
        else:
            msg = "[" + ", ".join(self.errors) + "]"
        super().__init__(msg)

    @property
    def field_errors(self) -> list[FieldError]:
        """Every problem with the path of the field it concerns."""
        return [field_error(e) for e in self.errors]


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate ``name`` most likely misspells (difflib), or None."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.75)
    if not close:
        lowered = {c.lower(): c for c in candidates}
        hit = lowered.get(name.lower())
        return hit
    return close[0]


# ---- field.Error rendering ------------------------------------------------------------------
def render(value: Any) -> str:
    """A value as apimachinery prints it in errors (JSON-like, strings quoted), kept short."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        out = json.dumps(value, ensure_ascii=False)
    else:
        try:
            out = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
        except (TypeError, ValueError, RecursionError):
            out = repr(value)
    return out if len(out) <= 200 else out[:197] + "..."


def invalid(path: str, value: Any, detail: str) -> str:
    return f"{path}: Invalid value: {render(value)}: {detail}"


def required(path: str, detail: str = "") -> str:
    return f"{path}: Required value" + (f": {detail}" if detail else "")


def duplicate(path: str, value: Any) -> str:
    return f"{path}: Duplicate value: {render(value)}"


def not_supported(path: str, value: Any, supported: Iterable[str]) -> str:
    values = ", ".join(render(s) for s in supported)
    return f"{path}: Unsupported value: {render(value)}: supported values: {values}"


def forbidden(path: str, detail: str) -> str:
    return f"{path}: Forbidden: {detail}"


def unknown_field(path: str, did_you_mean: str | None = None) -> str:
    # upstream's strict decoder: `strict decoding error: unknown field "profiles[0].foo"`
    hint = f" (did you mean {render(did_you_mean)}?)" if did_you_mean else ""
    return f"unknown field {render(path)}{hint}"


# ---- document-level checks ------------------------------------------------------------------
# apiVersions upstream served before v1 (all removed from kube-scheduler by v1.29).
OLDER_API_VERSIONS = tuple(f"kubescheduler.config.k8s.io/{v}"
                           for v in ("v1alpha1", "v1alpha2", "v1beta1", "v1beta2", "v1beta3"))


def validate_raw_header(raw: Mapping[str, Any]) -> list[str]:
    """Problems that make the rest of the document meaningless to check: an older apiVersion of
    KubeSchedulerConfiguration, or a ConfigMap where the configuration itself was expected."""
    api, kind = raw.get("apiVersion"), raw.get("kind")
    if kind == "ConfigMap":
        keys = sorted(str(k) for k in (raw.get("data") or {}) if isinstance(raw.get("data"), dict))
        inside = f" (its data holds {', '.join(render(k) for k in keys)})" if keys else ""
        return [not_supported("kind", kind, [KIND]) + f": this is a ConfigMap{inside}; pass it "
                "with --config-map NAMESPACE/NAME, or pass the KubeSchedulerConfiguration it "
                "holds as the --config file"]
    if isinstance(api, str) and api in OLDER_API_VERSIONS:
        version = api.rsplit("/", 1)[1]
        return [not_supported("apiVersion", api, [API_VERSION]) + f": {version} is no longer "
                f"supported (kube-scheduler v1.37 reads only v1 too); convert the file to "
                f"{API_VERSION}, see docs/CONFIGURATION.md"]
    return []


def validate_header(doc: KubeSchedulerConfiguration) -> list[str]:
    errs: list[str] = []
    if not doc.api_version:
        errs.append(required("apiVersion", f"must be {render(API_VERSION)}"))
    elif doc.api_version != API_VERSION:
        errs.append(not_supported("apiVersion", doc.api_version, [API_VERSION]))
    if not doc.kind:
        errs.append(required("kind", f"must be {render(KIND)}"))
    elif doc.kind != KIND:
        errs.append(not_supported("kind", doc.kind, [KIND]))
    return errs


def validate_percentage(path: str, value: int | None) -> list[str]:
    if value is not None and not 0 <= value <= 100:
        return [invalid(path, value, "not in valid range [0-100]")]
    return []


def validate_top_level(
    doc: KubeSchedulerConfiguration, parallelism: int, initial_backoff: int, max_backoff: int
) -> list[str]:
    """Upstream ValidateKubeSchedulerConfiguration's scalar checks, on defaulted values."""
    errs: list[str] = []
    if parallelism <= 0:
        errs.append(invalid("parallelism", parallelism,
                            "should be an integer value greater than zero"))
    errs += validate_percentage("percentageOfNodesToScore", doc.percentage_of_nodes_to_score)
    if initial_backoff <= 0:
        errs.append(invalid("podInitialBackoffSeconds", initial_backoff, "must be greater than 0"))
    if max_backoff < initial_backoff:
        errs.append(invalid("podMaxBackoffSeconds", max_backoff,
                            "must be greater than or equal to PodInitialBackoffSeconds"))
    if doc.extenders:
        errs.append(forbidden("extenders", "scheduler extenders are not supported by pyscheduler"))
    if doc.percentage_of_placements_to_score is not None:
        errs.append(forbidden("percentageOfPlacementsToScore",
                              "workload (PodGroup placement) scheduling is not supported by "
                              "pyscheduler"))
    ext = doc.pyscheduler
    if ext is not None and ext.preemption is not None:
        names = ext.preemption.allowed_scheduler_names
        path = "pyscheduler.preemption.allowedSchedulerNames"
        if names is not None:
            seen: set[str] = set()
            for i, name in enumerate(names):
                if not name:
                    errs.append(required(f"{path}[{i}]"))
                elif name in seen:
                    errs.append(duplicate(f"{path}[{i}]", name))
                elif name == defaults.PREEMPTION_ANY_SCHEDULER and len(names) > 1:
                    # "*" already allows everyone: other entries would suggest a restriction
                    errs.append(invalid(f"{path}[{i}]", name, "must be the only entry"))
                seen.add(name)
    return errs


def validate_leader_election(
    leader_elect: bool, lease: float, renew: float, retry: float,
    resource_lock: str, resource_name: str, resource_namespace: str,
) -> list[str]:
    """component-base ValidateLeaderElectionConfiguration plus kube-scheduler's "leases" rule."""
    path = "leaderElection"
    errs: list[str] = []
    if not leader_elect:
        return errs
    if lease <= 0:
        errs.append(invalid(f"{path}.leaseDuration", _dur(lease), "must be greater than zero"))
    if renew <= 0:
        errs.append(invalid(f"{path}.renewDeadline", _dur(renew), "must be greater than zero"))
    if retry <= 0:
        errs.append(invalid(f"{path}.retryPeriod", _dur(retry), "must be greater than zero"))
    if lease <= renew:
        errs.append(invalid(f"{path}.leaseDuration", _dur(renew),
                            "must be greater than `RenewDeadline`"))
    if resource_lock != "leases":
        errs.append(invalid(f"{path}.resourceLock", resource_lock,
                            'resourceLock value must be "leases"'))
    if not resource_namespace:
        errs.append(required(f"{path}.resourceNamespace"))
    if not resource_name:
        errs.append(required(f"{path}.resourceName"))
    return errs


def _dur(seconds: float) -> str:
    return f"{seconds:g}s"


def validate_client_connection(qps: float, burst: int) -> list[str]:
    errs: list[str] = []
    if not math.isfinite(qps):
        errs.append(invalid("clientConnection.qps", qps, "must be a finite number"))
    if burst < 0:
        errs.append(invalid("clientConnection.burst", burst, "must be non-negative"))
    return errs


# ---- profiles -------------------------------------------------------------------------------
_WEIGHTED_POINTS = ("multiPoint", "score")
_UNSUPPORTED_POINTS = (
    ("placementGenerate", "placement_generate"),
    ("placementScore", "placement_score"),
    ("placementFeasible", "placement_feasible"),
    ("podGroupPostFilter", "pod_group_post_filter"),
)


def _removed_msg() -> str:
    return (f"was invalid in version {render(API_VERSION)} "
            f"(KubeSchedulerConfiguration is version {render(API_VERSION)})")


def _not_registered(name: str, registry: Mapping[str, RegisteredPlugin] | None = None) -> str:
    if name in defaults.UPSTREAM_PLUGIN_NAMES:
        return "plugin not registered (an upstream kube-scheduler plugin pyscheduler lacks)"
    close = suggest(name, registry) if registry is not None else None
    return f"plugin not registered (did you mean {render(close)}?)" if close else (
        "plugin not registered")


def validate_plugin_set(
    path: str, point: str, ps: PluginSet, registry: Mapping[str, RegisteredPlugin]
) -> list[str]:
    errs: list[str] = []
    seen: set[str] = set()
    for j, p in enumerate(ps.enabled):
        epath = f"{path}.enabled[{j}]"
        if not p.name:
            errs.append(required(f"{epath}.name"))
            continue
        if p.name == "*":
            errs.append(invalid(epath, p.name, '"*" is only meaningful in disabled'))
        elif p.name in defaults.REMOVED_IN_V1:
            errs.append(invalid(epath, p.name, _removed_msg()))
        elif p.name not in registry:
            errs.append(invalid(epath, p.name, _not_registered(p.name, registry)))
        if p.name in seen:
            # upstream fails later, building the framework ("already registered")
            errs.append(duplicate(epath, p.name))
        seen.add(p.name)
        # Departure: upstream silently turns weight 0 into 1 (and keeps negative weights); a 0
        # is almost always an attempt to switch scoring off, which is done by disabling.
        if point in _WEIGHTED_POINTS and p.weight is not None and p.weight <= 0:
            errs.append(invalid(f"{epath}.weight", p.weight,
                                "must be a positive integer (disable the plugin to turn its "
                                "score off)"))
    for j, p in enumerate(ps.disabled):
        dpath = f"{path}.disabled[{j}]"
        if not p.name:
            errs.append(required(f"{dpath}.name"))
        elif (p.name != "*" and p.name not in registry
              and p.name not in defaults.UPSTREAM_PLUGIN_NAMES
              and p.name not in defaults.REMOVED_IN_V1):
            # Departure: upstream ignores unknown names here; a typo would silently leave the
            # default it meant to disable enabled.
            errs.append(invalid(dpath, p.name, _not_registered(p.name, registry)))
    return errs


def validate_profile(
    i: int, prof: KubeSchedulerProfile, n_profiles: int, registry: Mapping[str, RegisteredPlugin]
) -> list[str]:
    path = f"profiles[{i}]"
    errs: list[str] = []
    if prof.scheduler_name == "" or (prof.scheduler_name is None and n_profiles > 1):
        errs.append(required(f"{path}.schedulerName"))
    errs += validate_percentage(f"{path}.percentageOfNodesToScore",
                                prof.percentage_of_nodes_to_score)
    if prof.percentage_of_placements_to_score is not None:
        errs.append(forbidden(f"{path}.percentageOfPlacementsToScore",
                              "workload (PodGroup placement) scheduling is not supported by "
                              "pyscheduler"))
    if prof.plugins is not None:
        ppath = f"{path}.plugins"
        for point in (defaults.MULTI_POINT, *defaults.EXTENSION_POINTS):
            ps: PluginSet = getattr(prof.plugins, _attr(point))
            errs += validate_plugin_set(f"{ppath}.{point}", point, ps, registry)
        for wire, attr in _UNSUPPORTED_POINTS:
            ups: PluginSet | None = getattr(prof.plugins, attr)
            if ups is not None and ups.enabled:
                errs.append(forbidden(f"{ppath}.{wire}",
                                      "workload (PodGroup placement) scheduling is not "
                                      "supported by pyscheduler"))
        qs = prof.plugins.queue_sort.enabled
        if len(qs) > 1:
            errs.append(invalid(f"{ppath}.queueSort.enabled", len(qs),
                                "only one queue sort plugin can be enabled"))
    seen: set[str] = set()
    for j, pc in enumerate(prof.plugin_config):
        cpath = f"{path}.pluginConfig[{j}]"
        if not pc.name:
            errs.append(required(f"{cpath}.name"))
            continue
        if pc.name in seen:
            errs.append(duplicate(cpath, pc.name))
        seen.add(pc.name)
        if pc.name in defaults.REMOVED_IN_V1:
            errs.append(invalid(cpath, pc.name, _removed_msg()))
        elif pc.name not in registry:
            # Departure: upstream passes args of unknown plugins through unread.
            errs.append(invalid(f"{cpath}.name", pc.name, _not_registered(pc.name, registry)))
    return errs


def _attr(point: str) -> str:
    """camelCase extension point name -> snake_case Plugins attribute."""
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), point)


def validate_scheduler_names(names: list[str | None]) -> list[str]:
    errs: list[str] = []
    first: dict[str, int] = {}
    for i, name in enumerate(names):
        if not name:
            continue
        if name in first:
            errs.append(duplicate(f"profiles[{i}].schedulerName", name))
        else:
            first[name] = i
    return errs


def validate_common_queue_sort(profiles: list[KubeSchedulerProfile]) -> list[str]:
    """Upstream validateCommonQueueSort: every profile configures queueSort identically."""
    if not profiles:
        return []
    errs: list[str] = []

    def qs_of(p: KubeSchedulerProfile) -> PluginSet:
        return p.plugins.queue_sort if p.plugins is not None else PluginSet()

    def args_of(p: KubeSchedulerProfile, name: str) -> Any:
        for pc in p.plugin_config:
            if pc.name == name:
                return pc.args
        return None

    canon = qs_of(profiles[0])
    name = canon.enabled[0].name if canon.enabled else ""
    canon_args = args_of(profiles[0], name) if name else None
    for i in range(1, len(profiles)):
        cur = qs_of(profiles[i])
        if cur != canon:
            errs.append(invalid(f"profiles[{i}].plugins.queueSort", _plugin_set_value(cur),
                                "must be the same for all profiles"))
        configured = any(pc.name == name for pc in profiles[i].plugin_config)
        if name and configured and args_of(profiles[i], name) != canon_args:
            errs.append(invalid(f"profiles[{i}].pluginConfig", name,
                                "queueSort must be the same for all profiles"))
    return errs


def _plugin_set_value(ps: PluginSet) -> Any:
    return {
        "enabled": [p.name for p in ps.enabled],
        "disabled": [p.name for p in ps.disabled],
    }


# ---- plugin args ----------------------------------------------------------------------------
_LEADING_PATH = re.compile(r"^[A-Za-z_][\w\-]*(?:\[[^\]]*\]|\.[A-Za-z_][\w\-]*)*: ")


def validate_plugin_args(path: str, args: Any) -> list[str]:
    """Run the args type's own ``validate()``; errors are prefixed with ``path`` (see contract)."""
    check = getattr(args, "validate", None)
    if not callable(check):
        check = getattr(args, "validate_args", None)
    if not callable(check):
        return []
    try:
        check()
    except ValueError as err:
        # An aggregate error (pyscheduler.plugins.validation.ArgsError) lists its field errors
        # in ``errors``; otherwise each line of the message is one error.
        items = getattr(err, "errors", None)
        if isinstance(items, list | tuple) and items:
            lines = [str(e).strip() for e in items]
        else:
            lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
        if not lines:
            return [f"{path}: Invalid value: {type(err).__name__}"]
        return [f"{path}.{ln}" if _LEADING_PATH.match(ln) else f"{path}: {ln}" for ln in lines]
    except Exception as err:  # a bug in a plugin's validate() must not escape the loader
        return [f"{path}: Internal error: validating args raised {type(err).__name__}: {err}"]
    return []
