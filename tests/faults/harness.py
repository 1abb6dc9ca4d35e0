"""The fault suite's harness: a control plane with an audit log, scheduler replicas as child
processes, each under its own ServiceAccount, pod bursts, and the faults themselves.

One :class:`Cluster` per scenario (a fresh control plane: ~3 s, a clean audit log, no other
test's nodes). Every ``pyscheduler run`` process gets its own identity
(``ControlPlane.add_scheduler_identity``), so the apiserver's audit log says which process
sent each binding, status patch, delete and lease write. :mod:`.invariants` reads that log
and the API at the end of the scenario.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envtest import ApiError, ControlPlane, ControlPlaneOptions
from envtest.workload import (
    SchedulerProcess,
    list_pods,
    pod_manifest,
    runnable_config_yaml,
)

LEASE_NAME = "pyscheduler"  # the shipped Role may restrict leases to this name
LEASE_NAMESPACE = "pyscheduler-system"
LEASE_PATH = f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases/{LEASE_NAME}"


@dataclass(frozen=True, slots=True)
class LeaseTiming:
    duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


UPSTREAM_LEASE = LeaseTiming()
# Short durations keep the default suite fast; the same ordering (lease > renew > retry).
SHORT_LEASE = LeaseTiming(6.0, 4.0, 1.0)


def scheduler_config(lease: LeaseTiming) -> str:
    base = runnable_config_yaml()
    block = (
        "leaderElection:\n"
        "  leaderElect: false\n"
        f"  leaseDuration: {lease.duration:g}s\n"
        f"  renewDeadline: {lease.renew_deadline:g}s\n"
        f"  retryPeriod: {lease.retry_period:g}s\n"
        "  resourceLock: leases\n"
        f"  resourceName: {LEASE_NAME}\n"
        f"  resourceNamespace: {LEASE_NAMESPACE}\n"
    )
    assert "leaderElection:\n  leaderElect: false\n" in base, base
    return base.replace("leaderElection:\n  leaderElect: false\n", block)


@dataclass(eq=False)
class Replica:
    """One ``pyscheduler run`` process under its own ServiceAccount."""

    name: str
    username: str
    proc: SchedulerProcess
    started_at: float = 0.0
    # Wall-clock times (epoch seconds) of the faults done to it, for the report.
    killed_at: float | None = None
    stopped_at: float | None = None
    continued_at: float | None = None
    # The supervisor started a successor after this one exited.
    replaced: bool = False

    @property
    def log_path(self) -> Path:
        return self.proc.log_path

    def alive(self) -> bool:
        return self.proc.alive()

    def ready(self) -> bool:
        return self.proc.get("/readyz")[0] == 200

    def exit_code(self) -> int | None:
        return self.proc.proc.poll() if self.proc.proc is not None else None


@dataclass
class TrackedPod:
    namespace: str
    name: str
    uid: str
    created_at: float
    deleted_at: float | None = None


@dataclass
class Cluster:
    """A control plane with audit log, a namespace, nodes, replicas and tracked pods."""

    cp: ControlPlane
    namespace: str
    artifacts: Path
    source: Path | None
    replicas: list[Replica] = field(default_factory=list)
    pods: dict[str, TrackedPod] = field(default_factory=dict)  # by UID
    notes: dict[str, Any] = field(default_factory=dict)
    leader_elect: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _counter: int = 0
    _supervisor: threading.Thread | None = None
    _supervise: threading.Event = field(default_factory=threading.Event)
    _restart_spec: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def start(cls, artifacts: Path, *, source: Path | None = None,
              apiserver_extra_flags: Sequence[str] = ()) -> Cluster:
        cp = ControlPlane.start(ControlPlaneOptions(
            audit=True, apiserver_extra_flags=tuple(apiserver_extra_flags)))
        try:
            ns = cp.create_namespace("faults-")
        except BaseException:
            cp.stop()
            raise
        artifacts.mkdir(parents=True, exist_ok=True)
        return cls(cp=cp, namespace=ns, artifacts=artifacts, source=source)

    def close(self, *, keep_artifacts: bool) -> None:
        self._supervise.clear()
        if self._supervisor is not None:
            self._supervisor.join(5)
        for r in self.replicas:
            r.proc.send_signal(signal.SIGCONT)
            r.proc.stop(signal.SIGKILL, timeout=10)
        if keep_artifacts:
            for component in ("kube-apiserver", "kwok", "etcd"):
                with contextlib.suppress(OSError):
                    shutil.copy(self.cp.log_path(component), self.artifacts)
            with contextlib.suppress(OSError):
                shutil.copy(self.cp.audit_log_path, self.artifacts)
        self.cp.stop()

    # ------------------------------------------------------------------ nodes

    def nodes(self, n: int, *, cpu: str = "4", memory: str = "16Gi", pods: int = 10,
              prefix: str = "node-") -> list[str]:
        return self.cp.create_nodes(n, cpu=cpu, memory=memory, pods=pods, name_prefix=prefix,
                                    start_index=self._bump(n))

    def _bump(self, n: int) -> int:
        with self._lock:
            start = self._counter
            self._counter += n
        return start

    # ------------------------------------------------------------------ schedulers

    def scheduler(self, *, leader_elect: bool = False, lease: LeaseTiming = SHORT_LEASE,
                  qps: float = 100, burst: int = 200, wait_ready: bool = True) -> Replica:
        """Start one replica (a new ServiceAccount ``sched-<n>``) and, by default, wait until
        it is ready (informers synced and, with leader election, leading)."""
        self.leader_elect = self.leader_elect or leader_elect
        index = len(self.replicas)
        name = f"sched-{index}"
        ident = self.cp.add_scheduler_identity(name)
        config = self.artifacts / f"{name}.yaml"
        config.write_text(scheduler_config(lease))
        proc = SchedulerProcess(
            ident.kubeconfig, self.artifacts / f"{name}.log", config=config,
            extra_args=("--kube-api-qps", f"{qps:g}", "--kube-api-burst", str(burst)),
            leader_elect=leader_elect, source=self.source,
        )
        replica = Replica(name=name, username=ident.username, proc=proc)
        self.replicas.append(replica)
        replica.started_at = time.time()
        proc.start(wait_ready=False)
        self._restart_spec = {"leader_elect": leader_elect, "lease": lease, "qps": qps,
                              "burst": burst}
        if wait_ready:
            self.wait_ready(replica)
        return replica

    def wait_ready(self, replica: Replica, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not replica.alive():
                raise AssertionError(
                    f"{replica.name} exited with {replica.exit_code()}:\n{replica.proc.tail()}")
            if replica.ready():
                return
            time.sleep(0.2)
        raise AssertionError(f"{replica.name} not ready after {timeout}s:\n{replica.proc.tail()}")

    def leader(self, timeout: float = 60.0) -> Replica:
        """The replica that answers /readyz (with leader election: the one leading)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for r in self.replicas:
                if r.alive() and r.stopped_at is None and r.ready():
                    return r
            time.sleep(0.2)
        raise AssertionError(f"no ready replica after {timeout}s: " + "; ".join(
            f"{r.name} alive={r.alive()} rc={r.exit_code()}" for r in self.replicas))

    def supervise(self) -> None:
        """Restart replicas that exit, as a Deployment would (a deposed leader exits non-zero
        by contract). Each restart is a new process under a new identity."""
        if self._supervisor is not None:
            return
        self._supervise.set()

        def loop() -> None:
            while self._supervise.is_set():
                for r in list(self.replicas):
                    if r.proc.proc is not None and not r.alive() and r.killed_at is None \
                            and not r.replaced:
                        r.replaced = True
                        with contextlib.suppress(Exception):
                            self.scheduler(wait_ready=False, **self._restart_spec)
                time.sleep(1.0)

        self._supervisor = threading.Thread(target=loop, name="faults-supervisor", daemon=True)
        self._supervisor.start()

    def kill(self, replica: Replica) -> None:
        replica.killed_at = time.time()
        replica.proc.send_signal(signal.SIGKILL)
        if replica.proc.proc is not None:
            replica.proc.proc.wait(10)

    def sigstop(self, replica: Replica) -> None:
        replica.stopped_at = time.time()
        replica.proc.send_signal(signal.SIGSTOP)

    def sigcont(self, replica: Replica) -> None:
        replica.continued_at = time.time()
        replica.proc.send_signal(signal.SIGCONT)

    # ------------------------------------------------------------------ lease

    def lease_holder(self) -> str:
        try:
            lease = self.cp.request("GET", LEASE_PATH)
        except ApiError as e:
            if e.status == 404:
                return ""
            raise
        return str((lease.get("spec") or {}).get("holderIdentity") or "")

    def wait_lease_taken_from(self, holder: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            h = self.lease_holder()
            if h and h != holder:
                return h
            time.sleep(0.2)
        raise AssertionError(f"lease still held by {holder!r} after {timeout}s")

    # ------------------------------------------------------------------ pods

    def _track(self, created: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        out = list(created)
        now = time.time()
        with self._lock:
            for p in out:
                m = p["metadata"]
                self.pods[m["uid"]] = TrackedPod(m["namespace"], m["name"], m["uid"], now)
        return out

    def create(self, names: Sequence[str], *, cpu: str = "400m", memory: str = "256Mi",
               concurrency: int = 16) -> list[dict[str, Any]]:
        """Create pods, riding out an apiserver restart (retries until it answers again)."""
        bodies = [pod_manifest(n, cpu=cpu, memory=memory) for n in names]
        path = f"/api/v1/namespaces/{self.namespace}/pods"

        def one(body: dict[str, Any]) -> dict[str, Any]:
            deadline = time.monotonic() + 120
            while True:
                try:
                    created: dict[str, Any] = self.cp.request("POST", path, body)
                    return created
                except ApiError as e:
                    if e.status == 409:
                        # Created by an attempt whose answer was lost in a restart.
                        got: dict[str, Any] = self.cp.request(
                            "GET", f"{path}/{body['metadata']['name']}")
                        return got
                    if e.status < 429 or time.monotonic() > deadline:
                        raise
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                time.sleep(0.2)

        if not bodies:
            return []
        with concurrent.futures.ThreadPoolExecutor(
                min(concurrency, len(bodies)), thread_name_prefix="faults-pods") as pool:
            return self._track(pool.map(one, bodies))

    def burst(self, prefix: str, n: int, **kwargs: Any) -> list[dict[str, Any]]:
        return self.create([f"{prefix}{i}" for i in range(n)], **kwargs)

    def burst_in_background(self, prefix: str, n: int, **kwargs: Any
                            ) -> concurrent.futures.Future[list[dict[str, Any]]]:
        pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="faults-burst")
        fut = pool.submit(self.burst, prefix, n, **kwargs)
        pool.shutdown(wait=False)
        return fut

    def delete(self, pods: Iterable[dict[str, Any]], *, grace: int = 0) -> None:
        """Delete these pod objects (by UID precondition), concurrently."""
        items = list(pods)

        def one(p: dict[str, Any]) -> None:
            m = p["metadata"]
            body = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": grace,
                    "preconditions": {"uid": m["uid"]}}
            try:
                self.cp.request("DELETE", f"/api/v1/namespaces/{m['namespace']}/pods/"
                                f"{m['name']}", body)
            except ApiError as e:
                if e.status not in (404, 409):
                    raise
            with self._lock:
                t = self.pods.get(m["uid"])
                if t is not None and t.deleted_at is None:
                    t.deleted_at = time.time()

        with concurrent.futures.ThreadPoolExecutor(8, thread_name_prefix="faults-del") as pool:
            list(pool.map(one, items))

    def bind(self, pod: dict[str, Any], node: str) -> int:
        """An out-of-band bind as admin, with the pod's UID; returns the HTTP status."""
        m = pod["metadata"]
        body = {"apiVersion": "v1", "kind": "Binding",
                "metadata": {"name": m["name"], "namespace": m["namespace"], "uid": m["uid"]},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
        try:
            self.cp.request("POST", f"/api/v1/namespaces/{m['namespace']}/pods/{m['name']}"
                            "/binding", body)
        except ApiError as e:
            return e.status
        return 201

    def list_pods(self) -> list[dict[str, Any]]:
        return list_pods(self.cp, self.namespace)

    def bound(self) -> list[dict[str, Any]]:
        return [p for p in self.list_pods() if p["spec"].get("nodeName")]

    def wait_bound(self, n: int, timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        got: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            got = self.bound()
            if len(got) >= n:
                return got
            time.sleep(0.2)
        raise AssertionError(f"only {len(got)} of {n} pods bound after {timeout}s")

    def list_nodes(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.cp.request("GET", "/api/v1/nodes")["items"]
        return items

    def free_pod_slots(self) -> int:
        """Free "pods" capacity left on existing nodes by the API's bound non-terminal pods."""
        nodes = {n["metadata"]["name"]: int(n["status"]["allocatable"]["pods"])
                 for n in self.list_nodes()}
        for p in self.list_pods():
            node = p["spec"].get("nodeName")
            if node in nodes and p.get("status", {}).get("phase") not in ("Succeeded", "Failed"):
                nodes[node] -= 1
        return sum(max(0, v) for v in nodes.values())

    # ------------------------------------------------------------------ diagnostics

    def scheduler_log_events(self, replica: Replica, event: str) -> list[dict[str, Any]]:
        out = []
        with contextlib.suppress(OSError):
            for line in replica.log_path.read_text(errors="replace").splitlines():
                if event not in line:
                    continue
                with contextlib.suppress(ValueError):
                    rec = json.loads(line)
                    if rec.get("event") == event:
                        out.append(rec)
        return out


def env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0", "false", "no")
