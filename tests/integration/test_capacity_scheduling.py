"""CapacityScheduling against the real apiserver with KWOK (issue 17's done-when).

* Two namespaces with an ElasticQuota each (min 50%, max 100% of the test's nodes' cpu) and a
  third namespace without a quota. One team borrows the whole idle cluster; when the other
  submits work, it gets its guaranteed share back through preemption of the borrower's pods
  only, on as many nodes as needed; the quota-less pods are never touched.
* A pod over its quota's max stays pending with a message naming the quota and figures.
* After a burst with random deletions and a scheduler restart, ``status.used`` (written by the
  leader's status writer) equals the sum of the bound pods' requests.

pyscheduler runs in-process with the scheduler's RBAC identity (the CRD's RBAC rules come from
manifests/rbac.yaml). Pods carry a node selector for this test's nodes, so nodes other tests
leave behind cannot change the arithmetic. The borrower's pods get a 30 s grace period: a
reclaimed pod is terminating until KWOK's pod-delete stage removes it, as with a kubelet.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from envtest import ControlPlane
from envtest.workload import create_pods, list_events, list_pods, pod_condition, pod_manifest
from integration import inprocess
from integration.waiting import await_until
from pyscheduler.model.quantity import to_int

PROFILE = "pyscheduler-quota"
GRACE = 30
EQ_PATH = "/apis/scheduling.x-k8s.io/v1alpha1/namespaces/{ns}/elasticquotas"

CONFIG = f"""\
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
leaderElection:
  leaderElect: false
profiles:
- schedulerName: {PROFILE}
  plugins:
    multiPoint:
      enabled:
      - name: CapacityScheduling
      disabled:
      - name: DefaultPreemption
