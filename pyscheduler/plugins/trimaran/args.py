"""scheduler-plugins' Trimaran args (apis/config/v1 types.go, defaults.go), with validation.

Contract:
* Field names, defaults and upstream's defaulting are scheduler-plugins': an out-of-range
  value upstream silently replaces by the default (targetUtilization <= 0, a negative
  safeVarianceMargin/Sensitivity, smoothingWindowSize <= 0, a riskLimitWeight outside [0, 1])
  is replaced here too, in ``__post_init__``, so every configuration upstream accepts is
  accepted alike.
* ``validate(path)`` rejects what upstream rejects when building the plugin (an unknown
  ``metricProvider.type``, an unparsable ``defaultRequestsMultiplier``) and, as departures
  (docs/CONFIGURATION.md), what would make the formulas meaningless or what we cannot serve:
  ``watcherAddress`` (no load-watcher client), type SignalFx, a Prometheus without address,
  ``targetUtilization`` above 100, a negative or non-finite multiplier, and our own
  ``metricProvider`` fields out of range. Errors carry field paths.
* ``metricProvider`` also takes pyscheduler's fields: ``pollIntervalSeconds`` (30),
  ``staleAfterSeconds`` (0: three intervals), ``historySize`` (5), ``nodeLabel`` and
  ``queries.cpu`` / ``queries.memory`` (Prometheus only).
"""

from __future__ import annotations

import math

import msgspec

from pyscheduler.loadmetrics import types as lt
from pyscheduler.model.quantity import CPU, MEMORY, to_int
from pyscheduler.plugins import validation as v

DEFAULT_REQUESTS_MILLI_CORES = 1000
DEFAULT_REQUESTS_MULTIPLIER = "1.5"
DEFAULT_TARGET_UTILIZATION_PERCENT = 40
DEFAULT_SAFE_VARIANCE_MARGIN = 1.0
DEFAULT_SAFE_VARIANCE_SENSITIVITY = 1.0
DEFAULT_SMOOTHING_WINDOW_SIZE = 5
DEFAULT_RISK_LIMIT_WEIGHT = 0.5
SUPPORTED_PROVIDERS = (lt.KUBERNETES_METRICS_SERVER, lt.PROMETHEUS)


class PrometheusQueries(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True):
    """pyscheduler: the instant query per resource (absolute usage: cores, bytes)."""

    cpu: str = lt.DEFAULT_PROMETHEUS_CPU_QUERY
    memory: str = lt.DEFAULT_PROMETHEUS_MEMORY_QUERY


class MetricProviderSpec(msgspec.Struct, rename="camel", omit_defaults=True,
                         forbid_unknown_fields=True):
    """Upstream MetricProviderSpec plus pyscheduler's polling fields."""

    type: str = ""
    address: str | None = None
    token: str | None = None
    insecure_skip_verify: bool | None = None
    poll_interval_seconds: float = lt.DEFAULT_POLL_INTERVAL_SECONDS
    stale_after_seconds: float = 0.0
    history_size: int = lt.DEFAULT_HISTORY_SIZE
    node_label: str = lt.DEFAULT_PROMETHEUS_NODE_LABEL
    queries: PrometheusQueries = msgspec.field(default_factory=PrometheusQueries)


def _default_provider() -> MetricProviderSpec:
    return MetricProviderSpec()


class TrimaranSpec(msgspec.Struct, rename="camel", omit_defaults=True,
                   forbid_unknown_fields=True):
    """Upstream TrimaranSpec (inlined in each Trimaran plugin's args)."""

    metric_provider: MetricProviderSpec = msgspec.field(default_factory=_default_provider)
    watcher_address: str | None = None

    def _default_trimaran(self) -> None:
        """Upstream SetDefaultTrimaranSpec."""
        mp = self.metric_provider
        if self.watcher_address is None and mp.type == "":
            mp.type = lt.KUBERNETES_METRICS_SERVER
        if mp.type == lt.PROMETHEUS and mp.insecure_skip_verify is None:
            mp.insecure_skip_verify = True

    def source_spec(self) -> lt.LoadSourceSpec:
        """The LoadSourceSpec these args name (valid args only)."""
        mp = self.metric_provider
        return lt.LoadSourceSpec(
            provider=mp.type,
            address=mp.address or "",
            token=mp.token or "",
            insecure_skip_verify=mp.insecure_skip_verify is not False,
            poll_interval_seconds=float(mp.poll_interval_seconds),
            stale_after_seconds=float(mp.stale_after_seconds),
            history_size=mp.history_size,
            cpu_query=mp.queries.cpu,
            memory_query=mp.queries.memory,
            node_label=mp.node_label,
        )

    def _trimaran_errors(self, path: str) -> list[v.FieldError]:
        errs: list[v.FieldError] = []
        if self.watcher_address:
            errs.append(v.invalid(v.child(path, "watcherAddress"), self.watcher_address,
                                  "the load-watcher service is not supported by pyscheduler; "
                                  "set metricProvider instead"))
            return errs
        mpath = v.child(path, "metricProvider")
        mp = self.metric_provider
        if mp.type not in SUPPORTED_PROVIDERS:
            errs.append(v.not_supported(v.child(mpath, "type"), mp.type, SUPPORTED_PROVIDERS))
        if mp.type == lt.PROMETHEUS:
            if not mp.address:
                errs.append(v.FieldError(v.REQUIRED, v.child(mpath, "address"),
                                         detail="the Prometheus HTTP API's base URL"))
            if not mp.node_label:
                errs.append(v.FieldError(v.REQUIRED, v.child(mpath, "nodeLabel")))
            for name, q in (("cpu", mp.queries.cpu), ("memory", mp.queries.memory)):
                if not q.strip():
                    errs.append(v.FieldError(v.REQUIRED, v.child(v.child(mpath, "queries"),
                                                                 name)))
        if not (math.isfinite(mp.poll_interval_seconds) and mp.poll_interval_seconds > 0):
            errs.append(v.invalid(v.child(mpath, "pollIntervalSeconds"),
                                  mp.poll_interval_seconds, "must be greater than 0"))
        if not (math.isfinite(mp.stale_after_seconds) and mp.stale_after_seconds >= 0):
            errs.append(v.invalid(v.child(mpath, "staleAfterSeconds"), mp.stale_after_seconds,
                                  "must be greater than or equal to 0"))
        if mp.history_size < 1:
            errs.append(v.invalid(v.child(mpath, "historySize"), mp.history_size,
                                  "must be greater than or equal to 1"))
        return errs


