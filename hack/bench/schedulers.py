"""The two schedulers under test, started the same way against the same control plane.

Contract:
* Both get the admin kubeconfig (system:masters is exempt from API Priority and Fairness, so
  neither is throttled by the server; only its own client-side QPS/burst limits it), the same
  ``clientConnection.qps/burst``, leader election off, and one profile named
  :data:`~hack.bench.workloads.SCHEDULER_NAME`.
* kube-scheduler runs its default plugin set (what its users get) unless ``match_profiles``
  asks for it to disable the same plugins pyscheduler lacks. pyscheduler runs its default
  profile minus the default plugins that are not registered yet (it refuses to start with an
  unregistered default plugin); :func:`missing_default_plugins` names them for the report.
* Processes die with the harness (see envtest._process) and log to a file in the
  run's folder.
"""

from __future__ import annotations

import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from envtest._process import Process, spawn
from hack.bench.workloads import GANG_KUBE_SCHEDULER_GATES, GANG_PLUGIN, SCHEDULER_NAME

KUBE_SCHEDULER = "kube-scheduler"
PYSCHEDULER = "pyscheduler"
# Not a scheduler: hack/bench/bind_ceiling.py binds round robin with pyscheduler's informers
# and API dispatcher, the most any scheduler on this client can reach here.
BIND_CEILING = "bind-ceiling"
# The ceiling that also writes each pod's Scheduled event (what both schedulers write for a
# pod that fits): not in the default run, which keeps the bind-only ceiling.
BIND_EVENT_CEILING = "bind-event-ceiling"
SCHEDULERS = (KUBE_SCHEDULER, PYSCHEDULER, BIND_CEILING)
CEILINGS = (BIND_CEILING, BIND_EVENT_CEILING)
REPO = Path(__file__).resolve().parents[2]


def registered_plugins() -> set[str]:
    from pyscheduler.plugins.registry import default_registry

    return set(default_registry())


def missing_default_plugins() -> list[str]:
    """Upstream default plugins that pyscheduler does not register (yet)."""
    from pyscheduler.config.defaults import DEFAULT_MULTI_POINT

    have = registered_plugins()
    return [name for name, _ in DEFAULT_MULTI_POINT if name not in have]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def scheduler_config(kubeconfig: Path, qps: float, burst: int, disabled: list[str],
                     enabled: tuple[str, ...] = ()) -> dict[str, Any]:
    """A KubeSchedulerConfiguration both schedulers accept."""
    profile: dict[str, Any] = {"schedulerName": SCHEDULER_NAME}
    multi: dict[str, Any] = {}
    if enabled:
        multi["enabled"] = [{"name": n} for n in enabled]
    if disabled:
        multi["disabled"] = [{"name": n} for n in disabled]
    if multi:
        profile["plugins"] = {"multiPoint": multi}
    return {
        "apiVersion": "kubescheduler.config.k8s.io/v1",
        "kind": "KubeSchedulerConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig), "qps": qps, "burst": burst},
        "leaderElection": {"leaderElect": False},
        "profiles": [profile],
    }


@dataclass(slots=True)
class SchedulerProcess:
    name: str
    process: Process
    config_path: Path

    @property
    def pid(self) -> int:
        pid = self.process.pid
        if pid is None:
            raise RuntimeError(f"{self.name} has no pid")
        return pid

    def alive(self) -> bool:
        return self.process.alive()

    def stop(self) -> None:
        self.process.stop(timeout=15)

    def tail(self, lines: int = 30) -> str:
        return self.process.tail(lines)


def start(name: str, *, assets: Path, kubeconfig: Path, qps: float, burst: int,
          run_dir: Path, match_profiles: bool = False, gang: bool = False) -> SchedulerProcess:
    """Start kube-scheduler, pyscheduler or the bind ceiling; returns at once (readiness is
    the caller's). ``gang``: upstream's gang scheduling on (kube-scheduler: the
    GenericWorkload gate, which puts GangScheduling in its default profile; pyscheduler: the
    plugin enabled by name, as it has no feature gates)."""
    missing = missing_default_plugins()
    disabled = missing if (name == PYSCHEDULER or match_profiles) else []
    enabled = (GANG_PLUGIN,) if gang and name == PYSCHEDULER else ()
    cfg = scheduler_config(kubeconfig, qps, burst, disabled, enabled)
    config_path = run_dir / f"{name}-config.yaml"
    config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    log_path = run_dir / f"{name}.log"
    if name == KUBE_SCHEDULER:
        argv = [
            str(assets / "kube-scheduler"),
            f"--config={config_path}",
            # No serving endpoint: nothing scrapes it, and it needs no certificates then.
            "--secure-port=0",
            "--v=1",
        ]
        if gang:
            argv.append(f"--feature-gates={GANG_KUBE_SCHEDULER_GATES}")
    elif name == PYSCHEDULER:
        # Fail here, with the loader's message, rather than in a child's log.
        from pyscheduler.config import load_config
        from pyscheduler.plugins.registry import default_registry

        load_config(str(config_path), plugins=default_registry())
        argv = [
            sys.executable, "-m", "pyscheduler", "--log-level", "info", "run",
            "--kubeconfig", str(kubeconfig),
            "--config", str(config_path),
            "--leader-elect", "false",
            "--secure-port", "0",
            "--bind-address-insecure", f"127.0.0.1:{_free_port()}",
            "--kube-api-qps", str(qps),
            "--kube-api-burst", str(burst),
        ]
    elif name in CEILINGS:
        argv = [sys.executable, "-m", "hack.bench.bind_ceiling", "--kubeconfig", str(kubeconfig),
                "--qps", str(qps), "--burst", str(burst)]
        if name == BIND_EVENT_CEILING:
            argv.append("--events")
    else:
        raise ValueError(f"unknown scheduler {name!r}")
    proc = spawn(name, argv, log_path)
    return SchedulerProcess(name, proc, config_path)
