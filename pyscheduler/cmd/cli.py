"""Command line: ``pyscheduler run | dry-run | snapshot | config validate|defaults | version``
(also ``python -m pyscheduler``); dry-run and snapshot are in cmd/dryrun.py.

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
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import structlog

from pyscheduler import __version__
from pyscheduler.cmd import logsetup as pslog
from pyscheduler.cmd.serving_flags import add_serving_flags

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient

    from pyscheduler.config import SchedulerConfig
    from pyscheduler.framework.registry import Registry
    from pyscheduler.operator.kopf_thread import KopfThread
    from pyscheduler.scheduler.scheduler import SchedulerApp

log = structlog.get_logger(__name__)

# kube-scheduler's own profile name (v1.DefaultSchedulerName).
UPSTREAM_DEFAULT_SCHEDULER = "default-scheduler"

# How long `run` waits for the API server and the first sync before it gives up (exit 1).
STARTUP_TIMEOUT = 120.0


class _Parser(argparse.ArgumentParser):
    """argparse with the CLI's error contract: one line on stderr naming the option, exit 2
    (argparse's default prints the whole usage block first)."""

    def error(self, message: str) -> NoReturn:
        """Print ``<prog>: error: <message>`` as one line and exit 2."""
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


def _verbosity(text: str) -> int:
    # klog spells it -v=4, -v 4, --v=4; argparse hands "-v=4" over as "=4".
    value = int(text.lstrip("="))
    if value < 0:
        raise ValueError(text)
    return value


_verbosity.__name__ = "verbosity"  # argparse names the type in its error: "invalid verbosity"


def add_common_options(p: argparse.ArgumentParser, *, top_level: bool = False) -> None:
    """The options every command accepts, before or after the subcommand.

    On the top-level parser they carry the defaults; on a subcommand's parser their default is
    SUPPRESS, so a value given before the subcommand is not overwritten by the subparser."""
    def default(value: object) -> object:
        return value if top_level else argparse.SUPPRESS

    p.add_argument("-v", "--v", dest="verbosity", type=_verbosity, metavar="N",
                   default=default(None),
                   help="klog-style log verbosity: 0-3 logs at info, 4 and above at debug")
    p.add_argument("--log-level", choices=pslog.LEVELS, default=default(None),
                   help="log level (overrides -v; default: $PYSCHEDULER_LOG_LEVEL, else info)")
    p.add_argument("--logging-format", choices=pslog.LOGGING_FORMATS, default=default(None),
                   help="log format (default: json when stderr is not a terminal, else text)")


def add_subcommand(sub: argparse._SubParsersAction[_Parser], name: str,
                   **kwargs: str) -> argparse.ArgumentParser:
    """A subcommand's parser with the common options already added (use for every command)."""
    p: argparse.ArgumentParser = sub.add_parser(name, **kwargs)  # type: ignore[arg-type]
    add_common_options(p)
    return p


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="pyscheduler",
        description="A secondary Kubernetes scheduler with kube-scheduler semantics.",
    )
    add_common_options(p, top_level=True)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = add_subcommand(
        sub, "run", help="schedule pods whose schedulerName names one of our profiles")
    run.add_argument("--kubeconfig", default=None,
                     help="kubeconfig path. Where credentials come from, first match wins: this "
                          "flag; clientConnection.kubeconfig of --config; the in-cluster service "
                          "account (when KUBERNETES_SERVICE_HOST is set); $KUBECONFIG (first "
                          "entry); ~/.kube/config")
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
    add_serving_flags(run)
    run.add_argument("--kube-api-qps", type=float, default=None)
    run.add_argument("--kube-api-burst", type=int, default=None)
    run.add_argument("--allow-default-scheduler-name", action="store_true",
                     help="serve a profile named default-scheduler, the cluster's own "
                          "kube-scheduler's name (both would bind the same pods)")
    run.add_argument("--startup-timeout", type=float, default=STARTUP_TIMEOUT, metavar="SECONDS",
                     help="give up (exit 1) when the API server cannot be reached or the "
                          "informers cannot sync within this time")

    add_subcommand(sub, "version", help="print the version")
    from pyscheduler.cmd import config_cmd, dryrun  # each command family in its own module

    config_cmd.add_parser(sub, _compose_registry, add_subcommand)
    dryrun.register(sub, add_subcommand)
    return p


