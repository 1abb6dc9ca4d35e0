"""Queueing-hint evaluation: may a cluster event make a rejected pod schedulable (upstream
scheduling_queue.go isPodWorthRequeuing and determineSchedulingHintForInFlightPod).

Contract:
* ``events_by_plugin`` maps a plugin to the events it registered (EnqueueExtensions). A plugin
  absent from it is taken to be interested in every event with no hint, as upstream registers
  plugins without EnqueueExtensions; a plugin mapped to an empty list is interested in none.
  The first pod rejected by such an unknown plugin is remembered in ``unknown_rejectors`` (and
  logged): from then on no event may be dropped early.
* ``worth_requeuing(queued, event, old, new)`` asks the hints of the pod's rejector plugins: no
  rejectors (an Error) → AFTER_BACKOFF; a wildcard event → AFTER_BACKOFF (one carrying a pod
  concerns that pod only); otherwise a Queue from a *pending* plugin → IMMEDIATELY, from an
  unschedulable one → AFTER_BACKOFF, none → SKIP. No hint means Queue; a hint that raises
  means Queue (logged), so a pod is never stuck for a plugin's bug.
* ``strategy_for_in_flight`` applies that to the events recorded while the pod was in flight,
  plus the pod's own meaningful update (AFTER_BACKOFF).
* Matching registrations are cached per incoming event (at most 4,096 distinct events).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from enum import IntEnum
from typing import Any

import structlog

from pyscheduler.backend.queue.events import event_label, is_wildcard
from pyscheduler.backend.queue.in_flight import InFlightLog, InFlightPod
from pyscheduler.framework.types import (
    ClusterEvent,
    ClusterEventWithHint,
    QueuedPodInfo,
    QueueingHint,
    QueueingHintFn,
)
from pyscheduler.metrics import QUEUEING_HINT_EXECUTION_DURATION
from pyscheduler.model.pod import Pod

log = structlog.get_logger(__name__)

_MAX_MATCH_CACHE = 4096


class QueueingStrategy(IntEnum):
    """How to requeue a pod (upstream queueingStrategy); larger wins."""

    SKIP = 0
    AFTER_BACKOFF = 1
    IMMEDIATELY = 2


class HintEvaluator:
    """The plugins' event registrations and hints, evaluated for rejected pods."""

    __slots__ = ("_match_cache", "events_by_plugin", "unknown_rejectors")

    def __init__(self, events_by_plugin: Mapping[str, Sequence[ClusterEventWithHint]]) -> None:
        self.events_by_plugin: dict[str, tuple[ClusterEventWithHint, ...]] = {
            name: tuple(evs) for name, evs in events_by_plugin.items()
        }
        # incoming event -> {plugin: [hint, ...]} of registrations matching it.
        self._match_cache: dict[ClusterEvent, dict[str, list[QueueingHintFn | None]]] = {}
        # Set once a pod is rejected by a plugin missing from events_by_plugin: from then on
        # every event may concern some pod, so none can be dropped early.
        self.unknown_rejectors: set[str] = set()

    def gating_plugin_interested(self, queued: QueuedPodInfo, event: ClusterEvent) -> bool:
        """The plugin that gated ``queued`` registered ``event`` (or registered nothing)."""
        registered = self.events_by_plugin.get(queued.gating_plugin)
        if registered is None:
            return True
        return any(r.event.matches(event) for r in registered)

    def matching(self, event: ClusterEvent) -> dict[str, list[QueueingHintFn | None]]:
        """Plugins whose registrations match ``event``, with their hints (cached per event)."""
        cached = self._match_cache.get(event)
        if cached is not None:
            return cached
        result: dict[str, list[QueueingHintFn | None]] = {}
        for plugin, registered in self.events_by_plugin.items():
            for r in registered:
                if r.event.matches(event):
                    result.setdefault(plugin, []).append(r.hint)
        if len(self._match_cache) < _MAX_MATCH_CACHE:
            self._match_cache[event] = result
        return result

    def note_unknown_rejectors(self, queued: QueuedPodInfo) -> None:
        """Remember (and log once) rejector plugins that registered no events."""
        for plugin in (*queued.unschedulable_plugins, *queued.pending_plugins):
            if plugin not in self.events_by_plugin and plugin not in self.unknown_rejectors:
                self.unknown_rejectors.add(plugin)
                log.warning("plugin registered no events; any cluster event will requeue "
                            "the pods it rejects", plugin=plugin)

    def worth_requeuing(self, queued: QueuedPodInfo, event: ClusterEvent, old: Any,
                        new: Any) -> QueueingStrategy:
        """Upstream isPodWorthRequeuing: ask the rejector plugins' hints about ``event``."""
        pending = queued.pending_plugins
        rejectors = queued.unschedulable_plugins | pending
        if not rejectors:
            return QueueingStrategy.AFTER_BACKOFF
        if is_wildcard(event):
            # A wildcard event carrying a pod (ForceActivate) concerns that pod only.
            if new is not None and (not isinstance(new, Pod) or new.metadata.uid != queued.uid):
                return QueueingStrategy.SKIP
            return QueueingStrategy.AFTER_BACKOFF
        matching = self.matching(event)
        strategy = QueueingStrategy.SKIP
        for plugin in rejectors:
            hints: list[QueueingHintFn | None] | None
            if plugin in self.events_by_plugin:
                hints = matching.get(plugin)
                if not hints:
                    continue
            else:
                hints = [None]
            for hint in hints:
                if self.run_hint(plugin, hint, queued, event, old, new) == QueueingHint.SKIP:
                    continue
                if plugin in pending:
                    return QueueingStrategy.IMMEDIATELY
                if not pending:
                    return QueueingStrategy.AFTER_BACKOFF
                strategy = QueueingStrategy.AFTER_BACKOFF
        return strategy

    def run_hint(self, plugin: str, hint: QueueingHintFn | None, queued: QueuedPodInfo,
                 event: ClusterEvent, old: Any, new: Any) -> QueueingHint:
        """One hint's answer: Queue when there is no hint or when it raises (logged)."""
        if hint is None:
            return QueueingHint.QUEUE
        start = time.perf_counter()
        try:
            answer = hint(queued.pod, old, new)
            label = answer.value
        except Exception:
            # Queue rather than risk leaving the pod stuck in the pool (upstream does this).
            log.exception("queueing hint failed; requeuing the pod", plugin=plugin,
                          pod=queued.key, cluster_event=event_label(event))
            answer, label = QueueingHint.QUEUE, "Error"
        QUEUEING_HINT_EXECUTION_DURATION.labels(plugin, event_label(event), label).observe(
            time.perf_counter() - start)
        return answer

    def strategy_for_in_flight(self, queued: QueuedPodInfo, rec: InFlightPod,
                               in_flight: InFlightLog) -> QueueingStrategy:
        """Upstream determineSchedulingHintForInFlightPod, plus the pod's own updates."""
        if not queued.unschedulable_plugins and not queued.pending_plugins:
            return QueueingStrategy.AFTER_BACKOFF
        # The pod itself changed meaningfully while in flight: as for an update in the pool.
        strategy = QueueingStrategy.AFTER_BACKOFF if rec.updated else QueueingStrategy.SKIP
        if strategy and not queued.pending_plugins:
            return strategy
        for ev in in_flight.events_since(rec):
            s = self.worth_requeuing(queued, ev.event, ev.old, ev.new)
            if s == QueueingStrategy.IMMEDIATELY:
                return s
            if s > strategy:
                strategy = s
                if not queued.pending_plugins:
                    return strategy
        return strategy
