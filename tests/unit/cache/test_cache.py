"""Scheduler cache: UID keys, assume/confirm/forget, ghosts, and the columnar rows."""

from __future__ import annotations

import msgspec
import numpy as np

from pyscheduler.backend.cache.cache import SchedulerCache
from pyscheduler.framework.types import PodInfo
from pyscheduler.model.node import Node
from pyscheduler.model.pod import Pod


def node(name: str, cpu: str = "4", mem: str = "8Gi", pods: str = "110", **extra: str) -> Node:
    alloc = {"cpu": cpu, "memory": mem, "pods": pods, **extra}
    return msgspec.convert(
        {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
         "status": {"allocatable": alloc, "capacity": alloc}}, Node)


def pod(name: str, uid: str, node_name: str = "", cpu: str = "1", mem: str = "1Gi",
        **extra: str) -> Pod:
    return msgspec.convert(
        {"metadata": {"name": name, "namespace": "d", "uid": uid},
         "spec": {"nodeName": node_name,
                  "containers": [{"name": "c", "resources": {
                      "requests": {"cpu": cpu, "memory": mem, **extra}}}]}}, Pod)


def row(cache: SchedulerCache, name: str) -> int:
    return cache.table.index[name]


def test_assume_then_confirm_counts_once() -> None:
    cache = SchedulerCache()
    cache.add_node(node("n1"))
    p = pod("a", "u1")
    cache.assume_pod(PodInfo.of(p), "n1")
    r = row(cache, "n1")
    assert cache.table.req[r, cache.table.columns["cpu"]] == 1000
    assert cache.is_assumed("u1")
    bound = msgspec.structs.replace(p, spec=msgspec.structs.replace(p.spec, node_name="n1"))
    cache.add_pod(bound)  # the informer's add confirms
    assert not cache.is_assumed("u1")
    assert cache.table.req[r, cache.table.columns["cpu"]] == 1000
    assert cache.table.pod_count[r] == 1


def test_forget_releases_resources() -> None:
    cache = SchedulerCache()
    cache.add_node(node("n1"))
    cache.assume_pod(PodInfo.of(pod("a", "u1")), "n1")
    cache.forget_pod("u1")
    r = row(cache, "n1")
    assert cache.table.req[r].sum() == 0 and cache.table.pod_count[r] == 0


def test_remove_by_uid_ignores_the_stale_node_name_of_a_tombstone() -> None:
    # Issue 11, defect 2: bound while the watch was down, deleted before the relist. The delete
    # carries the last state the informer saw ("unassigned"); the assumed pod must go anyway.
    cache = SchedulerCache()
    cache.add_node(node("n1"))
    p = pod("a", "u1")
    cache.assume_pod(PodInfo.of(p), "n1")
    cache.finish_binding("u1")
    removed = cache.remove_pod(p)
    assert removed is not None and removed.uid == "u1"
    r = row(cache, "n1")
    assert cache.table.req[r].sum() == 0 and cache.table.pod_count[r] == 0
    assert cache.pod_count == 0 and not cache.is_assumed("u1")
    assert cache.remove_pod(p) is None  # a UID it does not hold: nothing happens


def test_remove_uses_the_cached_node_not_the_deleted_objects() -> None:
    cache = SchedulerCache()
    cache.add_node(node("n1"))
    cache.add_node(node("n2"))
    cache.add_pod(pod("a", "u1", node_name="n1"))
    cache.remove_pod(pod("a", "u1", node_name="n2"))
    assert cache.table.pod_count[row(cache, "n1")] == 0
    assert cache.table.pod_count[row(cache, "n2")] == 0


def test_same_name_different_uid_are_two_objects() -> None:
    cache = SchedulerCache()
    cache.add_node(node("n1"))
    cache.add_pod(pod("a", "old", "n1"))
    cache.add_pod(pod("a", "new", "n1", cpu="2"))  # re-created before the old delete arrived
    r = row(cache, "n1")
    assert cache.table.pod_count[r] == 2
    cache.remove_pod(pod("a", "old", "n1"))
    assert cache.table.pod_count[r] == 1
    assert cache.table.req[r, cache.table.columns["cpu"]] == 2000


def test_pod_before_node_creates_ghost_then_node_arrives() -> None:
    cache = SchedulerCache()
    cache.add_pod(pod("a", "u1", "n1"))
    assert cache.snapshot.num_nodes == 0  # ghosts are not schedulable
    cache.add_node(node("n1"))
    assert cache.snapshot.num_nodes == 1
    assert cache.table.pod_count[row(cache, "n1")] == 1


def test_remove_node_swaps_rows_and_keeps_index_consistent() -> None:
    cache = SchedulerCache()
    for i in range(5):
        cache.add_node(node(f"n{i}", cpu=str(i + 1)))
    cache.remove_node(node("n1"))
    t = cache.table
    assert t.n == 4
    for name, r in t.index.items():
        assert t.infos[r].name == name
        assert t.alloc[r, t.columns["cpu"]] == (int(name[1:]) + 1) * 1000


def test_extended_resource_gets_a_column() -> None:
    cache = SchedulerCache()
    cache.add_node(node("n1", **{"nvidia.com/gpu": "4"}))
    cache.add_pod(pod("a", "u1", "n1", **{"nvidia.com/gpu": "1"}))
    t = cache.table
    col = t.columns["nvidia.com/gpu"]
    assert t.alloc[0, col] == 4 and t.req[0, col] == 1


def test_table_grows_beyond_initial_capacity() -> None:
    cache = SchedulerCache()
    for i in range(200):
        cache.add_node(node(f"n{i}"))
    assert cache.table.n == 200
    assert np.all(cache.table.alloc[:, 0] == 4000)


def test_label_column_refreshes_on_label_change() -> None:
    cache = SchedulerCache()
    n = node("n1")
    cache.add_node(n)
    assert cache.snapshot.label_column("zone")[0] is None
    labelled = msgspec.structs.replace(
        n, metadata=msgspec.structs.replace(n.metadata, labels={"zone": "a"}))
    cache.update_node(n, labelled)
    assert cache.snapshot.label_column("zone")[0] == "a"


def test_only_sidecar_init_containers_hold_host_ports() -> None:
    p = msgspec.convert(
        {"metadata": {"name": "a", "namespace": "d", "uid": "u1"},
         "spec": {"nodeName": "n1",
                  "containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 80}]}],
                  "initContainers": [
                      {"name": "once", "ports": [{"containerPort": 81, "hostPort": 81}]},
                      {"name": "side", "restartPolicy": "Always",
                       "ports": [{"containerPort": 82, "hostPort": 82,
                                  "hostIP": "10.0.0.1", "protocol": "UDP"}]}]}}, Pod)
    cache = SchedulerCache()
    cache.add_node(node("n1"))
    cache.add_pod(p)
    used = cache.nodes["n1"].used_ports
    assert used == {("0.0.0.0", "TCP", 80): 1, ("10.0.0.1", "UDP", 82): 1}
