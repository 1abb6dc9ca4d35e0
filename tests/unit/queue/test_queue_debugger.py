"""The cache debugger's dump (SIGUSR2, /debug/cache): nodes with their requested and
allocatable resources and nominated pods, the assumed pods, and the queue's pending pods per
sub-queue with upstream's summary line."""

from __future__ import annotations

import msgspec
import structlog
from _queue_fakes import fail, make_pod, make_queue

from pyscheduler.backend.cache.cache import SchedulerCache
from pyscheduler.backend.cache.debugger import CacheDebugger
from pyscheduler.framework.types import PodInfo
from pyscheduler.informers.indexer import Indexer
from pyscheduler.model.meta import object_key
from pyscheduler.model.node import Node
from pyscheduler.model.pod import Pod


def node(name: str, cpu: str) -> Node:
    alloc = {"cpu": cpu, "memory": "8Gi", "pods": "110"}
    return msgspec.convert({"metadata": {"name": name},
                            "status": {"allocatable": alloc, "capacity": alloc}}, Node)


def pod(name: str, uid: str, node_name: str = "", cpu: str = "1") -> Pod:
    return msgspec.convert(
        {"metadata": {"name": name, "namespace": "d", "uid": uid},
         "spec": {"nodeName": node_name,
                  "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]}}, Pod)


def _setup() -> tuple[CacheDebugger, Indexer[Pod], Indexer[Node]]:
    cache = SchedulerCache()
    nodes: Indexer[Node] = Indexer()
    pods: Indexer[Pod] = Indexer()
    n1 = node("n1", cpu="4")
    cache.add_node(n1)
    nodes.add(n1)
    bound = pod("bound", "u-bound", node_name="n1", cpu="1")
    cache.add_pod(bound)
    pods.add(bound)
    cache.assume_pod(PodInfo.of(pod("assumed", "u-assumed", cpu="500m")), "n1")

    h = make_queue()
    # An Error sends a pod to backoffQ; a rejection by a plugin to the unschedulable pool.
    for name, plugins in (("backoff", ()), ("parked", ("NodeResourcesFit",))):
        h.queue.add(make_pod(name, uid=f"u-{name}"))
        qpi = h.queue.try_pop()
        assert qpi is not None and qpi.pod.metadata.name == name
        fail(h, qpi, *plugins)
    h.queue.add(make_pod("active", uid="u-active"))
    h.queue.nominator.add_nominated_pod(
        PodInfo.of(make_pod("preemptor", uid="u-pre", nominated="n1")), "n1")
    return CacheDebugger(cache, pods, nodes, h.queue), pods, nodes


def test_dump_has_nodes_assumed_pods_and_every_sub_queue() -> None:
    debugger, _, _ = _setup()
    where = {q: [p["name"] for p in pods] for q, pods in debugger.dump_queue().items()
             if q != "summary"}
    dump = debugger.dump()
    n1 = dump["nodes"]["n1"]
    assert n1["requested"]["cpu"] == 1500 and n1["allocatable"]["cpu"] == 4000
    assert n1["pods"] == ["d/assumed", "d/bound"]
    assert [p["name"] for p in n1["nominated"]] == ["preemptor"]
    assert dump["assumed"] == ["d/assumed"]
    assert where == {"activeQ": ["active"], "backoffQ": ["backoff"],
                     "unschedulablePods": ["parked"]}
    queue = dump["queue"]
    assert queue["summary"] == "activeQ:1; backoffQ:1; unschedulablePods:1"
    assert queue["activeQ"] == [{"name": "active", "namespace": "default", "uid": "u-active",
                                 "phase": "Pending", "nominatedNode": ""}]
    assert dump["comparison"] == {"missed_pods": [], "redundant_pods": [],
                                  "pods_on_other_node": [], "missed_nodes": [],
                                  "redundant_nodes": []}


def test_sigusr2_logs_the_cache_and_the_queue() -> None:
    debugger, pods, _ = _setup()
    stray = pod("stray", "u-stray", node_name="n1")
    pods.add(stray)  # the informer has it, the cache does not
    with structlog.testing.capture_logs() as logs:
        debugger.log_comparison()
    events = {e["event"]: e for e in logs}
    assert events["cache mismatch"]["missed_pods"] == [object_key(stray.metadata)]
    assert "n1" in events["Dump of cached NodeInfo"]["nodes"]
    queue = events["Dump of scheduling queue"]
    assert queue["summary"].startswith("activeQ:")
    assert {"activeQ", "backoffQ", "unschedulablePods"} <= set(queue)
