"""``pyscheduler config validate | defaults``: check a configuration before applying it, and
print the defaults.

Contract:
* ``validate FILE`` or ``validate --config-map NAMESPACE/NAME [--config-map-key K]``: prints
  every error with its field path, one per line on stderr, and exits 2; or prints a one-line
  summary on stdout and exits 0. It loads plugins exactly as ``run`` does (in-tree plus the
  ``pyscheduler.plugins`` entry points), so out-of-tree args are validated too.
* ``defaults``: prints the effective default configuration as YAML; that YAML loads back to
  the same configuration (config/encode.py).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import yaml

from pyscheduler.framework.registry import Registry


def add_parser(sub: Any, compose_registry: Any, add_subcommand: Any) -> None:
    """Register ``config`` and its subcommands on ``sub`` (argparse subparsers), each made
    with ``add_subcommand`` so it takes the common options."""
    cfg = add_subcommand(sub, "config", help="validate a configuration, or print the defaults")
    cfg.set_defaults(compose_registry=compose_registry)
    cfg_sub = cfg.add_subparsers(dest="config_command", required=True,
                                 parser_class=type(cfg))
    val = add_subcommand(cfg_sub, "validate", help="check a KubeSchedulerConfiguration; exit 2 "
                                              "listing every error, or 0")
    val.add_argument("file", nargs="?", default=None, help="the configuration file")
    val.add_argument("--config-map", default=None, metavar="NAMESPACE/NAME",
                     help="validate the configuration held by this ConfigMap instead")
    val.add_argument("--config-map-key", default="config.yaml")
    val.add_argument("--kubeconfig", default=None,
                     help="kubeconfig for --config-map (default: in-cluster, then "
                          "$KUBECONFIG or ~/.kube/config)")
    add_subcommand(cfg_sub, "defaults", help="print the default configuration as YAML")


def run(args: argparse.Namespace) -> int:
    """Run ``config validate`` or ``config defaults``; returns the exit code."""
    registry: Registry = args.compose_registry()
    if args.config_command == "defaults":
        from pyscheduler.config import default_config
        from pyscheduler.config.encode import defaulted_document

        doc = defaulted_document(default_config(plugins=registry))
        sys.stdout.write(yaml.safe_dump(doc, sort_keys=False))
        return 0
    return _validate(args, registry)


def _validate(args: argparse.Namespace, registry: Registry) -> int:
    from pyscheduler.config import ConfigError, parse_config

    if (args.file is None) == (args.config_map is None):
        print("pyscheduler: config validate: give a FILE or --config-map NAMESPACE/NAME",
              file=sys.stderr)
        return 2
    if args.config_map is not None:
        source = f"ConfigMap {args.config_map} (key {args.config_map_key})"
        text = asyncio.run(_read_config_map(args))
        if text is None:
            return 2
    else:
        source = args.file
        try:
            with open(args.file, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as err:
            why = err.strerror if isinstance(err, OSError) and err.strerror else err
            print(f"pyscheduler: {args.file}: {why}", file=sys.stderr)
            return 2
    try:
        config = parse_config(text, plugins=registry)
    except ConfigError as err:
        for e in err.errors:
            print(f"{source}: {e}", file=sys.stderr)
        return 2
    print(f"{source}: valid; profiles: {', '.join(config.scheduler_names)}")
    return 0


async def _read_config_map(args: argparse.Namespace) -> str | None:
    from pyscheduler.api.client import new_api_client
    from pyscheduler.api.configmaps import ConfigSourceError, parse_ref, read_config_map_key

    try:
        namespace, name = parse_ref(args.config_map)
    except ValueError as err:
        print(f"pyscheduler: {err}", file=sys.stderr)
        return None
    try:
        client = await new_api_client(args.kubeconfig)
    except Exception as err:  # a missing or broken kubeconfig: one line, no traceback
        print(f"pyscheduler: cannot load the kubeconfig: {err}", file=sys.stderr)
        return None
    try:
        text, _ = await read_config_map_key(client, namespace, name, args.config_map_key,
                                            deadline=10.0)
        return text
    except ConfigSourceError as err:
        print(f"pyscheduler: {err}", file=sys.stderr)
        return None
    finally:
        await client.close()
