"""/healthz, /livez, /readyz, /metrics and /debug/cache (aiohttp), on the scheduler's own event
loop: HTTPS with delegated authentication and authorization on the secure port, as
kube-scheduler serves on 10259, and plain HTTP only where asked for.

Contract:
* Endpoints: /healthz and /livez answer 200 while the event loop is responsive; /readyz
  answers 200 once informers have synced and (when leader election is on) this instance leads;
  /metrics is the prometheus text exposition of the default registry; with a ``debug``
  callable, /debug/cache answers its JSON (the cache, the queue, and how the cache differs from
  the informers; see backend/cache/debugger.py).
* The secure port (``--secure-port``, default 10259, 0 = off, on ``--bind-address``) serves
  TLS (:mod:`.certs`: the given certificate or a self-signed one made in memory) and lets a
  request through only as :mod:`.delegated_auth` decides: /healthz, /readyz and /livez for
  anyone, /metrics and /debug/* for users the apiserver authorizes. The client CA that
  verifies client certificates is ``--client-ca-file``, else the ``client-ca-file`` key of
  kube-system/extension-apiserver-authentication (read once at start; a failed lookup is
  logged and client certificates are then not accepted, as upstream tolerates it).
* The insecure listener (``--bind-address-insecure HOST:PORT``; ``--metrics-bind-address`` is
  its deprecated alias) serves the same endpoints without TLS or authentication. Nothing
  listens on plain HTTP unless asked.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web
from kubernetes_asyncio.client import ApiClient
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from pyscheduler.api.errors import ApiConnectionError, ApiError
from pyscheduler.api.raw import request_bytes
from pyscheduler.cmd.certs import server_ssl_context
from pyscheduler.cmd.delegated_auth import (
    DelegatingAuth,
    Poster,
    SubjectAccessReviewAuthorizer,
    TokenReviewAuthenticator,
)

log = structlog.get_logger(__name__)
AUTHENTICATION_CONFIGMAP = ("kube-system", "extension-apiserver-authentication")

@dataclass(slots=True)
class Endpoints:
    """The handlers, shared by every listener."""

    ready: Callable[[], bool]
    debug: Callable[[], dict[str, Any]] | None = None

    def app(self, auth: DelegatingAuth | None) -> web.Application:
        """An aiohttp application serving the endpoints, behind ``auth`` if given."""
        app = web.Application(middlewares=[auth.middleware] if auth is not None else [])
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/livez", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        if self.debug is not None:
            app.router.add_get("/debug/cache", self._debug_cache)
        return app

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _readyz(self, _: web.Request) -> web.Response:
        if self.ready():
            return web.Response(text="ok")
        return web.Response(status=503, text="not ready")

    async def _debug_cache(self, _: web.Request) -> web.Response:
        assert self.debug is not None
        return web.json_response(self.debug())

    async def _metrics(self, _: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


@dataclass(slots=True)
class Listener:
    """One address the endpoints are served on."""

    host: str
    port: int
    ssl_context: ssl.SSLContext | None = None
    auth: DelegatingAuth | None = None


@dataclass(slots=True)
class Serving:
    """The running listeners; ``ports`` maps "secure"/"insecure" to the bound port."""

    ports: dict[str, int] = field(default_factory=dict)
    # Tasks that finish setting up a listener (the client CA when the server came up late).
    background: list[asyncio.Task[None]] = field(default_factory=list)
    _runners: list[web.AppRunner] = field(default_factory=list)

    async def add(self, name: str, endpoints: Endpoints, listener: Listener) -> int:
        """Start serving ``endpoints`` on ``listener``; returns the bound port (0 = any)."""
        runner = web.AppRunner(endpoints.app(listener.auth), access_log=None)
        await runner.setup()
        self._runners.append(runner)
        site = web.TCPSite(runner, listener.host, listener.port,
                           ssl_context=listener.ssl_context)
        await site.start()
        port = listener.port
        sockets = getattr(site._server, "sockets", None)
        if sockets:  # port 0 asks the OS for a free port: report the one we got
            port = int(sockets[0].getsockname()[1])
        self.ports[name] = port
        log.info("serving", listener=name, address=f"{listener.host}:{port}",
                 tls=listener.ssl_context is not None, authenticated=listener.auth is not None)
        return port

    async def stop(self) -> None:
        """Stop every listener; a no-op for those never started."""
        for task in self.background:
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        self.background.clear()
        runners, self._runners = self._runners, []
        for runner in reversed(runners):
            await runner.cleanup()


def _poster(client: ApiClient) -> Poster:
    async def post(path: str, body: Mapping[str, Any]) -> bytes:
        # Straight through the client, not the ApiDispatcher: see delegated_auth's contract.
        return await request_bytes(client, "POST", path, body=dict(body), request_timeout=10.0)
    return post


async def _client_ca(client: ApiClient, path: str | None) -> str | None:
    """The client CA bundle: from ``path``, else the extension-apiserver-authentication one."""
    if path:
        return await asyncio.to_thread(Path(path).read_text)
    ns, name = AUTHENTICATION_CONFIGMAP
    try:
        raw = await request_bytes(client, "GET", f"/api/v1/namespaces/{ns}/configmaps/{name}",
                                  request_timeout=10.0)
    except ApiConnectionError:
        raise  # the server is not there yet: start_serving retries in the background
    except ApiError as err:
        # upstream kube-scheduler sets TolerateInClusterLookupFailure: warn and go on.
        log.warning("cannot read the client CA; client certificates will not authenticate",
                    configmap=f"{ns}/{name}", error=str(err))
        return None
    ca: str | None = (json.loads(raw).get("data") or {}).get("client-ca-file")
    return ca or None


async def _load_client_ca_later(client: ApiClient, ctx: ssl.SSLContext) -> None:
    """Retry the client CA until the API server answers, then trust it for new connections."""
    delay = 1.0
    while True:
        await asyncio.sleep(delay)
        try:
            ca = await _client_ca(client, None)
        except ApiConnectionError:
            delay = min(delay * 2, 30.0)
            continue
        if ca:
            ctx.load_verify_locations(cadata=ca)
            ctx.verify_mode = ssl.CERT_OPTIONAL
        return


def _fail(code: int, message: str) -> SystemExit:
    print(f"pyscheduler: {message}", file=sys.stderr)
    return SystemExit(code)


def _check_flags(args: argparse.Namespace) -> None:
    if bool(args.tls_cert_file) != bool(args.tls_private_key_file):
        raise _fail(2, "--tls-cert-file and --tls-private-key-file must be given together")
    if not 0 <= args.secure_port <= 65535:
        raise _fail(2, f"--secure-port: {args.secure_port} is not a port (0 disables HTTPS)")


async def start_serving(args: argparse.Namespace, client: ApiClient, *,
                        ready: Callable[[], bool],
                        debug: Callable[[], dict[str, Any]] | None) -> Serving:
    """Start the listeners the serving flags (cmd/serving_flags.py) ask for (see the contract).

    Bad flags or unreadable TLS files exit 2, an address that cannot be bound exits 1, each
    with one line on stderr.
    """
    _check_flags(args)
    endpoints = Endpoints(ready, debug if args.enable_debug_handlers == "true" else None)
    serving = Serving()
    listeners: list[tuple[str, Listener]] = []
    if args.secure_port:
        post = _poster(client)
        auth = DelegatingAuth(
            TokenReviewAuthenticator(post, args.authentication_token_webhook_cache_ttl),
            SubjectAccessReviewAuthorizer(
                post, args.authorization_webhook_cache_authorized_ttl,
                args.authorization_webhook_cache_unauthorized_ttl),
            always_allow_paths=tuple(
                p for p in args.authorization_always_allow_paths.split(",") if p),
        )
        try:
            client_ca = await _client_ca(client, args.client_ca_file)
            pending_ca = False
        except ApiConnectionError:
            # Serve health checks now; the startup probe reports the unreachable server once,
            # and the client CA is added to the context when it can be read.
            client_ca, pending_ca = None, True
        try:
            ctx = server_ssl_context(args.tls_cert_file, args.tls_private_key_file,
                                     client_ca=client_ca)
        except (OSError, ssl.SSLError) as err:
            raise _fail(2, f"--tls-cert-file/--tls-private-key-file/--client-ca-file: {err}"
                        ) from err
        listeners.append(("secure", Listener(args.bind_address, args.secure_port, ctx, auth)))
        if pending_ca:
            serving.background.append(asyncio.get_running_loop().create_task(
                _load_client_ca_later(client, ctx), name="client-ca"))
    if args.metrics_bind_address is not None and args.bind_address_insecure is None:
        log.warning("--metrics-bind-address is deprecated: use --bind-address-insecure")
    insecure = args.bind_address_insecure or args.metrics_bind_address
    if insecure is not None:
        listeners.append(("insecure", Listener(*insecure)))
    for name, listener in listeners:
        try:
            await serving.add(name, endpoints, listener)
        except OSError as err:
            await serving.stop()
            raise _fail(1, f"cannot listen on {listener.host}:{listener.port}: {err}") from err
    return serving
