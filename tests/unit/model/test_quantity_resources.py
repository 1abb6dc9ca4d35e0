"""Quantities and pod requests, against upstream resourcehelper semantics."""

from __future__ import annotations

import msgspec
import pytest

from pyscheduler.model.pod import Pod
from pyscheduler.model.quantity import format_quantity, parse_quantity, to_int
from pyscheduler.model.resources import (
    DEFAULT_MEMORY_REQUEST,
    DEFAULT_MILLI_CPU_REQUEST,
    pod_non_zero_container_requests,
    pod_non_zero_requests,
    pod_requests,
)


@pytest.mark.parametrize(
    ("resource", "text", "want"),
    [
        ("cpu", "100m", 100),
        ("cpu", "1", 1000),
        ("cpu", "1.5", 1500),
        ("cpu", "0.0001", 1),  # MilliValue rounds up
        ("memory", "1Gi", 2**30),
        ("memory", "500M", 500_000_000),
        ("memory", "1e3", 1000),
        ("memory", "1.5Ki", 1536),
        ("memory", "100m", 1),  # Value rounds up
        ("nvidia.com/gpu", "2", 2),
    ],
)
def test_to_int(resource: str, text: str, want: int) -> None:
    assert to_int(resource, text) == want


@pytest.mark.parametrize("bad", ["", "abc", "1.2.3", "Gi", "1 Gi", "--1"])
def test_invalid_quantity(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_quantity(bad)


def test_format_quantity() -> None:
    assert format_quantity("cpu", 1500) == "1500m"
    assert format_quantity("cpu", 2000) == "2"
    assert format_quantity("memory", 2**30) == "1Gi"


def pod(spec: dict[str, object]) -> Pod:
    return msgspec.convert({"metadata": {"name": "p", "namespace": "d"}, "spec": spec}, Pod)


def c(name: str, cpu: str | None = None, mem: str | None = None,
      restart: str | None = None) -> dict[str, object]:
    req = {k: v for k, v in (("cpu", cpu), ("memory", mem)) if v is not None}
    out: dict[str, object] = {"name": name, "resources": {"requests": req}}
    if restart:
        out["restartPolicy"] = restart
    return out


def test_sum_of_containers_and_max_of_init() -> None:
    p = pod({"containers": [c("a", "1", "1Gi"), c("b", "500m", "1Gi")],
             "initContainers": [c("i1", "2", "1Gi"), c("i2", "1", "3Gi")]})
    assert pod_requests(p) == {"cpu": 2000, "memory": 3 * 2**30}


def test_sidecars_add_to_steady_state_and_later_init_steps() -> None:
    # upstream TestPodRequests "restartable init containers": sidecar 1 cpu runs alongside
    p = pod({"containers": [c("a", "1")],
             "initContainers": [c("side", "1", restart="Always"), c("init", "2")]})
    # steady: 1 + 1 = 2; init step: 2 + sidecar 1 = 3 -> max 3
    assert pod_requests(p)["cpu"] == 3000


def test_overhead_and_pod_level_resources() -> None:
    p = pod({"containers": [c("a", "1", "1Gi")], "overhead": {"cpu": "250m"},
             "resources": {"requests": {"cpu": "3", "hugepages-2Mi": "2Mi"}}})
    r = pod_requests(p)
    assert r["cpu"] == 3250  # pod-level wins, then overhead added
    assert r["memory"] == 2**30
    # hugepages are a supported pod-level resource since v1.33 (kubernetes#130577)
    assert r["hugepages-2Mi"] == 2 * 2**20
    p = pod({"containers": [c("a", "1", "1Gi")],
             "resources": {"requests": {"example.com/gpu": "1"}}})
    assert pod_requests(p) == {"cpu": 1000, "memory": 2**30}  # not a pod-level resource


def test_non_zero_defaults_only_for_missing_requests() -> None:
    p = pod({"containers": [c("a"), c("b", cpu="0", mem="0")]})
    assert pod_requests(p) == {"cpu": 0, "memory": 0}
    cpu, mem = pod_non_zero_requests(p)
    assert (cpu, mem) == (DEFAULT_MILLI_CPU_REQUEST, DEFAULT_MEMORY_REQUEST)


MI = 2**20


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        # No pod-level requests: every missing container request is defaulted.
        ({"containers": [c("a", "300m"), c("b")]},
         (300 + DEFAULT_MILLI_CPU_REQUEST, 2 * DEFAULT_MEMORY_REQUEST)),
        # Pod-level requests (getNonMissingContainerRequests): cpu is named by a container, so
        # the other container gets no cpu default; memory is named nowhere: defaulted.
        ({"containers": [c("a", "300m"), c("b")], "resources": {"requests": {"cpu": "1"}}},
         (1000, 2 * DEFAULT_MEMORY_REQUEST)),
        ({"containers": [c("a", "300m"), c("b")],
          "resources": {"requests": {"memory": "64Mi"}}},
         (300, 64 * MI)),
        # An explicit 0 names the resource too.
        ({"containers": [c("a", cpu="0")], "resources": {"requests": {"memory": "64Mi"}}},
         (0, 64 * MI)),
        # Overhead names its resources as well (PodRequests adds it before the check).
        ({"containers": [c("a")], "overhead": {"cpu": "500m"},
          "resources": {"requests": {"memory": "64Mi"}}},
         (500, 64 * MI)),
    ],
)
def test_non_zero_requests_with_pod_level(spec: dict[str, object], want: tuple[int, int]) -> None:
    assert pod_non_zero_requests(pod(spec)) == want


def test_non_zero_container_requests_skip_pod_level() -> None:
    # NodeResourcesFit's scorer: containers with defaults plus overhead, pod level ignored.
    p = pod({"containers": [c("a", mem="3392Mi")], "overhead": {"cpu": "500m"},
             "resources": {"requests": {"cpu": "400m", "memory": "3392Mi"}}})
    assert pod_non_zero_container_requests(p) == {"cpu": DEFAULT_MILLI_CPU_REQUEST + 500,
                                                  "memory": 3392 * MI}
    assert pod_non_zero_requests(p) == (900, 3392 * MI)
    # pod-level hugepages are skipped there too; the containers' count
    huge = {"name": "a", "resources": {"requests": {"cpu": "1", "hugepages-2Mi": "4Mi"}}}
    p = pod({"containers": [huge], "resources": {"requests": {"hugepages-2Mi": "8Mi"}}})
    assert pod_non_zero_container_requests(p)["hugepages-2Mi"] == 4 * MI
    assert pod_requests(p)["hugepages-2Mi"] == 8 * MI
