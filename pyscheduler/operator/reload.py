"""Apply configuration changes to a running scheduler: validate, hot-swap, report.

Contract (runs on the scheduler's event loop):
* ``submit(change)`` never blocks and never raises. Changes are applied one at a time; while
  one is being applied only the newest waiting change is kept (latest wins).
* Text equal to the configuration in force (by hash) changes nothing: the initial listing and
  relists of the watched source replay it.
* A valid change goes to ``SchedulerApp.reload``: profiles swap between scheduling cycles.
* An invalid change, a missing key or a deleted source keeps the last good configuration. It
  is logged with every error and its field path, counted in
  ``pyscheduler_config_reloads_total{result="failure"}``, sets
  ``pyscheduler_config_last_reload_successful`` to 0, and is reported as a Warning Event
  ``FailedConfigReload`` about the source object (an Event about it, never a write to it).
  Events go through the leader-fenced writer, so only the leader reports.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol

import structlog

from pyscheduler.config import ConfigError, RegisteredPlugin, parse_config
from pyscheduler.operator.change import ConfigChange, config_hash
from pyscheduler.operator.metrics import (
    CONFIG_INFO,
    CONFIG_LAST_RELOAD_SUCCESSFUL,
    CONFIG_RELOADS,
)


class _Summary(Protocol):
    @property
    def added(self) -> tuple[str, ...]: ...
    @property
    def removed(self) -> tuple[str, ...]: ...


class _Reporter(Protocol):
    def object_event(self, regarding: dict[str, Any], type_: str, reason: str, action: str,
                     note: str) -> None: ...


class SchedulerApp(Protocol):
    """What the reloader uses of scheduler.scheduler.SchedulerApp (a Protocol, so that the
    operator package does not depend on the scheduler package)."""

    @property
    def aborted(self) -> bool: ...
    @property
    def frameworks(self) -> Mapping[str, Any]: ...
    @property
    def reporter(self) -> _Reporter: ...
    async def reload(self, config: Any) -> _Summary: ...

log = structlog.get_logger(__name__)

REASON_FAILED = "FailedConfigReload"
REASON_RELOADED = "ConfigReloaded"
# events.k8s.io/v1 caps a note at 1 kB.
_NOTE_LIMIT = 1024


class ConfigReloader:
    """Hot-reloads ``app`` from a configuration source, keeping the last good configuration."""

    def __init__(self, app: SchedulerApp, plugins: Mapping[str, RegisteredPlugin],
                 initial_text: str) -> None:
        self.app = app
        self.plugins = plugins
        self.hash = config_hash(initial_text)
        self._latest: ConfigChange | None = None
        self._task: asyncio.Task[None] | None = None
        CONFIG_INFO.labels(self.hash).set(1)
        CONFIG_LAST_RELOAD_SUCCESSFUL.set(1)

    def submit(self, change: ConfigChange) -> None:
        """Queue ``change`` (replacing a queued one) and apply it soon."""
        self._latest = change
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain(),
                                                                name="config-reload")

    async def wait_idle(self) -> None:
        """Wait until every submitted change is applied (tests, shutdown)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def _drain(self) -> None:
        while self._latest is not None:
            change, self._latest = self._latest, None
            try:
                await self.apply(change)
            except Exception:  # a reloader bug must not stop later reloads, nor scheduling
                log.exception("configuration reload crashed; keeping the last good profile",
                              source=change.source)

    async def apply(self, change: ConfigChange) -> bool:
        """Apply one change now; True if the configuration in force changed."""
        if self.app.aborted:
            return False
        if change.text is None:
            self._failed(change, [change.problem or "no configuration"])
            return False
        new_hash = config_hash(change.text)
        if new_hash == self.hash:
            return False
        try:
            config = parse_config(change.text, plugins=self.plugins)
            summary = await self.app.reload(config)
        except ConfigError as err:
            self._failed(change, err.errors)
            return False
        except Exception as err:  # e.g. an out-of-tree plugin's factory raised: keep the old
            log.exception("building the new profiles failed", source=change.source)
            self._failed(change, [f"building the profiles failed: {err!r}"])
            return False
        CONFIG_INFO.remove(self.hash)
        self.hash = new_hash
        CONFIG_INFO.labels(new_hash).set(1)
        CONFIG_LAST_RELOAD_SUCCESSFUL.set(1)
        CONFIG_RELOADS.labels("success").inc()
        log.info("configuration reloaded", source=change.source, hash=new_hash,
                 profiles=sorted(self.app.frameworks), added=list(summary.added),
                 removed=list(summary.removed))
        self._event(change, "Normal", REASON_RELOADED,
                    f"Loaded configuration {new_hash}; profiles: "
                    f"{', '.join(sorted(self.app.frameworks))}")
        return True

    def _failed(self, change: ConfigChange, errors: list[str]) -> None:
        CONFIG_LAST_RELOAD_SUCCESSFUL.set(0)
        CONFIG_RELOADS.labels("failure").inc()
        log.error("configuration reload failed; keeping the last good profile",
                  source=change.source, hash_in_force=self.hash, errors=errors)
        self._event(change, "Warning", REASON_FAILED,
                    f"Keeping configuration {self.hash}: " + "; ".join(errors))

    def _event(self, change: ConfigChange, type_: str, reason: str, note: str) -> None:
        if change.regarding is None:
            return
        regarding: dict[str, Any] = {k: v for k, v in change.regarding.items() if v}
        self.app.reporter.object_event(regarding, type_, reason, "Reload", note[:_NOTE_LIMIT])
