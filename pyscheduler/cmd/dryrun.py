"""``pyscheduler dry-run`` and ``pyscheduler snapshot`` (docs/DRY_RUN.md).

Contract:
* ``register(subparsers)`` adds both commands; each sets ``handler`` to its entry point, so
  cli.py only dispatches.
* ``dry-run`` reads the state (``--snapshot FILE`` offline, or ``--kubeconfig`` read-only
  through the informer layer), the profile (``--config FILE``, ``--config-map NS/NAME`` with
  one GET, or the built-in default), runs the engine (dryrun/engine.py) and prints the result
  on stdout. Progress goes to stderr, only when stderr is a terminal.
* Exit codes: 0 every evaluated pod fits, 1 some do not, 2 usage or input errors. An input
  error is one line on stderr, "pyscheduler: <what>: <problem>", never a traceback.
* ``snapshot`` lists what the profile reads and writes one List document (YAML, or JSON when
  the file name ends in .json; ``-`` is stdout), managedFields stripped, with one NodeMetrics
  per node from the profile's load sources (if its plugins read any) and the capture time in
  ``metadata.annotations["pyscheduler.dev/captured-at"]``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING, Any

import structlog

from pyscheduler.dryrun.snapshot import InputError

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient

    from pyscheduler.config import SchedulerConfig
    from pyscheduler.dryrun.engine import DryRunOptions, Simulation
    from pyscheduler.dryrun.snapshot import ClusterState
    from pyscheduler.framework.registry import Registry

log = structlog.get_logger(__name__)

EXIT_FIT, EXIT_UNFIT, EXIT_USAGE = 0, 1, 2


def _add_source_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kubeconfig", default=None, help="read the live cluster (read-only)")
    p.add_argument("--context", default=None, help="kubeconfig context")
    cfg = p.add_mutually_exclusive_group()
    cfg.add_argument("--config", default=None, help="KubeSchedulerConfiguration YAML")
    cfg.add_argument("--config-map", default=None, metavar="NS/NAME",
                     help="read the configuration from this ConfigMap (one GET)")
    p.add_argument("--config-map-key", default="config.yaml",
                   help="the ConfigMap key holding the configuration (default: config.yaml)")


def register(sub: Any, add_subcommand: Any) -> None:
    """Add ``dry-run`` and ``snapshot`` to the command's subparsers, each made with
    ``add_subcommand`` so it takes the common options (``--log-level`` after the command)."""
    dr = add_subcommand(sub, "dry-run",
                        help="where would each pending pod go, and why not elsewhere")
    _add_source_args(dr)
    dr.add_argument("--snapshot", default=None, metavar="FILE",
                    help="read the state from a snapshot (YAML/JSON) instead of a cluster")
    dr.add_argument("--pod", action="append", default=[], metavar="FILE|-",
                    help="also evaluate these pod specs (YAML/JSON, several documents allowed)")
    dr.add_argument("--namespace", "-n", default=None, help="only pending pods in this namespace")
    dr.add_argument("--selector", "-l", default=None, help="only pending pods matching this")
    dr.add_argument("--explain", default=None, metavar="NS/NAME", help="explain one pod")
    dr.add_argument("--compare-config", default=None, metavar="OTHER.yaml",
                    help="print only the pods whose placement differs under this profile")
    dr.add_argument("--output", "-o", choices=("table", "json", "yaml"), default="table")
    dr.add_argument("--seed", type=int, default=0,
                    help="seed for breaking ties between equally good nodes (run: random)")
    dr.add_argument("--now", default=None, metavar="RFC3339",
                    help="with --snapshot: the time load samples' ages and staleness are "
                         "judged at (default: the snapshot's capture time)")
    dr.set_defaults(handler=dry_run_main)
    sn = add_subcommand(sub, "snapshot", help="write what the profile reads from a live cluster")
    _add_source_args(sn)
    sn.add_argument("--output", "-o", required=True, metavar="FILE",
                    help="where to write the List (.json for JSON, - for stdout)")
    sn.set_defaults(handler=snapshot_main)


def _fail(message: str) -> int:
    print(f"pyscheduler: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_USAGE


def _guard(coro: Any) -> int:
    """Run the command; every input problem is one line on stderr and exit 2."""
    from pyscheduler.api.configmaps import ConfigSourceError
    from pyscheduler.config import ConfigError

    try:
        result: int = asyncio.run(coro)
        return result
    except (InputError, ConfigSourceError) as err:
        return _fail(str(err))
    except ConfigError as err:
        return _fail(f"invalid configuration: {err}")
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # never a traceback for the user; the log keeps it
        log.debug("dry run failed", exc_info=True)
        return _fail(f"{type(err).__name__}: {err}")


def dry_run_main(args: argparse.Namespace) -> int:
    """The ``dry-run`` command; returns the exit code."""
    if args.snapshot and (args.kubeconfig or args.context):
        return _fail("--snapshot and --kubeconfig/--context are mutually exclusive")
    if args.snapshot and args.config_map:
        return _fail("--config-map needs a cluster: use --config with --snapshot")
    return _guard(_dry_run(args))


def snapshot_main(args: argparse.Namespace) -> int:
    """The ``snapshot`` command; returns the exit code."""
    return _guard(_snapshot(args))


def _registry() -> Registry:
    from pyscheduler.framework.registry import RegistryError, out_of_tree_registry
    from pyscheduler.plugins.registry import new_in_tree_registry

    reg = new_in_tree_registry()
    try:
        reg.merge(out_of_tree_registry())
    except RegistryError as err:
        raise InputError(f"invalid plugin registry: {err}") from err
    return reg


async def _client(args: argparse.Namespace) -> ApiClient:
    from pyscheduler.api.client import new_api_client

    try:
        return await new_api_client(args.kubeconfig, context=args.context)
    except Exception as err:
        where = args.kubeconfig or "the default kubeconfig"
        raise InputError(f"{where}: cannot load kubeconfig: {err}") from err


async def _config(args: argparse.Namespace, registry: Registry,
                  client: ApiClient | None) -> SchedulerConfig:
    from pyscheduler.api.configmaps import parse_ref, read_config_map_key
    from pyscheduler.config import default_config, load_config

    if args.config_map:
        assert client is not None
        try:
            namespace, name = parse_ref(args.config_map)
        except ValueError as err:
            raise InputError(str(err)) from None
        text, _ = await read_config_map_key(client, namespace, name, args.config_map_key)
        return load_config(text, plugins=registry)
    if args.config:
        return load_config(args.config, plugins=registry)
    return default_config(plugins=registry)


def _extra_pods(paths: list[str], config: SchedulerConfig, state: ClusterState) -> list[Any]:
    from pyscheduler.dryrun.engine import complete_pod
    from pyscheduler.dryrun.snapshot import load_state, read_file

    pods: list[Any] = []
    default = config.profiles[0].scheduler_name
    for path in paths:
        extra = load_state(read_file(path), "stdin" if path == "-" else path, strict=True)
        others = {k: len(v) for k, v in extra.objects.items() if k != "pods" and v}
        if others or extra.priority_classes or extra.skipped:
            kinds = sorted([*others, *extra.skipped] + (["priorityclasses"]
                                                        if extra.priority_classes else []))
            raise InputError(f"{path}: --pod accepts only Pods, found {', '.join(kinds)}")
        for p in extra.objects.get("pods", []):
            pods.append(complete_pod(p, len(pods), default, state.priority_classes))
    return pods


def _progress(done: int, total: int) -> None:
    print(f"\rscheduling: {done}/{total} pods attempted", end="", file=sys.stderr, flush=True)


async def _dry_run(args: argparse.Namespace) -> int:
    from pyscheduler.dryrun import explain as ex
    from pyscheduler.dryrun import render
    from pyscheduler.dryrun.engine import DryRunOptions
    from pyscheduler.dryrun.live import load_live
    from pyscheduler.dryrun.load import live_load, offline_load
    from pyscheduler.dryrun.selector import parse_selector
    from pyscheduler.dryrun.snapshot import load_state, read_file

    registry = _registry()
    selector = None
    if args.selector:
        try:
            selector = parse_selector(args.selector)
        except ValueError as err:
            raise InputError(f"--selector: {err}") from err
    if args.explain and args.explain.count("/") != 1:
        raise InputError(f"--explain {args.explain!r}: expected NAMESPACE/NAME")
    now = _now(args)
    tty = sys.stderr.isatty()
    client = None if args.snapshot else await _client(args)
    try:
        config = await _config(args, registry, client)
        other = None
        if args.compare_config:
            from pyscheduler.config import load_config

            other = load_config(args.compare_config, plugins=registry)
        if tty:
            print("listing the cluster's state...", end="", file=sys.stderr, flush=True)
        if client is not None:
            state = await load_live(client, config)
            load = live_load(client)
        else:
            state = load_state(read_file(args.snapshot), args.snapshot)
            load = offline_load(state, now)
        opts = DryRunOptions(namespace=args.namespace, selector=selector,
                             explain=args.explain,
                             extra_pods=_extra_pods(args.pod, config, state),
                             progress=_progress if tty else None, seed=args.seed, load=load)
        # Live, the load sources are sampled (through the client) once the nodes are known.
        sim = await _simulate(state, config, registry, opts)
        sim2 = await _simulate(state, other, registry, opts) if other is not None else None
    finally:
        if client is not None:
            await client.close()
    if tty:
        print(file=sys.stderr)
    if sim2 is not None:
        sys.stdout.write(render.compare(sim.result, sim2.result, args.output))
        return EXIT_FIT if sim.result.all_fit else EXIT_UNFIT
    if args.explain:
        target = next((p for p in sim.result.pods if p.key == args.explain), None)
        if target is None:
            raise InputError(f"--explain {args.explain}: not a pending pod of the profile's "
                             f"schedulerNames here (or filtered out by --namespace/--selector)")
        fwk_weights = _weights(config, target.profile)
        sys.stdout.write(render.explain(ex.build(args.explain, sim.attempts, fwk_weights,
                                                 target, sim.load), args.output))
        return EXIT_FIT if target.node is not None else EXIT_UNFIT
    sys.stdout.write(render.render(sim.result, args.output))
    return EXIT_FIT if sim.result.all_fit else EXIT_UNFIT


async def _simulate(state: ClusterState, config: SchedulerConfig, registry: Registry,
                    opts: DryRunOptions) -> Simulation:
    from pyscheduler.dryrun import explain as ex
    from pyscheduler.dryrun.engine import simulate

    # Each run gets its own copy of the lists (the engine narrows the pods it keeps).
    return await simulate(state.copy(), config, registry, opts,
                          analyzer=ex.analyze if opts.explain else None)


def _now(args: argparse.Namespace) -> float | None:
    """``--now`` as epoch seconds (offline only: live, ages are the live sample's own)."""
    if args.now is None:
        return None
    if not args.snapshot:
        raise InputError("--now needs --snapshot: live, load samples are aged at the time "
                         "they are taken")
    from pyscheduler.model.meta import rfc3339_seconds

    try:
        return rfc3339_seconds(args.now)
    except ValueError:
        raise InputError(f"--now {args.now!r}: not an RFC 3339 time "
                         f"(e.g. 2026-12-04T01:00:00Z)") from None


def _weights(config: SchedulerConfig, profile: str) -> dict[str, int]:
    for prof in config.profiles:
        if prof.scheduler_name == profile:
            return dict(prof.score_weights)
    return {}


async def _snapshot(args: argparse.Namespace) -> int:
    import json
    import time

    import yaml

    from pyscheduler.dryrun.live import dump, resources_for
    from pyscheduler.dryrun.load import load_specs, sample_live
    from pyscheduler.dryrun.snapshot import CAPTURED_AT
    from pyscheduler.loadmetrics.nodemetrics import node_metrics_object
    from pyscheduler.model.meta import format_rfc3339

    registry = _registry()
    client = await _client(args)
    try:
        config = await _config(args, registry, client)
        doc = await dump(client, resources_for(config))
        # The load sample the profile's load-aware plugins would score by, as NodeMetrics.
        samples, failures = await sample_live(client, load_specs(config))
        captured = time.time()
    finally:
        await client.close()
    for line in failures:
        print(f"pyscheduler: warning: {line}; the snapshot has no NodeMetrics from it",
              file=sys.stderr)
    doc["items"].extend(node_metrics_object(node, s) for node, s in sorted(samples.items()))
    doc["metadata"]["annotations"] = {CAPTURED_AT: format_rfc3339(captured, micro=True)}
    text = (json.dumps(doc, indent=1) + "\n" if args.output.endswith(".json")
            else yaml.safe_dump(doc, sort_keys=False))
    _write(args.output, text)
    return EXIT_FIT


def _write(path: str, text: str) -> None:
    if path == "-":
        sys.stdout.write(text)
        return
    try:
        with open(path, "w") as f:
            f.write(text)
    except OSError as err:
        raise InputError(f"{path}: cannot write: {err.strerror or err}") from err
