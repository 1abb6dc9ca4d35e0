"""Command line: ``pyscheduler run | version`` (also ``python -m pyscheduler``).

``dry-run`` is not implemented yet (see docs/ARCHITECTURE.md, "Status").

Contract: ``run`` schedules until SIGTERM/SIGINT, then finishes in-flight binds and exits 0;
losing the leader lease exits non-zero at once (the Deployment restarts us). Configuration
errors exit 2 with the offending field named.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

import structlog

from pyscheduler import __version__
from pyscheduler.cmd import logsetup as pslog

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient

    from pyscheduler.config import SchedulerConfig
    from pyscheduler.framework.registry import Registry
    from pyscheduler.operator.kopf_thread import KopfThread
    from pyscheduler.scheduler.scheduler import SchedulerApp

log = structlog.get_logger(__name__)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pyscheduler",
        description="A secondary Kubernetes scheduler with kube-scheduler semantics.",
    )
    p.add_argument("--log-level", default=os.environ.get("PYSCHEDULER_LOG_LEVEL", "info"))
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="schedule pods whose schedulerName names one of our profiles")
    run.add_argument("--kubeconfig", default=None, help="kubeconfig path (default: in-cluster)")
    run.add_argument("--config", default=None,
                     help="KubeSchedulerConfiguration YAML (default: the built-in profile)")
    run.add_argument("--config-map", default=None, metavar="NAMESPACE/NAME",
                     help="read the KubeSchedulerConfiguration from this ConfigMap and "
                          "hot-reload it on every change (exclusive with --config)")
    run.add_argument("--config-map-key", default="config.yaml",
                     help="the ConfigMap key holding the configuration (default: config.yaml)")
    run.add_argument("--watch-config", choices=("true", "false"), default="false",
                     help="hot-reload --config FILE when its content changes (polled every 2s)")
    run.add_argument("--leader-elect", choices=("true", "false"), default=None,
                     help="override leaderElection.leaderElect")
    run.add_argument("--metrics-bind-address", default="0.0.0.0:10359",
                     help="host:port for /healthz, /readyz and /metrics")
    run.add_argument("--enable-debug-handlers", choices=("true", "false"), default="true",
                     help="serve /debug/cache (the cache's per-node view and its differences "
                          "from the informers) on the metrics address")
    run.add_argument("--kube-api-qps", type=float, default=None)
    run.add_argument("--kube-api-burst", type=int, default=None)

    sub.add_parser("version", help="print the version")
    from pyscheduler.cmd import config_cmd

    config_cmd.add_parser(sub, _compose_registry)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """The ``pyscheduler`` command: runs ``version`` or ``run``; returns the exit code."""
    args = _parser().parse_args(argv)
    pslog.configure(args.log_level)
    if args.command == "version":
        print(f"pyscheduler {__version__}")
        return 0
    if args.command == "run":
        return asyncio.run(_run(args))
    if args.command == "config":
        from pyscheduler.cmd import config_cmd

        return config_cmd.run(args)
    return 2


def _compose_registry() -> Registry:
    """In-tree plugins plus those installed distributions register under the
    ``pyscheduler.plugins`` entry point group (upstream: the command's out-of-tree registry
    merged into the in-tree one); exit 2 on a clash or a broken plugin."""
    from pyscheduler.framework.registry import RegistryError, out_of_tree_registry
    from pyscheduler.plugins.registry import new_in_tree_registry

    reg = new_in_tree_registry()
    try:
        reg.merge(out_of_tree_registry())
    except RegistryError as err:
        print(f"pyscheduler: invalid plugin registry: {err}", file=sys.stderr)
        raise SystemExit(2) from err
    return reg


def _load_config(text: str | None, registry: Registry, path: str | None = None) -> SchedulerConfig:
    from pyscheduler.config import ConfigError, default_config, parse_config

    try:
        return (parse_config(text, plugins=registry) if text is not None
                else default_config(plugins=registry))
    except ConfigError as err:
        where = f"{path}: " if path else ""
        print(f"pyscheduler: invalid configuration: {where}{err}", file=sys.stderr)
        raise SystemExit(2) from err


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as err:
        why = err.strerror if isinstance(err, OSError) and err.strerror else err
        print(f"pyscheduler: invalid configuration: {path}: {why}", file=sys.stderr)
        raise SystemExit(2) from err


async def _load_config_map(client: ApiClient, args: argparse.Namespace,
                           registry: Registry) -> tuple[SchedulerConfig, str]:
    """The configuration held by ``--config-map``, and its text; exit 2 when it cannot be read
    or is invalid (at start there is no last good configuration to keep)."""
    from pyscheduler.api.configmaps import ConfigSourceError, read_config_map_key
    from pyscheduler.config import ConfigError, parse_config
    from pyscheduler.operator.configmap import parse_ref

    try:
        namespace, name = parse_ref(args.config_map)
        text, _ = await read_config_map_key(client, namespace, name, args.config_map_key)
    except (ValueError, ConfigSourceError) as err:
        print(f"pyscheduler: {err}", file=sys.stderr)
        raise SystemExit(2) from err
    try:
        return parse_config(text, plugins=registry), text
    except ConfigError as err:
        print(f"pyscheduler: invalid configuration in ConfigMap {args.config_map} "
              f"(key {args.config_map_key}): {err}", file=sys.stderr)
        raise SystemExit(2) from err


class _ReloadSource:
    """A running configuration watcher (kopf's thread, or the file poller); ``stop()`` ends it."""

    def __init__(self, kopf_thread: KopfThread | None = None,
                 task: asyncio.Task[None] | None = None) -> None:
        self.kopf_thread = kopf_thread
        self.task = task

    async def stop(self) -> None:
        """Stop watching; returns once the watcher is gone."""
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        if self.kopf_thread is not None:
            await asyncio.to_thread(self.kopf_thread.stop)


def _start_reload(app: SchedulerApp, registry: Registry, args: argparse.Namespace,
                  config_text: str | None,
                  loop: asyncio.AbstractEventLoop) -> _ReloadSource | None:
    """Start watching the configuration source when it can change: ``--config-map`` always,
    ``--config FILE`` with ``--watch-config true``; None otherwise."""
    from pyscheduler.operator.reload import ConfigReloader

    if config_text is None:
        return None
    if args.config_map:
        import kopf

        from pyscheduler.operator.configmap import parse_ref, watch_config_map
        from pyscheduler.operator.kopf_thread import KopfThread

        reloader = ConfigReloader(app, registry, config_text)
        namespace, name = parse_ref(args.config_map)
        kopf_registry = kopf.OperatorRegistry()
        watch_config_map(kopf_registry, namespace, name, args.config_map_key, loop,
                         reloader.submit)
        thread = KopfThread(kopf_registry, app.client.configuration, [namespace])
        thread.start()
        log.info("watching the configuration", source=f"ConfigMap {args.config_map}",
                 key=args.config_map_key, hash=reloader.hash)
        return _ReloadSource(kopf_thread=thread)
    if args.watch_config == "true":
        from pyscheduler.operator.filewatch import watch_file

        reloader = ConfigReloader(app, registry, config_text)
        task = loop.create_task(watch_file(args.config, reloader.submit, config_text),
                                name="config-file-watch")
        log.info("watching the configuration", source=f"file {args.config}", hash=reloader.hash)
        return _ReloadSource(task=task)
    return None


async def _run(args: argparse.Namespace) -> int:
    from pyscheduler.api.client import new_api_client
    from pyscheduler.cmd.leader import LeaderElector
    from pyscheduler.cmd.server import HealthServer
    from pyscheduler.config import ConfigError
    from pyscheduler.scheduler.scheduler import InformersNotSyncedError, SchedulerApp

    registry = _compose_registry()
    if args.config and args.config_map:
        print("pyscheduler: --config and --config-map are exclusive", file=sys.stderr)
        return 2
    config_text: str | None = None
    if args.config_map:
        client = await new_api_client(args.kubeconfig)
        try:
            config, config_text = await _load_config_map(client, args, registry)
        except SystemExit:
            await client.close()
            raise
    else:
        # Read once: the text parsed is the text a file watch compares against.
        config_text = _read_text(args.config) if args.config else None
        config = _load_config(config_text, registry, args.config)
        client = await new_api_client(args.kubeconfig)
    le_cfg = config.leader_election
    leader_elect = le_cfg.leader_elect if args.leader_elect is None else args.leader_elect == "true"
    elector = None
    if leader_elect:
        elector = LeaderElector(
            client, namespace=le_cfg.resource_namespace, name=le_cfg.resource_name,
            identity=f"{socket.gethostname()}_{uuid.uuid4()}",
            lease_duration=le_cfg.lease_duration_seconds,
            renew_deadline=le_cfg.renew_deadline_seconds,
            retry_period=le_cfg.retry_period_seconds,
        )
    # Every write is checked against the lease just before it is sent (see cmd/leader.py).
    try:
        app = SchedulerApp(client, config, qps=args.kube_api_qps, burst=args.kube_api_burst,
                           write_guard=elector.holds_lease if elector is not None else None,
                           registry=registry)
    except ConfigError as err:  # e.g. a plugin enabled at a point it does not implement
        await client.close()
        print(f"pyscheduler: invalid configuration: {err}", file=sys.stderr)
        return 2
    host, _, port = args.metrics_bind_address.rpartition(":")
    server = HealthServer(host or "0.0.0.0", int(port),
                          ready=lambda: app.synced and (elector is None or elector.is_leader),
                          debug=(app.debugger.dump if args.enable_debug_handlers == "true"
                                 else None))
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    reload_source = _start_reload(app, registry, args, config_text, loop)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # Upstream's cache debugger: SIGUSR2 compares the cache with the informers and logs it.
    loop.add_signal_handler(signal.SIGUSR2, app.debugger.log_comparison)
    lease_task: asyncio.Task[None] | None = None
    leader = None
    if elector is not None:
        # Lease lost (the renew loop gave up, or the write guard found it expired): fence every
        # writer synchronously, before any other task runs, then exit non-zero as upstream's
        # OnStoppedLeading does. Never drain: the new leader may already be binding.
        elector.on_lost.append(app.abort)
        le = elector

        async def lead() -> None:
            nonlocal lease_task
            await le.acquire()
            lease_task = asyncio.create_task(le.keep(), name="lease")
            lease_task.add_done_callback(renew_loop_ended)

        def renew_loop_ended(task: asyncio.Task[None]) -> None:
            # keep() returns only after declaring the loss, so on_lost has already aborted; if
            # it crashed instead, the lease will lapse unrenewed: stop writing now as well.
            # (Cancelled: we are shutting down on SIGTERM.)
            if task.cancelled():
                return
            if task.exception() is not None:
                log.error("lease renew loop failed", error=repr(task.exception()))
            app.abort()

        leader = lead
    log.info("pyscheduler starting", version=__version__, profiles=sorted(app.frameworks),
             leader_elect=leader_elect)
    try:
        await app.run(stop, leader)
    except InformersNotSyncedError as err:
        log.error("cannot start: informers did not sync", error=str(err))
        return 1
    finally:
        if lease_task is not None:
            lease_task.cancel()
        if reload_source is not None:
            await reload_source.stop()
        await server.stop()
        await client.close()
    if app.aborted:
        log.error("exiting after losing the leader lease")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
