"""The two schedulers under comparison, each long-running for the whole session.

* :class:`KubeScheduler`: the real kube-scheduler binary (hack/build-components.sh
  kube-scheduler), one profile per key of ``scenario.PROFILES`` named ``kube-<key>``, with the
  log verbosity that :mod:`kube_log` needs. Its "view" (nodes and bound pods it has seen) comes
  from that log.
* :class:`PyScheduler`: pyscheduler's ``SchedulerApp`` in-process, on its own thread and event
  loop, with the scheduler identity's kubeconfig, profiles ``py-<key>``. In-process so the runner
  can read its cache directly and wait until it has seen exactly a phase's nodes and pods; the
  app is the one ``pyscheduler run`` builds, without the health server and leader election.

Both get the same profiles: upstream's default plugins with the same pluginConfig. pyscheduler's
profiles disable the default plugins it does not register yet (see :func:`missing_defaults`);
scenarios that depend on one of them are expected failures until it exists (conftest.py).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from envtest import ControlPlane
from envtest._process import Process, spawn
from pyscheduler.config.defaults import DEFAULT_MULTI_POINT
from pyscheduler.plugins.registry import default_registry

from .kube_log import KubeSchedulerLog
from .scenario import PROFILES

T = TypeVar("T")

KUBE_PREFIX = "kube-"
PY_PREFIX = "py-"


def missing_defaults(registered: set[str]) -> list[str]:
    """Upstream default plugins that pyscheduler has not registered (yet)."""
    return [name for name, _ in DEFAULT_MULTI_POINT if name not in registered]


def _profile(prefix: str, key: str, disabled: list[str],
             enabled: Sequence[str] = ()) -> dict[str, Any]:
    prof: dict[str, Any] = {"schedulerName": f"{prefix}{key}"}
    config = [pc for pc in PROFILES[key] if pc["name"] not in disabled]
    if config:
        prof["pluginConfig"] = config
    multi: dict[str, Any] = {}
    if enabled:
        multi["enabled"] = [{"name": n} for n in enabled]
    if disabled:
        multi["disabled"] = [{"name": n} for n in disabled]
    if multi:
        prof["plugins"] = {"multiPoint": multi}
    return prof


def kube_scheduler_config(kubeconfig: Path) -> str:
    doc = {
        "apiVersion": "kubescheduler.config.k8s.io/v1",
        "kind": "KubeSchedulerConfiguration",
        "leaderElection": {"leaderElect": False},
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "profiles": [_profile(KUBE_PREFIX, key, []) for key in PROFILES],
    }
    return yaml.safe_dump(doc, sort_keys=False)


def pyscheduler_config(registered: set[str], enabled: Sequence[str] = ()) -> str:
    """pyscheduler's configuration; ``enabled``: plugins every profile adds (pyscheduler has no
    feature gates, so what a gate adds to upstream's default profile is enabled by name)."""
    disabled = missing_defaults(registered)
    doc = {
        "apiVersion": "kubescheduler.config.k8s.io/v1",
        "kind": "KubeSchedulerConfiguration",
        "leaderElection": {"leaderElect": False},
        "profiles": [_profile(PY_PREFIX, key, disabled, enabled) for key in PROFILES],
        # pyscheduler's preemption courtesy (only its own profiles' pods are victims) is a
        # documented departure; upstream's rule, which the comparison needs, is ["*"].
        "pyscheduler": {"preemption": {"allowedSchedulerNames": ["*"]}},
    }
    return yaml.safe_dump(doc, sort_keys=False)


class SchedulerDied(RuntimeError):
    """A scheduler under test is not running any more."""


class KubeScheduler:
    def __init__(self, cp: ControlPlane, binary: Path, work: Path,
                 feature_gates: str = "") -> None:
        work.mkdir(parents=True, exist_ok=True)
        self.config_path = work / "kube-scheduler.yaml"
        self.config_path.write_text(kube_scheduler_config(cp.admin_kubeconfig))
        self.log_path = work / "kube-scheduler.log"
        self.log = KubeSchedulerLog(self.log_path)
        argv = [
            str(binary),
            f"--config={self.config_path}",
            # No serving: parallel sessions on one machine would fight over port 10259.
            "--secure-port=0",
            "-v=1",
            "--vmodule=schedule_one=10,eventhandlers=3,default_preemption=5,preemption=2",
        ]
        if feature_gates:
            argv.append(f"--feature-gates={feature_gates}")
        self.process: Process = spawn("kube-scheduler", argv, self.log_path)

    def check_alive(self) -> None:
        if not self.process.alive():
            raise SchedulerDied(f"kube-scheduler exited ({self.process.returncode()}); "
                                f"last lines of {self.log_path}:\n{self.process.tail()}")

    def poll(self) -> KubeSchedulerLog:
        self.check_alive()
        self.log.poll()
        return self.log

    def stop(self) -> None:
        self.process.stop(timeout=10)


