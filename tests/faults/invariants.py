"""The promises a scheduler must keep under faults, checked from the API and its audit log.

:func:`check` first waits for the burst to settle (every live pod bound, or pending with a
correct reason), then collects every violation of:

1. **exactly once**: each pod UID the scenario created has exactly one successful binding
   (2xx ``pods/binding`` create naming that UID) if the API shows it bound, none if it is
   pending, at most one if it was deleted; the binding's target is the node the API shows.
   A binding answered 504 has an unknown outcome (the apiserver may have committed it after
   the client went away), so a bound pod with no 2xx binding passes when a 504 binding of its
   UID named its node; such pods are counted in ``stats["indeterminate_bindings"]``;
2. **pending for a reason**: a pod left unbound has PodScheduled=False, reason Unschedulable,
   a "0/N nodes are available" message, and really fits no node (cpu, memory, pods) by the
   API's bound non-terminal pods;
3. **no overcommit**: on every node the API's bound non-terminal pods request no more cpu,
   memory and pods than its allocatable;
4. **only the leader writes** (with leader election): every binding, pods/status write and pod
   delete an identity sent reached the apiserver while that identity held the lease, the
   intervals being derived from the audit log's successful lease writes (an interval starts at
   the write that made the identity holder and ends at the next successful write by another
   identity, or at a release);
5. **the cache agrees with the API**: the leader's ``GET /debug/cache`` shows, for every node,
   the requested cpu (millicores) and memory (bytes) and the pod set that the API's bound
   non-terminal pods on that node sum to, and no assumed pod left (polled until equal or
   ``cache_timeout``; the failure shows the difference).

Violations are returned, not raised one at a time, so a failure lists all of them with
their counts.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from envtest import AuditRecord
from envtest.workload import pod_condition
from pyscheduler.model.quantity import to_int

from .harness import LEASE_NAME, LEASE_NAMESPACE, Cluster, Replica

RESOURCES = ("cpu", "memory", "pods")


@dataclass
class Report:
    violations: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    def add(self, kind: str, detail: str) -> None:
        self.violations.append(f"[{kind}] {detail}")

    def kinds(self) -> Counter[str]:
        return Counter(v.split("]", 1)[0].lstrip("[") for v in self.violations)

    def summary(self) -> str:
        lines = [f"{len(self.violations)} violation(s): {dict(self.kinds())}"]
        shown: Counter[str] = Counter()
        for v in self.violations:
            kind = v.split("]", 1)[0]
            shown[kind] += 1
            if shown[kind] <= 12:
                lines.append("  " + v)
            elif shown[kind] == 13:
                lines.append(f"  {kind}] ... (more)")
        lines.append("stats: " + json.dumps(self.stats, sort_keys=True, default=str))
        return "\n".join(lines)


# ---------------------------------------------------------------------- accounting


def pod_requests(pod: Mapping[str, Any]) -> dict[str, int]:
    """cpu (milli), memory (bytes) and pods (1), as the scheduler counts a plain pod."""
    out = {"cpu": 0, "memory": 0, "pods": 1}
    for c in pod["spec"].get("containers") or ():
        for res, q in ((c.get("resources") or {}).get("requests") or {}).items():
            if res in ("cpu", "memory"):
                out[res] += to_int(res, q)
    return out


def _terminal(pod: Mapping[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def usage(pods: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per node name: summed requests and the pod set, over bound non-terminal pods."""
    out: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"cpu": 0, "memory": 0, "pods": 0, "set": set()})
    for p in pods:
        node = p["spec"].get("nodeName")
        if not node or _terminal(p):
            continue
        u = out[node]
        for res, v in pod_requests(p).items():
            u[res] += v
        u["set"].add(f"{p['metadata']['namespace']}/{p['metadata']['name']}")
    return out


def allocatable(node: Mapping[str, Any]) -> dict[str, int]:
    alloc = node["status"]["allocatable"]
    return {r: to_int(r, alloc[r]) for r in RESOURCES}


def schedulable(node: Mapping[str, Any]) -> bool:
    if node["spec"].get("unschedulable"):
        return False
    taints = node["spec"].get("taints") or ()
    if any(t.get("effect") in ("NoSchedule", "NoExecute") for t in taints):
        return False
    for c in node.get("status", {}).get("conditions") or ():
        if c.get("type") == "Ready":
            return bool(c.get("status") == "True")
    return False


def fitting_nodes(pod: Mapping[str, Any], nodes: list[dict[str, Any]],
                  used: Mapping[str, Mapping[str, Any]]) -> list[str]:
    req = pod_requests(pod)
    out = []
    for n in nodes:
        name = n["metadata"]["name"]
        if not schedulable(n):
            continue
        alloc = allocatable(n)
        u = used.get(name) or {"cpu": 0, "memory": 0, "pods": 0}
        if all(u[r] + req[r] <= alloc[r] for r in RESOURCES):
            out.append(name)
    return out


# ---------------------------------------------------------------------- settle