# The dry run's output is its report on stdout; its engine logs stay quiet unless asked for.
_QUIET_COMMANDS = frozenset({"dry-run", "snapshot"})


def _log_level(args: argparse.Namespace) -> str:
    if args.log_level is not None:
        return str(args.log_level)
    if args.verbosity is not None:
        return pslog.level_for_verbosity(args.verbosity)
    fallback = "error" if args.command in _QUIET_COMMANDS else "info"
    return os.environ.get("PYSCHEDULER_LOG_LEVEL", fallback)


def main(argv: Sequence[str] | None = None) -> int:
    """The ``pyscheduler`` command: runs ``version`` or ``run``; returns the exit code."""
    args = _parser().parse_args(argv)
    pslog.configure(_log_level(args), fmt=args.logging_format)
    if args.command == "version":
        print(f"pyscheduler {__version__}")
        return 0
    if args.command == "run":
        return asyncio.run(_run(args))
    if args.command == "config":
        from pyscheduler.cmd import config_cmd

        return config_cmd.run(args)
    handler = getattr(args, "handler", None)
    if handler is not None:
        code: int = handler(args)
        return code
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
        _fail(f"invalid plugin registry: {err}")
    return reg


def _load_config(path: str | None, registry: Registry) -> tuple[SchedulerConfig, str | None]:
    """The configuration of ``--config`` (or the defaults) and the text it was parsed from,
    read once: a file watch compares the file against that same text."""
    from pyscheduler.config import ConfigError, default_config, load_config

    if not path:
        return default_config(plugins=registry), None
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError):
        text = None  # load_config reports it, with the path
    try:
        return load_config(text if text is not None else path, plugins=registry), text
    except ConfigError as err:
        _fail(f"invalid configuration: {err}")


async def _load_config_map(client: ApiClient, args: argparse.Namespace,
                           registry: Registry) -> tuple[SchedulerConfig, str]:
    """The configuration held by ``--config-map``, and its text; exit 2 when it cannot be read
    or is invalid (at start there is no last good configuration to keep)."""
    from pyscheduler.api.configmaps import ConfigSourceError, parse_ref, read_config_map_key
    from pyscheduler.config import ConfigError, parse_config

    try:
        namespace, name = parse_ref(args.config_map)
        text, _ = await read_config_map_key(client, namespace, name, args.config_map_key)
    except (ValueError, ConfigSourceError) as err:
        await client.close()
        _fail(str(err))
    try:
        return parse_config(text, plugins=registry), text
    except ConfigError as err:
        await client.close()
        _fail(f"invalid configuration in ConfigMap {args.config_map} "
              f"(key {args.config_map_key}): {err}")


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

        from pyscheduler.api.configmaps import parse_ref
        from pyscheduler.operator.configmap import watch_config_map
        from pyscheduler.operator.kopf_thread import KopfThread

        reloader = ConfigReloader(app, registry, config_text)
        namespace, name = parse_ref(args.config_map)
        kopf_registry = kopf.OperatorRegistry()
        watch_config_map(kopf_registry, namespace, name, args.config_map_key, loop,
                         reloader.submit)
        assert app.client is not None  # run's app always talks to the API (only dry-run's not)
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


def _fail(message: str) -> NoReturn:
    """The CLI's configuration-error contract: one line on stderr, exit 2."""
    print(f"pyscheduler: {' '.join(message.split())}", file=sys.stderr)
    raise SystemExit(2)


def _cause(err: BaseException) -> str:
    """The underlying reason of an API error (aiohttp's own text), for one readable line."""
    return str(err.__cause__) if err.__cause__ is not None else str(err)