"""


def running_app(cp: ControlPlane) -> inprocess.AppContext:
    """pyscheduler in-process with the quota profile (integration/inprocess.py)."""
    return inprocess.running_app(cp, CONFIG, qps=500, burst=1000)


@pytest.fixture
def crds(live_control_plane: ControlPlane) -> ControlPlane:
    live_control_plane.install_crds()
    return live_control_plane


@pytest.fixture
def namespaces(crds: ControlPlane) -> Iterator[Callable[[str], str]]:
    made: list[str] = []

    def make(prefix: str) -> str:
        name = crds.create_namespace(f"{prefix}-")
        made.append(name)
        return name

    yield make
    for ns in made:
        crds.delete_namespace(ns)


def create_quota(cp: ControlPlane, ns: str, *, min_cpu: str, max_cpu: str) -> None:
    cp.request("POST", EQ_PATH.format(ns=ns), {
        "apiVersion": "scheduling.x-k8s.io/v1alpha1", "kind": "ElasticQuota",
        "metadata": {"name": "quota", "namespace": ns},
        "spec": {"min": {"cpu": min_cpu}, "max": {"cpu": max_cpu}},
    })


def quota_used(cp: ControlPlane, ns: str) -> dict[str, Any]:
    eq: dict[str, Any] = cp.request("GET", EQ_PATH.format(ns=ns) + "/quota")
    return dict((eq.get("status") or {}).get("used") or {})


def pod(name: str, selector: dict[str, str], *, cpu: str = "1", node: str | None = None,
        grace: int = 0) -> dict[str, Any]:
    return pod_manifest(name, scheduler_name=PROFILE, cpu=cpu, memory=None,
                        node_selector=selector, node_name=node,
                        extra_spec={"terminationGracePeriodSeconds": grace})


def bound(cp: ControlPlane, ns: str) -> dict[str, dict[str, Any]]:
    return {p["metadata"]["name"]: p for p in list_pods(cp, ns)
            if p["spec"].get("nodeName") and not p["metadata"].get("deletionTimestamp")}


def milli_cpu(pods: Any) -> int:
    return sum(to_int("cpu", c["resources"]["requests"]["cpu"])
               for p in pods for c in p["spec"]["containers"]
               if c.get("resources", {}).get("requests", {}).get("cpu"))


async def test_reclaim_gives_the_guaranteed_share_back_across_nodes(
        crds: ControlPlane, namespaces: Callable[[str], str],
        kwok_nodes: Callable[..., list[str]]) -> None:
    cp = crds
    label = {"quota-test": f"reclaim-{random.randrange(10**6)}"}
    nodes = kwok_nodes(4, cpu="5", labels=label)  # 20 cpu
    team_a, team_b, free = namespaces("team-a"), namespaces("team-b"), namespaces("free")
    # 16 cpu are shared by the quotas: min 50% and max 100% each
    create_quota(cp, team_a, min_cpu="8", max_cpu="16")
    create_quota(cp, team_b, min_cpu="8", max_cpu="16")
    # the quota-less namespace holds one cpu on every node
    create_pods(cp, free, [pod(f"free-{i}", label, node=n) for i, n in enumerate(nodes)])
    async with running_app(cp) as app:
        # team-a borrows the whole idle cluster
        create_pods(cp, team_a, [pod(f"a-{i}", label, grace=GRACE) for i in range(16)])
        await await_until(lambda: len(bound(cp, team_a)) == 16, timeout=60,
                          what="team-a's 16 pods bound")
        a_nodes = {p["spec"]["nodeName"] for p in bound(cp, team_a).values()}
        assert a_nodes == set(nodes)
        # team-b asks for its guaranteed 8
        create_pods(cp, team_b, [pod(f"b-{i}", label) for i in range(8)])
        await await_until(lambda: len(bound(cp, team_b)) == 8, timeout=90,
                          what="team-b's 8 pods bound after reclaim")
        def a_state() -> tuple[int, int]:
            pods = list_pods(cp, team_a)
            return len(pods), len([p for p in pods if p["metadata"].get("deletionTimestamp")])

        await await_until(lambda: a_state()[1] == 0, timeout=60,
                          what="reclaimed pods gone (team-a pods, terminating)")
        # exactly down to its min: no pod was preempted that the share did not need
        assert a_state() == (8, 0)
        assert len(bound(cp, team_a)) == 8
        b_nodes = {p["spec"]["nodeName"] for p in bound(cp, team_b).values()}
        assert len(b_nodes) >= 2, "the share was given back on several nodes"
        # the quota-less pods were never touched
        free_pods = list_pods(cp, free)
        assert len(free_pods) == 4
        assert all(not p["metadata"].get("deletionTimestamp") for p in free_pods)
        assert all(not any(c["type"] == "DisruptionTarget"
                           for c in p["status"].get("conditions", [])) for p in free_pods)
        # every Preempted event names a team-a pod
        preempted = [e for ns in (team_a, team_b, free) for e in list_events(cp, ns)
                     if e["reason"] == "Preempted"]
        assert preempted and all(e["regarding"]["namespace"] == team_a for e in preempted)

        # a pod over max stays pending, and says which quota and figures
        create_pods(cp, team_b, [pod("b-big", label, cpu="9")])

        def message() -> str | None:
            p = cp.request("GET", f"/api/v1/namespaces/{team_b}/pods/b-big")
            cond = pod_condition(p, "PodScheduled") or {}
            msg: str = cond.get("message", "")
            return msg if cond.get("reason") == "Unschedulable" and msg else None

        msg = await await_until(message, timeout=30, what="b-big reported unschedulable")
        assert f"quota {team_b}: cpu used 8 + 9 > max 16" in msg, msg
        assert "reclaim not possible" in msg, msg
        assert not cp.request("GET", f"/api/v1/namespaces/{team_b}/pods/b-big")["spec"].get(
            "nodeName")
        # status.used, written by the leader, matches the bound pods
        for ns in (team_a, team_b):
            await await_until(
                lambda ns=ns: to_int("cpu", str(quota_used(cp, ns).get("cpu", "-1")))
                == milli_cpu(bound(cp, ns).values()),
                timeout=30, what=f"status.used of {ns}")
        del app


async def test_used_matches_bound_pods_after_burst_deletions_and_restart(
        crds: ControlPlane, namespaces: Callable[[str], str],
        kwok_nodes: Callable[..., list[str]]) -> None:
    cp = crds
    label = {"quota-test": f"burst-{random.randrange(10**6)}"}
    kwok_nodes(3, cpu="16", labels=label)
    ns = namespaces("burst")
    create_quota(cp, ns, min_cpu="10", max_cpu="20")
    rng = random.Random(17)
    sizes = [rng.choice(["100m", "250m", "500m", "1"]) for _ in range(60)]
    async with running_app(cp) as app:
        create_pods(cp, ns, [pod(f"p-{i}", label, cpu=c) for i, c in enumerate(sizes)])
        # delete some while the burst is being scheduled
        doomed = rng.sample(range(60), 20)
        for i in doomed[:10]:
            cp.request("DELETE", f"/api/v1/namespaces/{ns}/pods/p-{i}",
                       query={"gracePeriodSeconds": 0})
        await await_until(lambda: len(bound(cp, ns)) + len(
            [p for p in list_pods(cp, ns) if not p["spec"].get("nodeName")]) == 50
            and all(p["spec"].get("nodeName") or _over_max(cp, ns, p)
                    for p in list_pods(cp, ns)), timeout=90, what="the burst settled")
        del app
    # the scheduler restarts; meanwhile more pods go
    for i in doomed[10:]:
        cp.request("DELETE", f"/api/v1/namespaces/{ns}/pods/p-{i}",
                   query={"gracePeriodSeconds": 0})
    async with running_app(cp) as app2:
        plugin = app2.frameworks[PROFILE].plugins["CapacityScheduling"]
        seen: dict[str, Any] = {}

        def settled() -> bool:
            # The three figures are read together and must agree at one moment: the API's
            # bound pods, the status the controller wrote, and the restarted scheduler's own
            # figure, rebuilt from pods (not from status). Read apart, a bind landing between
            # two reads would make them differ without anything being wrong; so the probe
            # runs on the loop (blocking=False): the in-process scheduler is paused while it
            # reads, and its cache is never read from another thread.
            pods = list_pods(cp, ns)
            want = milli_cpu(p for p in pods if p["spec"].get("nodeName"))
            used = quota_used(cp, ns).get("cpu")
            own = plugin.quota_infos(app2.cache.snapshot)[ns].used.get("cpu", 0)
            seen.update(pods=len(pods), bound=want, status=used, scheduler=own)
            return (used is not None and to_int("cpu", str(used)) == want == own
                    and len(pods) == 40)

        await await_until(settled, timeout=60, blocking=False, detail=lambda: seen,
                          what="status.used == scheduler's used == sum of bound requests")
        assert seen["scheduler"] <= 20_000


def _over_max(cp: ControlPlane, ns: str, p: dict[str, Any]) -> bool:
    """A pending pod reported Unschedulable by the quota (the burst may exceed max)."""
    cond = pod_condition(p, "PodScheduled") or {}
    return cond.get("reason") == "Unschedulable" and f"quota {ns}" in cond.get("message", "")