def _live_tracked(cluster: Cluster, pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in pods if p["metadata"]["uid"] in cluster.pods]


def pending_problems(cluster: Cluster, pods: list[dict[str, Any]],
                     nodes: list[dict[str, Any]]) -> list[str]:
    """Why the unbound pods are not (yet) correctly pending; [] when all are."""
    used = usage(pods)
    problems = []
    for p in _live_tracked(cluster, pods):
        if p["spec"].get("nodeName") or p["metadata"].get("deletionTimestamp"):
            continue
        name = p["metadata"]["name"]
        cond = pod_condition(p, "PodScheduled")
        fits = fitting_nodes(p, nodes, used)
        if fits:
            reason = f"{cond.get('reason')}: {cond.get('message')}" if cond else "no condition"
            problems.append(f"{name} pending ({reason}) while {len(fits)} node(s) have room, "
                            f"e.g. {fits[0]}")
        elif cond is None or cond.get("status") != "False" or \
                cond.get("reason") != "Unschedulable" or \
                not str(cond.get("message", "")).startswith("0/"):
            problems.append(f"{name} pending without PodScheduled=False/Unschedulable "
                            f"'0/N nodes are available' (condition: {cond})")
    return problems


def settle(cluster: Cluster, timeout: float) -> float:
    """Wait until every live pod is bound or correctly pending; return the seconds waited."""
    t0 = time.monotonic()
    while True:
        pods, nodes = cluster.list_pods(), cluster.list_nodes()
        if not pending_problems(cluster, pods, nodes):
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            return time.monotonic() - t0
        time.sleep(1.0)


# ---------------------------------------------------------------------- the checks


def check_exactly_once(rep: Report, cluster: Cluster, pods: list[dict[str, Any]],
                       records: list[AuditRecord]) -> None:
    ok: dict[str, list[AuditRecord]] = defaultdict(list)
    # Bindings answered 504 may have been committed (a killed leader's in-flight request is
    # the usual one); one of them may stand for the successful binding of a bound pod, but
    # only if it named the node the API shows and no 2xx binding exists.
    unsure: dict[str, list[AuditRecord]] = defaultdict(list)
    for r in records:
        if not (r.is_binding and r.namespace == cluster.namespace):
            continue
        if r.succeeded:
            if not r.binding_uid:
                rep.add("exactly-once", f"binding of {r.name} by {r.username} without a UID")
            ok[r.binding_uid].append(r)
        elif r.indeterminate and r.binding_uid:
            unsure[r.binding_uid].append(r)
    indeterminate = 0
    api = {p["metadata"]["uid"]: p for p in pods}
    for uid, t in cluster.pods.items():
        n = len(ok.get(uid, ()))
        p = api.get(uid)
        if p is None:
            if n > 1:
                rep.add("exactly-once", f"{t.name} (deleted) bound {n} times")
            continue
        node = p["spec"].get("nodeName")
        if node and n == 0 and any(r.binding_target == node for r in unsure.get(uid, ())):
            indeterminate += 1
            continue
        if node and n != 1:
            rep.add("exactly-once", f"{t.name} bound to {node} with {n} successful bindings")
        elif not node and n:
            rep.add("exactly-once", f"{t.name} unbound after {n} successful binding(s)")
        elif node and ok[uid][0].binding_target != node:
            rep.add("exactly-once", f"{t.name} on {node} but bound to {ok[uid][0].binding_target}")
    rep.stats["indeterminate_bindings"] = indeterminate
    rep.stats["bound"] = sum(1 for p in _live_tracked(cluster, pods) if p["spec"].get("nodeName"))
    rep.stats["pending"] = sum(
        1 for p in _live_tracked(cluster, pods) if not p["spec"].get("nodeName"))


def check_overcommit(rep: Report, pods: list[dict[str, Any]], nodes: list[dict[str, Any]]
                     ) -> None:
    used = usage(pods)
    over = 0
    for n in nodes:
        name = n["metadata"]["name"]
        alloc = allocatable(n)
        u = used.get(name)
        if u is None:
            continue
        bad = {r: (u[r], alloc[r]) for r in RESOURCES if u[r] > alloc[r]}
        if bad:
            over += 1
            rep.add("overcommit", f"{name}: " + ", ".join(
                f"{r} {a}/{b}" for r, (a, b) in bad.items()))
    rep.stats["overcommitted_nodes"] = over


def leadership_intervals(records: list[AuditRecord]) -> dict[str, list[tuple[float, float]]]:
    """Per username, the [start, end) intervals in which it held the lease (module doc)."""
    writes = sorted((r for r in records if r.is_lease_write and r.succeeded
                     and r.name == LEASE_NAME and r.namespace == LEASE_NAMESPACE),
                    key=lambda r: r.received)
    out: dict[str, list[tuple[float, float]]] = defaultdict(list)
    current: str | None = None
    since = 0.0
    for r in writes:
        holder = r.lease_holder
        if current is not None and (not holder or r.username != current):
            out[current].append((since, r.received))
            current = None
        if holder and current is None:
            current, since = r.username, r.received
    if current is not None:
        out[current].append((since, math.inf))
    return out


