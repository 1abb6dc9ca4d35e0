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
from pyscheduler.cmd.server import add_serving_flags

if TYPE_CHECKING:
    from pyscheduler.config import SchedulerConfig
    from pyscheduler.framework.registry import Registry

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
    run.add_argument("--leader-elect", choices=("true", "false"), default=None,
                     help="override leaderElection.leaderElect")
    add_serving_flags(run)
    run.add_argument("--kube-api-qps", type=float, default=None)
    run.add_argument("--kube-api-burst", type=int, default=None)

    sub.add_parser("version", help="print the version")
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


def _load_config(path: str | None, registry: Registry) -> SchedulerConfig:
    from pyscheduler.config import ConfigError, default_config, load_config

    try:
        return (load_config(path, plugins=registry) if path
                else default_config(plugins=registry))
    except ConfigError as err:
        print(f"pyscheduler: invalid configuration: {err}", file=sys.stderr)
        raise SystemExit(2) from err


async def _run(args: argparse.Namespace) -> int:
    from pyscheduler.api.client import new_api_client
    from pyscheduler.cmd.leader import LeaderElector
    from pyscheduler.cmd.server import start_serving
    from pyscheduler.config import ConfigError
    from pyscheduler.scheduler.scheduler import InformersNotSyncedError, SchedulerApp

    registry = _compose_registry()
    config = _load_config(args.config, registry)
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
    server = await start_serving(
        args, client, ready=lambda: app.synced and (elector is None or elector.is_leader),
        debug=app.debugger.dump)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # Upstream's cache debugger: SIGUSR2 compares the cache with the informers, and logs it
    # and the scheduling queue.
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
        await server.stop()
        await client.close()
    if app.aborted:
        log.error("exiting after losing the leader lease")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
