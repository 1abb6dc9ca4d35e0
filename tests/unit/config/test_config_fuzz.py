"""Property: whatever text arrives (a ConfigMap edit in progress, garbage, half a document),
parse_config returns a config or raises ConfigError, never anything else."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import yaml
from _config_fakes import fake_registry, instantiate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyscheduler.config import ConfigError, SchedulerConfig, parse_config
from pyscheduler.framework.multipoint import expand

REPO = Path(__file__).resolve().parents[3]
REG = fake_registry()
SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

VALID_TEXTS = [
    (REPO / "config" / "pyscheduler.yaml").read_text(),
    *[p.read_text() for p in sorted((REPO / "config" / "examples").glob("*.yaml"))],
]
VALID_DOCS = [yaml.safe_load(t) for t in VALID_TEXTS]

# Field names that exist somewhere in the schema, so random documents reach deep code paths.
KEYS = [
    "apiVersion", "kind", "parallelism", "leaderElection", "leaderElect", "leaseDuration",
    "renewDeadline", "retryPeriod", "resourceLock", "resourceName", "resourceNamespace",
    "clientConnection", "qps", "burst", "kubeconfig", "percentageOfNodesToScore",
    "podInitialBackoffSeconds", "podMaxBackoffSeconds", "profiles", "schedulerName", "plugins",
    "pluginConfig", "multiPoint", "queueSort", "filter", "score", "postFilter", "bind",
    "enabled", "disabled", "name", "weight", "args", "scoringStrategy", "type", "resources",
    "pyscheduler", "preemption", "allowedSchedulerNames", "extenders",
]
NAMES = ["PrioritySort", "DefaultBinder", "NodeResourcesFit", "DefaultPreemption", "NodeName",
         "ImageLocality", "*", "", "Foo", "EBSLimits", "DynamicResources"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
    st.text(max_size=20), st.sampled_from(NAMES),
    st.sampled_from(["kubescheduler.config.k8s.io/v1", "KubeSchedulerConfiguration", "15s",
                     "-1s", "MostAllocated", "1m30s", "0"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), inner,
                        max_size=5),
    ),
    max_leaves=30,
)


def check(text: str | bytes) -> None:
    try:
        config = parse_config(text, plugins=REG)
    except ConfigError as err:
        assert err.errors and all(isinstance(e, str) and e for e in err.errors)
        return
    assert isinstance(config, SchedulerConfig)
    for profile in config.profiles:
        with contextlib.suppress(ConfigError):
            expand(profile, instantiate(profile))


def dump(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=False, allow_unicode=True)


@SETTINGS
@given(st.text())
def test_arbitrary_text(text: str) -> None:
    check(text)


@SETTINGS
@given(st.binary())
def test_arbitrary_bytes(data: bytes) -> None:
    check(data)


@SETTINGS
@given(st.dictionaries(st.sampled_from(KEYS), values, max_size=8))
def test_random_documents_over_schema_vocabulary(doc: dict[str, Any]) -> None:
    doc.setdefault("apiVersion", "kubescheduler.config.k8s.io/v1")
    doc.setdefault("kind", "KubeSchedulerConfiguration")
    check(dump(doc))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _replace(doc: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(doc, dict):
        return {k: (_replace(v, rest, new) if k == head else v) for k, v in doc.items()}
    return [(_replace(v, rest, new) if i == head else v) for i, v in enumerate(doc)]


@SETTINGS
@given(st.data())
def test_valid_documents_with_one_subtree_replaced(data: st.DataObject) -> None:
    doc = data.draw(st.sampled_from(VALID_DOCS))
    path = data.draw(st.sampled_from(_paths(doc)))
    garbage = data.draw(values)
    check(dump(_replace(doc, path, garbage)))


@SETTINGS
@given(st.data())
def test_truncated_valid_documents(data: st.DataObject) -> None:
    text = data.draw(st.sampled_from(VALID_TEXTS))
    cut = data.draw(st.integers(min_value=0, max_value=len(text)))
    check(text[:cut])
