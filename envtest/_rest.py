"""A minimal synchronous JSON client for the control plane's own chores.

Contract: :class:`RestClient` sends one request and returns the decoded JSON body, or raises
:class:`ApiError` for any status >= 300. It is safe to share between threads (one keep-alive
connection per thread) and survives an apiserver restart (a dead keep-alive connection is
replaced and the request sent once more).

Why not kubernetes-asyncio here: the control plane is started from synchronous code (a
session fixture, a script) that may or may not have an event loop running, and must keep
working while the test's loop is busy or gone. This client is for setup and teardown only
(apply manifests, mint a token, create nodes, purge namespaces); tests talk to the API
through kubernetes-asyncio like the scheduler does.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import ssl
import threading
import urllib.parse
from collections.abc import Mapping
from typing import Any

# The aggregated discovery document: every group, version and resource in one response.
DISCOVERY_V2 = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
)


class ApiError(Exception):
    """A non-2xx answer from kube-apiserver (or etcd's gateway)."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.body = body
        reason = body
        # Kubernetes answers errors with a Status whose message says it best.
        with contextlib.suppress(ValueError, AttributeError):
            reason = json.loads(body).get("message", body)
        super().__init__(f"{method} {path}: HTTP {status}: {reason[:500]}")


class RestClient:
    """JSON over HTTP(S) to one host:port, optionally with a client cert or a bearer token."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None = None,
        token: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.token = token
        self.timeout = timeout
        self._local = threading.local()

    def _conn(self, fresh: bool = False) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is not None and fresh:
            conn.close()
            conn = None
        if conn is None:
            if self.ssl_context is not None:
                conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=self.timeout, context=self.ssl_context
                )
            else:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: Mapping[str, str | int | bool] | None = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> Any:
        """Send one request; return the decoded JSON body (None if empty, str if not JSON)."""
        if query:
            items = {
                k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in query.items()
            }
            path = f"{path}?{urllib.parse.urlencode(items)}"
        headers = {"Accept": accept}
        data: bytes | None = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        for attempt in (0, 1):
            conn = self._conn(fresh=attempt > 0)
            try:
                conn.request(method, path, body=data, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
                break
            except (http.client.RemoteDisconnected, ConnectionError, http.client.BadStatusLine,
                    ssl.SSLError):
                # A keep-alive connection the server closed (idle timeout, apiserver restart);
                # after a restart the stale TLS session can also surface as an SSLError
                # (e.g. "unexpected eof while reading"). One retry on a fresh connection.
                conn.close()
                self._local.conn = None
                if attempt:
                    raise
        if resp.status >= 300:
            raise ApiError(method, path, resp.status, raw.decode(errors="replace"))
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            # Plain-text endpoints (/healthz: "ok").
            return raw.decode(errors="replace")