def _default_requests() -> dict[str, str]:
    return {CPU: f"{DEFAULT_REQUESTS_MILLI_CORES}m"}


class TargetLoadPackingArgs(TrimaranSpec, rename="camel", omit_defaults=True,
                            forbid_unknown_fields=True):
    """Upstream TargetLoadPackingArgs."""

    default_requests: dict[str, str] = msgspec.field(default_factory=_default_requests)
    default_requests_multiplier: str = DEFAULT_REQUESTS_MULTIPLIER
    target_utilization: int = DEFAULT_TARGET_UTILIZATION_PERCENT

    def __post_init__(self) -> None:
        self._default_trimaran()
        if self.target_utilization <= 0:
            self.target_utilization = DEFAULT_TARGET_UTILIZATION_PERCENT

    def requests_milli_cores(self) -> int:
        """defaultRequests' cpu in millicores (0 when it names none, as upstream)."""
        text = self.default_requests.get(CPU)
        return to_int(CPU, text) if text is not None else 0

    def multiplier(self) -> float:
        """defaultRequestsMultiplier as a number (valid args only)."""
        return float(self.default_requests_multiplier)

    def validate(self, path: str = "") -> None:
        """Raises ArgsError naming each bad field."""
        errs = self._trimaran_errors(path)
        rpath = v.child(path, "defaultRequests")
        for name, text in self.default_requests.items():
            try:
                to_int(name, text)
            except ValueError:
                errs.append(v.invalid(f"{rpath}[{name}]", text,
                                      "must be a quantity, e.g. 1000m"))
        mpath = v.child(path, "defaultRequestsMultiplier")
        try:
            m = float(self.default_requests_multiplier)
        except ValueError:
            errs.append(v.invalid(mpath, self.default_requests_multiplier,
                                  "unable to parse DefaultRequestsMultiplier: must be a number"))
        else:
            if not math.isfinite(m) or m < 0:
                errs.append(v.invalid(mpath, self.default_requests_multiplier,
                                      "must be a finite number greater than or equal to 0"))
        if self.target_utilization > 100:
            errs.append(v.invalid(v.child(path, "targetUtilization"), self.target_utilization,
                                  "must be less than or equal to 100"))
        v.raise_if(errs)

    validate_args = validate


class LoadVariationRiskBalancingArgs(TrimaranSpec, rename="camel", omit_defaults=True,
                                     forbid_unknown_fields=True):
    """Upstream LoadVariationRiskBalancingArgs."""

    safe_variance_margin: float = DEFAULT_SAFE_VARIANCE_MARGIN
    safe_variance_sensitivity: float = DEFAULT_SAFE_VARIANCE_SENSITIVITY

    def __post_init__(self) -> None:
        self._default_trimaran()
        if self.safe_variance_margin < 0:
            self.safe_variance_margin = DEFAULT_SAFE_VARIANCE_MARGIN
        if self.safe_variance_sensitivity < 0:
            self.safe_variance_sensitivity = DEFAULT_SAFE_VARIANCE_SENSITIVITY

    def validate(self, path: str = "") -> None:
        """Raises ArgsError naming each bad field."""
        errs = self._trimaran_errors(path)
        for name, value in (("safeVarianceMargin", self.safe_variance_margin),
                            ("safeVarianceSensitivity", self.safe_variance_sensitivity)):
            if not math.isfinite(value):
                errs.append(v.invalid(v.child(path, name), value, "must be a finite number"))
        v.raise_if(errs)

    validate_args = validate


def _default_weights() -> dict[str, float]:
    return {CPU: DEFAULT_RISK_LIMIT_WEIGHT, MEMORY: DEFAULT_RISK_LIMIT_WEIGHT}


class LowRiskOverCommitmentArgs(TrimaranSpec, rename="camel", omit_defaults=True,
                                forbid_unknown_fields=True):
    """Upstream LowRiskOverCommitmentArgs."""

    smoothing_window_size: int = DEFAULT_SMOOTHING_WINDOW_SIZE
    risk_limit_weights: dict[str, float] = msgspec.field(default_factory=_default_weights)

    def __post_init__(self) -> None:
        self._default_trimaran()
        if self.smoothing_window_size <= 0:
            self.smoothing_window_size = DEFAULT_SMOOTHING_WINDOW_SIZE
        if not self.risk_limit_weights:
            self.risk_limit_weights = _default_weights()
        else:
            for r, w in list(self.risk_limit_weights.items()):
                if not 0 <= w <= 1:  # NaN too
                    self.risk_limit_weights[r] = DEFAULT_RISK_LIMIT_WEIGHT

    def weight(self, resource: str) -> float:
        """The risk-limit weight of cpu or memory (upstream's map over the defaults)."""
        return self.risk_limit_weights.get(resource, DEFAULT_RISK_LIMIT_WEIGHT)

    def validate(self, path: str = "") -> None:
        """Raises ArgsError naming each bad field."""
        v.raise_if(self._trimaran_errors(path))

    validate_args = validate
