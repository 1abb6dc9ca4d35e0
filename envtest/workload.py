"""Workloads for the test control plane: pod manifests, fast concurrent creation, and a
``pyscheduler run`` subprocess.

Shared by the end-to-end tests (tests/integration/test_scheduler_e2e.py), ``make demo``
(hack/demo.py) and the benchmarks, so that they all create pods the same way.

Contract:
* ``pod_manifest`` builds a plain pod the API server accepts; every keyword maps to one pod field.
* ``create_pods`` posts pods ``concurrency`` at a time through the admin identity (one
  keep-alive connection per worker thread) and returns the created objects in input order.
* ``SchedulerProcess`` runs ``python -m pyscheduler run`` with the scheduler's own identity
  (the RBAC of manifests/base/rbac.yaml), logs to a file, and stops it with a chosen signal. With
  ``source`` it runs the pyscheduler package found in that directory (another checkout, e.g.
  an old commit's ``git worktree``) instead of the installed one.
"""

from __future__ import annotations

import concurrent.futures
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from envtest.control_plane import ControlPlane

PAUSE_IMAGE = "registry.k8s.io/pause:3.10"


def pod_manifest(
    name: str,
    *,
    scheduler_name: str = "pyscheduler",
    cpu: str | None = "100m",
    memory: str | None = "64Mi",
    extended: Mapping[str, str | int] | None = None,
    labels: Mapping[str, str] | None = None,
    node_selector: Mapping[str, str] | None = None,
    node_name: str | None = None,
    priority: int | None = None,
    tolerations: Sequence[Mapping[str, Any]] | None = None,
    host_port: int | None = None,
    scheduling_gates: Sequence[str] = (),
    extra_spec: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A single-container pod; requests are omitted when ``cpu``/``memory`` are None."""
    requests: dict[str, str] = {}
    if cpu is not None:
        requests["cpu"] = cpu
    if memory is not None:
        requests["memory"] = memory
    limits: dict[str, str] = {}
    for res, qty in (extended or {}).items():
        # Extended resources must have requests == limits (API validation).
        requests[res] = limits[res] = str(qty)
    container: dict[str, Any] = {"name": "c", "image": PAUSE_IMAGE}
    if requests:
        container["resources"] = {"requests": requests, **({"limits": limits} if limits else {})}
    if host_port is not None:
        container["ports"] = [{"containerPort": host_port, "hostPort": host_port}]
    spec: dict[str, Any] = {
        "schedulerName": scheduler_name,
        "containers": [container],
        # kwok deletes at once; a grace period would only slow tests down.
        "terminationGracePeriodSeconds": 0,
    }
    if node_selector:
        spec["nodeSelector"] = dict(node_selector)
    if node_name:
        spec["nodeName"] = node_name
    if priority is not None:
        spec["priority"] = priority
    if tolerations:
        spec["tolerations"] = [dict(t) for t in tolerations]
    if scheduling_gates:
        spec["schedulingGates"] = [{"name": g} for g in scheduling_gates]
    if extra_spec:
        spec.update(extra_spec)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": dict(labels or {})},
        "spec": spec,
    }


def create_pods(
    cp: ControlPlane,
    namespace: str,
    pods: Iterable[Mapping[str, Any]],
    *,
    concurrency: int = 16,
) -> list[dict[str, Any]]:
    """POST every pod into ``namespace``; return the created objects in input order."""
    bodies = list(pods)
    if not bodies:
        return []
    path = f"/api/v1/namespaces/{namespace}/pods"
    with concurrent.futures.ThreadPoolExecutor(
        max_workers=max(1, min(concurrency, len(bodies))), thread_name_prefix="envtest-pods"
    ) as pool:
        return list(pool.map(lambda b: cp.request("POST", path, b), bodies))


def list_pods(
    cp: ControlPlane, namespace: str, *, label_selector: str = ""
) -> list[dict[str, Any]]:
    query = {"labelSelector": label_selector} if label_selector else None
    items: list[dict[str, Any]] = cp.request(
        "GET", f"/api/v1/namespaces/{namespace}/pods", query=query
    )["items"]
    return items


def list_events(cp: ControlPlane, namespace: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = cp.request(
        "GET", f"/apis/events.k8s.io/v1/namespaces/{namespace}/events"
    )["items"]
    return items


def pod_condition(pod: Mapping[str, Any], ctype: str) -> dict[str, Any] | None:
    for c in pod.get("status", {}).get("conditions", []) or []:
        if c.get("type") == ctype:
            return dict(c)
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class SchedulerProcess:
    """``python -m pyscheduler run`` as a child process, with its log in ``log_path``."""

    kubeconfig: Path
    log_path: Path
    config: Path | None = None
    extra_args: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    metrics_port: int = field(default_factory=free_port)
    leader_elect: bool = False
    # A directory holding a pyscheduler package to run instead of the installed one.
    source: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    def start(self, *, wait_ready: bool = True, timeout: float = 60.0) -> SchedulerProcess:
        args = [sys.executable, "-m", "pyscheduler", "run", "--kubeconfig", str(self.kubeconfig),
                "--leader-elect", "true" if self.leader_elect else "false",
                # Plain HTTP on loopback for the harness; no secure port, so that any number
                # of schedulers can run side by side (tests/integration/test_secure_serving.py
                # covers the secure port).
                "--secure-port", "0",
                "--bind-address-insecure", f"127.0.0.1:{self.metrics_port}"]
        if self.config is not None:
            args += ["--config", str(self.config)]
        args += list(self.extra_args)
        env = {**os.environ, **self.env}
        cwd: Path | None = None
        if self.source is not None:
            # PYTHONPATH precedes the editable install's finder; the working directory (first
            # on sys.path with -m) must not be a checkout with another pyscheduler in it.
            env["PYTHONPATH"] = os.pathsep.join(
                [str(self.source), *filter(None, [env.get("PYTHONPATH", "")])])
            cwd = self.source
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            args, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=cwd,
        )
        if wait_ready:
            self.wait_ready(timeout)
        return self

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` (SIGSTOP, SIGCONT, SIGKILL, ...) without waiting."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def get(self, path: str) -> tuple[int, str]:
        """GET ``path`` on the metrics/health port: (status, body); (0, "") if unreachable."""
        return self._get(path)

    def _get(self, path: str) -> tuple[int, str]:
        url = f"http://127.0.0.1:{self.metrics_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode(errors="replace")
        except OSError:
            return 0, ""

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"pyscheduler exited with {self.proc.returncode}:\n"
                                   f"{self.tail()}")
            if self._get("/readyz")[0] == 200:
                return
            time.sleep(0.1)
        raise RuntimeError(f"pyscheduler not ready after {timeout}s:\n{self.tail()}")

    def metrics(self) -> str:
        return self._get("/metrics")[1]

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 60.0) -> int:
        """Send ``sig`` and wait for exit; returns the exit code (killed after ``timeout``)."""
        rc = 0
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(sig)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            rc = self.proc.returncode
        if self._log is not None:
            self._log.close()
            self._log = None
        return rc

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "<no log>"

    def __enter__(self) -> SchedulerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop(signal.SIGKILL if exc[0] is not None else signal.SIGTERM)


def runnable_config_yaml(*, scheduler_name: str = "pyscheduler", extra: str = "") -> str:
    """The default profile, minus any upstream default plugin this build has not registered.

    The default profile refuses to load while a default plugin is missing (it names the plugin
    and says to disable it explicitly). Tests and the demo use this so that they exercise every
    plugin that exists; once all are registered the result is exactly the default profile.
    """
    from pyscheduler.config.defaults import MULTI_POINT, default_plugins
    from pyscheduler.plugins.registry import default_registry

    reg = default_registry()
    missing = [e.name for e in default_plugins().get(MULTI_POINT).enabled if e.name not in reg]
    lines = [
        "apiVersion: kubescheduler.config.k8s.io/v1",
        "kind: KubeSchedulerConfiguration",
        "leaderElection:",
        "  leaderElect: false",
        "profiles:",
        f"- schedulerName: {scheduler_name}",
    ]
    if missing:
        lines += ["  plugins:", "    multiPoint:", "      disabled:"]
        lines += [f"      - name: {name}" for name in missing]
    return "\n".join(lines) + "\n" + extra