def _kubeconfig(args: argparse.Namespace, config: SchedulerConfig) -> tuple[str | None, str]:
    """(kubeconfig path or None, where the credentials come from), in upstream's precedence:
    --kubeconfig, clientConnection.kubeconfig, in-cluster, $KUBECONFIG, ~/.kube/config."""
    from pyscheduler.api.client import default_kubeconfig

    if args.kubeconfig:
        path, source = args.kubeconfig, "--kubeconfig"
    elif config.client_connection.kubeconfig:
        path, source = config.client_connection.kubeconfig, "clientConnection.kubeconfig"
    elif "KUBERNETES_SERVICE_HOST" in os.environ:
        return None, "in-cluster config"
    else:
        path = default_kubeconfig()
        source = "$KUBECONFIG" if os.environ.get("KUBECONFIG") else "~/.kube/config"
        if not os.path.isfile(path):
            _fail(f"no kubeconfig: {path!r} ({source}) does not exist and this is not a "
                  "cluster; pass --kubeconfig or set clientConnection.kubeconfig")
    if not os.path.isfile(path):
        _fail(f"cannot load kubeconfig {path!r} (from {source}): no such file")
    return path, source


def _check_scheduler_names(args: argparse.Namespace, config: SchedulerConfig) -> None:
    """A profile named default-scheduler competes with the cluster's kube-scheduler for every
    pod that names no scheduler: serve it only when asked to, and say so."""
    from pyscheduler.config.validation import forbidden

    for prof in config.profiles:
        if prof.scheduler_name != UPSTREAM_DEFAULT_SCHEDULER:
            continue
        field = f"profiles[{prof.index}].schedulerName"
        if not args.allow_default_scheduler_name:
            _fail("invalid configuration: " + forbidden(
                field, f"{UPSTREAM_DEFAULT_SCHEDULER!r} is the name of the cluster's own "
                       "kube-scheduler, which schedules the same pods; pass "
                       "--allow-default-scheduler-name to serve it anyway"))
        log.warning("serving the default-scheduler profile: pods that name no scheduler are "
                    "bound by whichever scheduler gets them first", field=field)


async def _run(args: argparse.Namespace) -> int:
    from pyscheduler.api.client import new_api_client, wait_until_reachable
    from pyscheduler.cmd.leader import LeaderElector
    from pyscheduler.cmd.server import start_serving
    from pyscheduler.config import ConfigError, default_config
    from pyscheduler.scheduler.scheduler import InformersNotSyncedError, SchedulerApp

    registry = _compose_registry()
    if args.config and args.config_map:
        _fail("--config and --config-map are exclusive")
    if args.config_map:
        # The credentials that read the ConfigMap cannot come from inside it.
        config = default_config(plugins=registry)
        config_text: str | None = None
    else:
        config, config_text = _load_config(args.config, registry)
        _check_scheduler_names(args, config)
    kubeconfig, source = _kubeconfig(args, config)
    try:
        client = await new_api_client(kubeconfig, in_cluster=kubeconfig is None)
    except Exception as err:  # kubernetes-asyncio raises several kinds; each is a bad input
        what = f"{kubeconfig!r} (from {source})" if kubeconfig else source
        _fail(f"cannot load kubeconfig {what}: {err}")
    if args.config_map:
        config, config_text = await _load_config_map(client, args, registry)
        _check_scheduler_names(args, config)
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
        _fail(f"invalid configuration: {err}")
    server = await start_serving(
        args, client, ready=lambda: app.synced and (elector is None or elector.is_leader),
        debug=app.debugger.dump)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    reload_source = _start_reload(app, registry, args, config_text, loop)
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
             leader_elect=leader_elect, kubeconfig=kubeconfig or "", credentials=source)
    host_url = client.configuration.host
    warned = False

    def retrying(err: Exception, delay: float) -> None:
        nonlocal warned
        # One line at warning level; the retries themselves are debug.
        (log.debug if warned else log.warning)(
            "cannot reach the API server; retrying", server=host_url, error=_cause(err),
            retry_in=round(delay, 1))
        warned = True

    try:
        probe = asyncio.ensure_future(
            wait_until_reachable(client, args.startup_timeout, on_retry=retrying))
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({probe, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not probe.done():  # SIGTERM while waiting for the server: nothing started yet
            probe.cancel()
            return 0
        unreachable = probe.result()
        if unreachable is not None:
            log.error("giving up: the API server did not answer", server=host_url,
                      timeout=args.startup_timeout, error=_cause(unreachable))
            return 1
        await app.run(stop, leader, sync_timeout=args.startup_timeout)
    except InformersNotSyncedError as err:
        log.error("giving up: informers did not sync", server=host_url, error=str(err))
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
