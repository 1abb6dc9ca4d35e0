"""/healthz, /readyz and /metrics over HTTP (aiohttp), on the scheduler's own event loop.

Contract: /healthz answers 200 while the process's event loop is responsive; /readyz answers 200
once informers have synced and (when leader election is on) this instance leads; /metrics is the
prometheus text exposition of the default registry. With a ``debug`` callable, /debug/cache
answers its JSON (the scheduler cache's per-node view and how it differs from the informers;
see backend/cache/debugger.py), as upstream's cache debugger answers SIGUSR2.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


class HealthServer:
    def __init__(self, host: str, port: int, ready: Callable[[], bool],
                 debug: Callable[[], dict[str, Any]] | None = None) -> None:
        self.host = host
        self.port = port
        self._ready = ready
        self._debug = debug
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        """Serve /healthz, /livez, /readyz, /metrics (+ /debug/cache); returns the bound port."""
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/livez", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        if self._debug is not None:
            app.router.add_get("/debug/cache", self._debug_cache)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        # Port 0 asks the OS for a free port: report the one we got (tests use this).
        sockets = getattr(site._server, "sockets", None)
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        """Stop serving; a no-op if never started."""
        if self._runner is not None:
            await self._runner.cleanup()

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _readyz(self, _: web.Request) -> web.Response:
        if self._ready():
            return web.Response(text="ok")
        return web.Response(status=503, text="not ready")

    async def _debug_cache(self, _: web.Request) -> web.Response:
        assert self._debug is not None
        return web.json_response(self._debug())

    async def _metrics(self, _: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})