def check_leadership(rep: Report, cluster: Cluster, records: list[AuditRecord]) -> None:
    users = {r.username: r for r in cluster.replicas}
    intervals = leadership_intervals(records)
    rep.stats["leaders"] = [
        (users[u].name if u in users else u, round(s, 2), None if e == math.inf else round(e, 2))
        for u, ivs in intervals.items() for s, e in ivs]
    late: dict[str, Counter[str]] = defaultdict(Counter)
    for r in records:
        if r.username not in users or not (r.is_binding or r.is_pod_status_write
                                           or r.is_pod_delete):
            continue
        if any(s <= r.received < e for s, e in intervals.get(r.username, ())):
            continue
        kind = "binding" if r.is_binding else "status" if r.is_pod_status_write else "delete"
        c = late[users[r.username].name]
        c[f"{kind} sent"] += 1
        if r.succeeded:
            c[f"{kind} accepted"] += 1
    for name, c in late.items():
        rep.add("non-leader-write", f"{name} while not holding the lease: {dict(c)}")
    rep.stats["non_leader_writes"] = {k: dict(v) for k, v in late.items()}


def _cache_diff(dump: Mapping[str, Any], pods: list[dict[str, Any]]) -> list[str]:
    api = usage(pods)
    nodes = dump.get("nodes") or {}
    diffs = []
    for name in sorted(set(api) | set(nodes)):
        a = api.get(name) or {"cpu": 0, "memory": 0, "pods": 0, "set": set()}
        c = nodes.get(name) or {}
        req = c.get("requested") or {}
        cset = set(c.get("pods") or ())
        d = []
        for r in ("cpu", "memory"):
            if int(req.get(r, 0) or 0) != a[r]:
                d.append(f"{r} cache={req.get(r, 0)} api={a[r]}")
        if cset != a["set"]:
            extra, missing = sorted(cset - a["set"]), sorted(a["set"] - cset)
            d.append(f"pods only in cache={extra[:5]}{'...' if len(extra) > 5 else ''} "
                     f"({len(extra)}), only in API={missing[:5]}"
                     f"{'...' if len(missing) > 5 else ''} ({len(missing)})")
        if d:
            diffs.append(f"{name}: " + "; ".join(d))
    assumed = list(dump.get("assumed") or ())
    if assumed:
        diffs.append(f"{len(assumed)} pod(s) still assumed: {sorted(assumed)[:5]}")
    return diffs


def check_cache(rep: Report, cluster: Cluster, replica: Replica | None, timeout: float) -> None:
    if replica is None:
        rep.add("cache", "no live ready replica to ask for /debug/cache")
        return
    deadline = time.monotonic() + timeout
    diffs: list[str] = []
    while True:
        status, body = replica.proc.get("/debug/cache")
        if status != 200:
            diffs = [f"GET /debug/cache on {replica.name}: HTTP {status} {body[:200]!r}"]
            if status == 404:
                break  # no such endpoint (an older scheduler): waiting will not change that
        else:
            pods = cluster.list_pods()
            diffs = _cache_diff(json.loads(body), pods)
        if not diffs or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    for d in diffs:
        rep.add("cache", d)
    rep.stats["cache_diff_nodes"] = len(diffs)


def audit_stats(cluster: Cluster, records: list[AuditRecord]) -> dict[str, Any]:
    users = {r.username: r.name for r in cluster.replicas}
    per: dict[str, Counter[str]] = defaultdict(Counter)
    for r in records:
        name = users.get(r.username)
        if name is None:
            continue
        kind = ("binding" if r.is_binding else "status" if r.is_pod_status_write
                else "delete" if r.is_pod_delete else "lease" if r.is_lease_write else "other")
        per[name][f"{kind}:{r.code}"] += 1
    return {k: dict(sorted(v.items())) for k, v in per.items()}


def check(cluster: Cluster, *, settle_timeout: float = 60.0, cache_timeout: float = 30.0
          ) -> Report:
    """Settle, compare the cache (polled), then check everything else on the final state."""
    rep = Report()
    rep.stats["settle_s"] = round(settle(cluster, settle_timeout), 1)
    leader: Replica | None
    try:
        leader = cluster.leader(timeout=30)
    except AssertionError:
        leader = None
    check_cache(rep, cluster, leader, cache_timeout)
    # The final state, after the cache check's wait: every write made until now counts.
    pods, nodes = cluster.list_pods(), cluster.list_nodes()
    records = cluster.cp.audit_records()
    for problem in pending_problems(cluster, pods, nodes):
        rep.add("pending", problem)
    check_exactly_once(rep, cluster, pods, records)
    check_overcommit(rep, pods, nodes)
    if cluster.leader_elect:
        check_leadership(rep, cluster, records)
    rep.stats["audit"] = audit_stats(cluster, records)
    return rep
