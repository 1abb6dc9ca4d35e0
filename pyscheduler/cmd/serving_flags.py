"""The serving flags of ``pyscheduler run`` (secure port, TLS, delegated auth, the insecure
listener), apart from the server itself.

Contract: ``add_serving_flags`` registers them; ``parse_duration`` is their duration type. This
module imports nothing heavier than the config decoder, so that building the CLI parser (for
every subcommand, ``dry-run --snapshot`` included) does not load aiohttp or the Kubernetes
client; cmd/server.py, which needs both, is imported only when ``run`` serves.
"""

from __future__ import annotations

import argparse

from pyscheduler.config._decode import parse_duration as _go_duration

# upstream kubeschedulerconfig.DefaultKubeSchedulerPort.
DEFAULT_SECURE_PORT = 10259
# Upstream's delegating authenticator/authorizer defaults (k8s.io/apiserver options).
DEFAULT_TOKEN_TTL = 10.0
DEFAULT_ALLOW_TTL = 10.0
DEFAULT_DENY_TTL = 10.0
DEFAULT_ALWAYS_ALLOW_PATHS = ("/healthz", "/readyz", "/livez")


def parse_duration(text: str) -> float:
    """Seconds in a non-negative Go duration ("10s", "1m30s", "500ms"; a bare number is
    seconds); ArgumentTypeError otherwise."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = _go_duration(text)
        except ValueError:
            seconds = -1.0
    if seconds < 0 or not text:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r} (e.g. 10s, 1m, 500ms)")
    return seconds


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def add_serving_flags(parser: argparse.ArgumentParser) -> None:
    """Register the serving flags (secure port, TLS, delegated auth, insecure listener)."""
    g = parser.add_argument_group("secure serving")
    g.add_argument("--secure-port", type=int, default=DEFAULT_SECURE_PORT,
                   help="HTTPS port for /healthz, /readyz, /livez, /metrics and /debug; "
                        "0 serves no HTTPS")
    g.add_argument("--bind-address", default="0.0.0.0",
                   help="address the secure port listens on")
    g.add_argument("--tls-cert-file", default=None,
                   help="serving certificate (PEM); without it, a self-signed one is made in "
                        "memory")
    g.add_argument("--tls-private-key-file", default=None, help="key of --tls-cert-file (PEM)")
    g.add_argument("--bind-address-insecure", type=_host_port, default=None,
                   metavar="HOST:PORT",
                   help="also serve the same endpoints over plain HTTP, without authentication, "
                        "on HOST:PORT (for local use, e.g. 127.0.0.1:10251); off by default")
    g.add_argument("--metrics-bind-address", type=_host_port, default=None,
                   dest="metrics_bind_address", metavar="HOST:PORT",
                   help="deprecated alias of --bind-address-insecure")
    g.add_argument("--enable-debug-handlers", choices=("true", "false"), default="true",
                   help="serve /debug/cache (the cache, the queue and the cache's differences "
                        "from the informers)")
    a = parser.add_argument_group("authentication and authorization")
    a.add_argument("--client-ca-file", default=None,
                   help="CA bundle verifying client certificates (default: the client-ca-file "
                        "of kube-system/extension-apiserver-authentication)")
    a.add_argument("--authentication-token-webhook-cache-ttl", type=parse_duration,
                   default=DEFAULT_TOKEN_TTL, metavar="DURATION",
                   help="how long TokenReview answers are cached (default 10s)")
    a.add_argument("--authorization-webhook-cache-authorized-ttl", type=parse_duration,
                   default=DEFAULT_ALLOW_TTL, metavar="DURATION",
                   help="how long allowed SubjectAccessReview answers are cached (default 10s)")
    a.add_argument("--authorization-webhook-cache-unauthorized-ttl", type=parse_duration,
                   default=DEFAULT_DENY_TTL, metavar="DURATION",
                   help="how long denied SubjectAccessReview answers are cached (default 10s)")
    a.add_argument("--authorization-always-allow-paths", default=",".join(
        DEFAULT_ALWAYS_ALLOW_PATHS), metavar="PATHS",
                   help="comma-separated paths served without authorization (a trailing * is "
                        "a prefix)")


