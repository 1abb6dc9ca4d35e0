"""kopf in its own thread and event loop, with its own registry.

Why a thread: kopf's docs warn against sharing an event loop with other code (on exit it
cancels every task of its loop), so it never runs on the scheduler's loop. Why these settings:
* ``standalone=True``: no peering objects, so kopf writes nothing of its own to the cluster;
* k8s-event posting is off: kopf would otherwise post its log lines as Events on the objects;
* credentials come from the scheduler's own client configuration (the same kubeconfig or
  service account), through a login handler in this registry only.

Contract: ``start()`` returns once kopf's thread runs; ``stop()`` asks kopf to finish and joins
the thread. Handlers registered on ``registry`` run on kopf's loop: they must hand anything for
the scheduler to the scheduler's loop with ``loop.call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Sequence
from typing import Any

import kopf
import structlog
from kubernetes_asyncio.client import Configuration

log = structlog.get_logger(__name__)


def connection_info(configuration: Configuration) -> kopf.ConnectionInfo:
    """kopf credentials equal to a kubernetes-asyncio Configuration's (host, CA, client
    certificate or bearer token)."""
    token = str(configuration.api_key.get("BearerToken") or "")
    scheme, _, value = token.partition(" ")
    if not value:  # a bare token without its "Bearer " prefix
        scheme, value = "Bearer", token
    return kopf.ConnectionInfo(
        server=str(configuration.host),
        ca_path=configuration.ssl_ca_cert or None,
        insecure=not configuration.verify_ssl,
        certificate_path=configuration.cert_file or None,
        private_key_path=configuration.key_file or None,
        scheme=scheme if value else None,
        token=value or None,
    )


class KopfThread:
    """Runs ``kopf.operator`` for ``registry`` in a daemon thread, namespaced to ``namespaces``."""

    def __init__(self, registry: kopf.OperatorRegistry, configuration: Configuration,
                 namespaces: Sequence[str]) -> None:
        self.registry = registry
        self.namespaces = list(namespaces)
        self._configuration = configuration
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self.error: BaseException | None = None

        @kopf.on.login(registry=registry)
        def _login(**_: Any) -> kopf.ConnectionInfo:
            return connection_info(self._configuration)

    def start(self) -> None:
        """Start kopf's thread; returns once its loop runs."""
        # kopf logs through the standard library; keep its per-object chatter out of ours.
        logging.getLogger("kopf").setLevel(logging.WARNING)
        # It warns that OS signals are ignored off the main thread: by design here (the
        # scheduler's loop owns the signals and stops kopf).
        logging.getLogger("kopf._core.reactor.running").setLevel(logging.ERROR)
        self._thread = threading.Thread(target=self._main, name="kopf", daemon=True)
        self._thread.start()
        self._started.wait(timeout=10.0)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask kopf to stop and wait up to ``timeout`` seconds for its thread."""
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # its loop closed meanwhile
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    @property
    def alive(self) -> bool:
        """True while kopf's thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._operate())
        except BaseException as err:  # reported; the scheduler keeps running
            self.error = err
            log.error("kopf stopped with an error", error=repr(err))
        finally:
            loop.close()

    async def _operate(self) -> None:
        self._stop = asyncio.Event()
        self._started.set()
        settings = kopf.OperatorSettings()
        settings.posting.enabled = False
        settings.scanning.disabled = True  # no CRD/namespace scanning: fixed namespaces only
        await kopf.operator(
            registry=self.registry,
            settings=settings,
            standalone=True,
            namespaces=self.namespaces,
            stop_flag=self._stop,
        )
