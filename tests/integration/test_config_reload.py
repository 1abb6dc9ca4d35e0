"""Issue 13: the profile lives in a ConfigMap and hot-reloads, against the real apiserver.

``pyscheduler run --config-map`` runs as a child process with the scheduler's identity (exactly
manifests/rbac.yaml). A steady stream of pods is created throughout, and every pod must be
bound exactly once: the scheduled-attempts counter equals the number of pods, no attempt ends
in error, and each pod has one Scheduled event.

The profile scores with NodeResourcesFit alone, so the scoring strategy decides placements: on
two nodes, one half full and one empty, LeastAllocated picks the empty one and MostAllocated
the half-full one.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from envtest import ControlPlane
from envtest.workload import SchedulerProcess, create_pods, list_events, list_pods, pod_manifest
from integration.waiting import wait_until

CM_NAMESPACE = "pyscheduler-system"  # the scheduler's Role may read ConfigMaps there only


def profile(strategy: str, *, extra_profile: str = "") -> str:
    return f"""apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
leaderElection:
  leaderElect: false
profiles:
- schedulerName: pyscheduler
  plugins:
    score:
      disabled:
      - name: "*"
      enabled:
      - name: NodeResourcesFit
        weight: 1
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: {strategy}
{extra_profile}"""


class ConfigMap:
    def __init__(self, cp: ControlPlane, name: str) -> None:
        self.cp = cp
        self.name = name
        self.path = f"/api/v1/namespaces/{CM_NAMESPACE}/configmaps/{name}"

    def create(self, text: str) -> None:
        self.cp.request("POST", f"/api/v1/namespaces/{CM_NAMESPACE}/configmaps", {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": self.name, "namespace": CM_NAMESPACE},
            "data": {"config.yaml": text}})

    def set(self, text: str) -> None:
        self.cp.request("PATCH", self.path, {"data": {"config.yaml": text}},
                        content_type="application/merge-patch+json")

    def delete(self) -> None:
        self.cp.request("DELETE", self.path)

    def events(self) -> list[dict[str, Any]]:
        return [e for e in list_events(self.cp, CM_NAMESPACE)
                if e.get("regarding", {}).get("name") == self.name]


@pytest.fixture
def config_map(live_control_plane: ControlPlane) -> Iterator[ConfigMap]:
    cm = ConfigMap(live_control_plane, f"reload-{os.urandom(3).hex()}")
    yield cm
    with contextlib.suppress(Exception):  # the test may have deleted it already
        cm.delete()


@pytest.fixture
def start_scheduler(live_control_plane: ControlPlane,
                    tmp_path: Path) -> Iterator[Callable[..., SchedulerProcess]]:
    started: list[SchedulerProcess] = []

    def start(*extra: str) -> SchedulerProcess:
        p = SchedulerProcess(live_control_plane.scheduler_kubeconfig,
                             tmp_path / f"pyscheduler-{len(started)}.log", extra_args=extra)
        started.append(p)
        return p.start()

    yield start
    for p in started:
        p.stop()


class PodStream:
    """Creates a small pod every ``interval`` seconds in a thread until stopped."""

    def __init__(self, cp: ControlPlane, namespace: str, interval: float = 0.02) -> None:
        self.cp, self.namespace, self.interval = cp, namespace, interval
        self.created = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            create_pods(self.cp, self.namespace,
                        [pod_manifest(f"stream-{self.created}", cpu="10m", memory="16Mi")])
            self.created += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> PodStream:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def metric(text: str, name: str, labels: str = "") -> float | None:
    pattern = re.escape(name) + (r"\{" + labels + r"\}" if labels else r"(\{[^}]*\})?")
    m = re.search(r"^" + pattern + r" ([0-9.e+-]+)$", text, re.M)
    return float(m.group(m.lastindex or 1)) if m else None


def placed(cp: ControlPlane, namespace: str, name: str) -> str:
    """Create a probe pod and return the node it is bound to."""
    create_pods(cp, namespace, [pod_manifest(name, cpu="100m", memory="64Mi")])

    def node() -> str:
        pod = cp.request("GET", f"/api/v1/namespaces/{namespace}/pods/{name}")
        return str(pod["spec"].get("nodeName") or "")

    return str(wait_until(node, timeout=30, what=f"{name} bound"))


def test_weight_change_applies_live_and_broken_config_keeps_last_good(
    live_control_plane: ControlPlane,
    kwok_nodes: Callable[..., list[str]],
    namespace: str,
    config_map: ConfigMap,
    start_scheduler: Callable[..., SchedulerProcess],
) -> None:
    cp = live_control_plane
    half, empty = kwok_nodes(2, cpu="4", memory="8Gi", pods=500)
    create_pods(cp, namespace, [pod_manifest("filler", cpu="2", memory="4Gi", node_name=half)])
    config_map.create(profile("LeastAllocated"))
    proc = start_scheduler("--config-map", f"{CM_NAMESPACE}/{config_map.name}")

    with PodStream(cp, namespace) as stream:
        assert placed(cp, namespace, "probe-least") == empty

        # A live change of the scoring strategy: no restart, the next pods follow it.
        t0 = time.monotonic()
        config_map.set(profile("MostAllocated"))
        wait_until(lambda: metric(proc.metrics(), "pyscheduler_config_reloads_total",
                                  'result="success"') == 1, timeout=30, what="reload applied")
        print(f"\nreload applied {time.monotonic() - t0:.2f}s after the ConfigMap update")
        assert placed(cp, namespace, "probe-most") == half
        assert proc.alive()

        # A broken change: the last good profile stays in force, and it is reported.
        config_map.set(profile("Foo"))
        wait_until(lambda: metric(proc.metrics(),
                                  "pyscheduler_config_last_reload_successful") == 0,
                   timeout=30, what="failed reload counted")
        assert placed(cp, namespace, "probe-after-broken") == half
        warning = wait_until(lambda: [e for e in config_map.events()
                                      if e["reason"] == "FailedConfigReload"],
                             timeout=30, what="FailedConfigReload event")[0]
        assert warning["type"] == "Warning"
        assert ('profiles[0].pluginConfig[0].args.scoringStrategy.type: Unsupported value: '
                '"Foo"') in warning["note"], warning["note"]
        # An Event about the ConfigMap, never a write to it.
        cm = cp.request("GET", config_map.path)
        assert not cm["metadata"].get("annotations") and not cm["metadata"].get("finalizers")

        # Deleted: the last good profile still schedules.
        config_map.delete()
        wait_until(lambda: metric(proc.metrics(), "pyscheduler_config_reloads_total",
                                  'result="failure"') == 2, timeout=30, what="deletion seen")
        assert placed(cp, namespace, "probe-after-delete") == half
        # The stream must have overlapped the reloads for the count below to mean anything.
        wait_until(lambda: stream.created >= 100, timeout=60, what="100 stream pods")

    pods = wait_until(lambda: (lambda ps: ps if all(p["spec"].get("nodeName") for p in ps)
                               else None)(list_pods(cp, namespace)),
                      timeout=60, what="every pod bound")
    mine = [p for p in pods if p["metadata"]["name"] != "filler"]
    text = proc.metrics()
    assert metric(text, "scheduler_schedule_attempts_total",
                  'profile="pyscheduler",result="scheduled"') == len(mine)
    assert metric(text, "scheduler_schedule_attempts_total",
                  'profile="pyscheduler",result="error"') in (None, 0)
    scheduled = Counter(e["regarding"]["name"] for e in list_events(cp, namespace)
                        if e["reason"] == "Scheduled")
    assert all(scheduled[p["metadata"]["name"]] == 1 for p in mine), scheduled
    log = proc.log_path.read_text()
    assert "keeping the last good profile" in log


def test_added_profile_is_picked_up_and_removed_profile_let_go(
    live_control_plane: ControlPlane,
    kwok_nodes: Callable[..., list[str]],
    namespace: str,
    config_map: ConfigMap,
    start_scheduler: Callable[..., SchedulerProcess],
) -> None:
    cp = live_control_plane
    kwok_nodes(2, cpu="4", memory="8Gi")
    config_map.create(profile("LeastAllocated"))
    proc = start_scheduler("--config-map", f"{CM_NAMESPACE}/{config_map.name}")
    create_pods(cp, namespace, [pod_manifest("early-b", scheduler_name="second")])
    time.sleep(2.0)  # long enough for a scheduler that wrongly owned it to bind it
    pod = cp.request("GET", f"/api/v1/namespaces/{namespace}/pods/early-b")
    assert not pod["spec"].get("nodeName")

    second = "- schedulerName: second\n"
    config_map.set(profile("LeastAllocated", extra_profile=second))
    wait_until(lambda: cp.request("GET", f"/api/v1/namespaces/{namespace}/pods/early-b")
               ["spec"].get("nodeName"), timeout=30, what="pod of the added profile bound")

    config_map.set(profile("LeastAllocated"))
    wait_until(lambda: metric(proc.metrics(), "pyscheduler_config_reloads_total",
                              'result="success"') == 2, timeout=30, what="second reload")
    create_pods(cp, namespace, [pod_manifest("late-b", scheduler_name="second"),
                                pod_manifest("late-a")])
    wait_until(lambda: cp.request("GET", f"/api/v1/namespaces/{namespace}/pods/late-a")
               ["spec"].get("nodeName"), timeout=30, what="pod of the kept profile bound")
    time.sleep(1.0)
    pod = cp.request("GET", f"/api/v1/namespaces/{namespace}/pods/late-b")
    assert not pod["spec"].get("nodeName")
    assert "profiles removed" in proc.log_path.read_text()
