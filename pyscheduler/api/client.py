"""Build a kubernetes-asyncio ApiClient from a kubeconfig or the in-cluster service account.

Contract:
- Each call returns a new ApiClient with its *own* Configuration; the library's process-wide
  default configuration is never read or written, so several clients (say a read-only dry-run
  client and the scheduler's own) can coexist in one process.
- Source of credentials, in order: an explicit ``kubeconfig`` path; in-cluster config when
  ``in_cluster`` is True, or when it is None and ``KUBERNETES_SERVICE_HOST`` is set and no
  kubeconfig path was given; otherwise ``$KUBECONFIG`` (first entry) or ``~/.kube/config``.
- The caller owns the client and must ``await client.close()`` (or use ``async with``).
- QPS/burst limiting is not done here: the API writer owns the client-side rate limiter.
- ``wait_until_reachable`` probes ``GET /version`` with exponential backoff (0.5 s doubling to
  8 s) until the server answers or a deadline passes; it returns the last error instead of
  raising, so the command can print one line and exit.
- Proxy environment variables (HTTPS_PROXY, NO_PROXY, ...) are honoured as client-go does, but
  resolved once here: kubernetes-asyncio's session would otherwise re-read them, and ~/.netrc,
  in a thread on every request (a few percent of the scheduler's CPU at high bind rates).
"""

from __future__ import annotations

import asyncio
import os
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from kubernetes_asyncio.client import ApiClient, Configuration
from kubernetes_asyncio.config import load_incluster_config, load_kube_config

from pyscheduler import __version__
from pyscheduler.api.errors import ApiError
from pyscheduler.api.raw import request_bytes

USER_AGENT = f"pyscheduler/{__version__}"


def default_kubeconfig() -> str:
    """$KUBECONFIG's first entry, else ~/.kube/config (client-go's default loading rules)."""
    env = os.environ.get("KUBECONFIG", "")
    first = env.split(os.pathsep)[0] if env else ""
    return first or str(Path("~/.kube/config").expanduser())


async def new_api_client(
    kubeconfig: str | os.PathLike[str] | None = None,
    *,
    context: str | None = None,
    in_cluster: bool | None = None,
    user_agent: str = USER_AGENT,
) -> ApiClient:
    """Return a new ApiClient configured from a kubeconfig file or the in-cluster config."""
    configuration = Configuration()
    if in_cluster is None:
        in_cluster = kubeconfig is None and "KUBERNETES_SERVICE_HOST" in os.environ
    if in_cluster:
        load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    else:
        await load_kube_config(
            config_file=os.fspath(kubeconfig) if kubeconfig is not None else default_kubeconfig(),
            context=context,
            client_configuration=configuration,
            # Never write refreshed tokens back into the user's kubeconfig.
            persist_config=False,
        )
    if not configuration.proxy:
        configuration.proxy = _env_proxy(configuration.host or "")
    client = ApiClient(configuration=configuration)
    client.user_agent = user_agent
    # See the module contract: the proxy decision is made above, once.
    client.rest_client.pool_manager._trust_env = False
    return client


def _env_proxy(url: str) -> str | None:
    """The proxy the environment selects for ``url`` (Go's ProxyFromEnvironment), if any."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if not host or urllib.request.proxy_bypass(host):
        return None
    proxy: str | None = urllib.request.getproxies().get(parts.scheme or "https")
    return proxy


async def wait_until_reachable(
    client: ApiClient, timeout: float, *,
    on_retry: Callable[[ApiError, float], None] | None = None,
) -> ApiError | None:
    """None once ``GET /version`` answers; the last error if it never does within ``timeout``.

    ``on_retry(error, delay)`` is called before each wait (the caller decides how loudly)."""
    deadline = time.monotonic() + timeout
    delay = 0.5
    while True:
        try:
            await request_bytes(client, "GET", "/version", request_timeout=min(10.0, timeout))
            return None
        except ApiError as err:
            if err.status not in (0, 429) and err.status < 500:
                return None  # it answered: authorization problems surface in the informers
            left = deadline - time.monotonic()
            if left <= 0:
                return err
            wait = min(delay, left)
            if on_retry is not None:
                on_retry(err, wait)
            await asyncio.sleep(wait)
            delay = min(delay * 2, 8.0)