def logged_errors(log_path: Path, pod_key: str) -> list[str]:
    """The error-level events of a pyscheduler JSON log for ``pod_key`` (namespace/name), each
    "<event>: <last line of its exception>": why a pod pyscheduler left pending never got a
    condition (an internal error is retried with backoff, not reported as Unschedulable)."""
    out: list[str] = []
    with log_path.open() as f:
        for line in f:
            if pod_key not in line:
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("pod") != pod_key or rec.get("level") != "error":
                continue
            exc = str(rec.get("exception") or "").strip().splitlines()
            out.append(f"{rec.get('event')}: {exc[-1]}" if exc else str(rec.get("event")))
    return out


class _LogSink:
    """The one file structlog writes to in this process while in-process schedulers run.

    structlog's configuration is global and its loggers cache their output on first use, so a
    logger first used while one scheduler's log file was configured would keep writing to that
    file after it is closed (the gated differential runs a second in-process pyscheduler). The
    sink never closes: it writes to the newest running scheduler's file, else to stderr."""

    def __init__(self) -> None:
        self.targets: list[Any] = []

    def write(self, text: str) -> int:
        import sys

        out = self.targets[-1] if self.targets else sys.stderr
        return int(out.write(text))

    def flush(self) -> None:
        import sys

        (self.targets[-1] if self.targets else sys.stderr).flush()


_SINK = _LogSink()


class PyScheduler:
    """pyscheduler's SchedulerApp on a thread of its own (see module doc)."""

    def __init__(self, kubeconfig: Path, config_text: str, log_path: Path) -> None:
        self.kubeconfig = kubeconfig
        self.config_text = config_text
        self.log_path = log_path
        self.loop = asyncio.new_event_loop()
        self.app: Any = None
        self.error: str | None = None
        self._stop: asyncio.Event | None = None
        self._log_file: Any = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._main, name="pyscheduler", daemon=True)

    def start(self, timeout: float = 60.0) -> None:
        import structlog

        from pyscheduler.cmd import logsetup as pslog

        # Its log goes to a file of its own, not into whichever test's output is captured
        # (through the shared sink: while two run, the newer one's file gets both).
        pslog.configure("info", json=True)
        self._log_file = self.log_path.open("a", buffering=1)
        _SINK.targets.append(self._log_file)
        structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=_SINK))
        self._thread.start()
        if not self._started.wait(timeout):
            raise SchedulerDied("pyscheduler did not sync its informers in time")
        if self.error:
            raise SchedulerDied(f"pyscheduler failed to start:\n{self.error}")

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._run())
        except BaseException:
            self.error = traceback.format_exc()
        finally:
            self._started.set()
            self.loop.close()

    async def _run(self) -> None:
        from pyscheduler.api.client import new_api_client
        from pyscheduler.config import parse_config
        from pyscheduler.scheduler.scheduler import SchedulerApp

        reg = default_registry()
        config = parse_config(self.config_text, plugins=reg)
        client = await new_api_client(self.kubeconfig)
        try:
            self.app = SchedulerApp(client, config, registry=reg)
            self._stop = asyncio.Event()
            run = asyncio.create_task(self.app.run(self._stop), name="pyscheduler-app")
            # SchedulerApp.run has no "synced" signal to wait on but its flag: poll it.
            while not self.app.synced and not run.done():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            self._started.set()
            await run
        finally:
            await client.close()

    def errors_for(self, pod_key: str) -> list[str]:
        """The errors pyscheduler logged for ``pod_key`` (see :func:`logged_errors`)."""
        return logged_errors(self.log_path, pod_key)

    def check_alive(self) -> None:
        if self.error or not self._thread.is_alive():
            raise SchedulerDied(f"pyscheduler stopped:\n{self.error or '(no error recorded)'}")

    def call(self, fn: Callable[[Any], T], timeout: float = 10.0) -> T:
        """``fn(app)`` on the scheduler's loop, between two handler calls or cycles."""
        self.check_alive()

        async def run() -> T:
            return fn(self.app)

        fut = asyncio.run_coroutine_threadsafe(run(), self.loop)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError as e:
            raise SchedulerDied("pyscheduler's event loop did not answer in time") from e

    def stop(self, timeout: float = 30.0) -> None:
        if self._stop is not None and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
        if self._log_file is not None:
            if self._log_file in _SINK.targets:
                _SINK.targets.remove(self._log_file)
            self._log_file.close()
