"""What users see: events (events.k8s.io/v1) and the PodScheduled condition.

Contract:
* ``scheduled``: Normal event reason Scheduled, note "Successfully assigned ns/name to node"
  (the Binding subresource itself sets PodScheduled=True).
* ``failed``: Warning event reason FailedScheduling with upstream's message, and a strategic
  merge patch of PodScheduled=False (reason Unschedulable or SchedulerError, the message) plus
  status.nominatedNodeName when a preemption nominated a node. The patch is skipped when the
  condition already says exactly that, so a retry storm writes nothing new.
* Attribution, as client-go's events broadcaster does for kube-scheduler: reportingController
  is the schedulerName of the profile that acted (the regarding pod's, or for a preemption
  victim the preemptor's), reportingInstance is ``<reportingController>-<hostname>``.
  ``recorder(profile)`` is the per-profile EventRecorder the Handle hands to plugins.
* Aggregation: an identical event (same controller, pod UID, type, reason, note) seen again within
  ``series_window`` does not create a new Event: it increments the event's ``series.count``,
  written at most once per ``series_flush`` per event (upstream's event broadcaster keeps
  series the same way, with a longer heartbeat).
"""

from __future__ import annotations

import secrets
import socket
import time
from dataclasses import dataclass
from typing import Any

from pyscheduler.backend.api_dispatcher import ApiDispatcher
from pyscheduler.model.meta import format_rfc3339
from pyscheduler.model.pod import Pod


def micro_time(ts: float | None = None) -> str:
    """metav1.MicroTime's wire format."""
    return format_rfc3339(time.time() if ts is None else ts, micro=True)


def rfc3339(ts: float | None = None) -> str:
    """metav1.Time's wire format (whole seconds, UTC)."""
    return format_rfc3339(time.time() if ts is None else ts)


@dataclass(slots=True)
class _Series:
    name: str
    namespace: str
    count: int
    first_seen: float
    last_seen: float
    last_flush: float
    dirty: bool = False


# reportingController of events that no profile makes (configuration reloads).
COMPONENT = "pyscheduler"


class EventReporter:
    def __init__(self, dispatcher: ApiDispatcher, *, hostname: str | None = None,
                 series_window: float = 6 * 60.0, series_flush: float = 30.0,
                 event_dispatcher: ApiDispatcher | None = None) -> None:
        self.dispatcher = dispatcher
        # Events may go through a writer of their own: kube-scheduler sends them through a
        # separate clientset, so they have their own QPS budget and never delay bindings.
        self.event_dispatcher = event_dispatcher or dispatcher
        self.hostname = hostname or socket.gethostname()
        self.series_window = series_window
        self.series_flush = series_flush
        # uid -> (controller, type, reason, note) -> its series: by pod, so that forgetting a
        # deleted pod does not scan every pod's series.
        self._series: dict[str, dict[tuple[str, str, str, str], _Series]] = {}
        # uid -> (reason, message, nominated) last written, to skip no-op status patches
        self._conditions: dict[str, tuple[str, str, str | None]] = {}

    # ---- Reporter protocol ----------------------------------------------------------------
    def scheduled(self, pod: Pod, node: str) -> None:
        """Normal Event Scheduled; forgets the PodScheduled condition it last wrote."""
        m = pod.metadata
        self._conditions.pop(m.uid, None)
        self.event(pod, "Normal", "Scheduled", "Binding",
                   f"Successfully assigned {m.namespace}/{m.name} to {node}")

    def failed(self, pod: Pod, reason: str, message: str, nominated_node: str | None) -> None:
        """FailedScheduling Event and PodScheduled=False patch (skipped if unchanged)."""
        self.event(pod, "Warning", "FailedScheduling", "Scheduling", message)
        m = pod.metadata
        want = (reason, message, nominated_node)
        if self._conditions.get(m.uid) == want or _condition_matches(pod, reason, message,
                                                                       nominated_node):
            return
        self._conditions[m.uid] = want
        status: dict[str, Any] = {
            "conditions": [{
                "type": "PodScheduled",
                "status": "False",
                "reason": reason,
                "message": message,
                "lastProbeTime": None,
                "lastTransitionTime": rfc3339(),
            }],
        }
        if m.generation:
            # PodObservedGenerationTracking (GA in v1.37): the generation this decision saw.
            status["conditions"][0]["observedGeneration"] = m.generation
        if nominated_node is not None:
            status["nominatedNodeName"] = nominated_node
        self.dispatcher.patch_pod_status(m.namespace, m.name, m.uid, {"status": status})

    def forget(self, uid: str) -> None:
        """The pod is gone: drop what we remember about it."""
        self._conditions.pop(uid, None)
        self._series.pop(uid, None)

    # ---- events ---------------------------------------------------------------------------
    def recorder(self, profile: str) -> ProfileRecorder:
        """The EventRecorder of one profile: its events name ``profile`` as the controller."""
        return ProfileRecorder(self, profile)

    def instance(self, controller: str) -> str:
        """reportingInstance for ``controller`` (client-go: ``<controller>-<hostname>``)."""
        return f"{controller}-{self.hostname}"

    def event(self, pod: Pod, type_: str, reason: str, action: str, note: str,
              related: Pod | None = None, *, controller: str | None = None) -> None:
        """Create an Event, or count it into an identical one's series within ``series_window``.

        ``controller`` defaults to the acting profile: the related pod's schedulerName when
        there is one (the preemptor of a victim), else the regarding pod's."""
        if controller is None:
            controller = (related if related is not None else pod).spec.scheduler_name
        m = pod.metadata
        now = time.time()
        key = (controller, type_, reason, note)
        pod_series = self._series.get(m.uid)
        s = pod_series.get(key) if pod_series is not None else None
        if s is not None and now - s.last_seen < self.series_window:
            s.count += 1
            s.last_seen = now
            s.dirty = True
            if now - s.last_flush >= self.series_flush:
                self._flush(s)
            return
        name = f"{m.name}.{secrets.token_hex(8)}"
        body = {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": m.namespace},
            "eventTime": micro_time(now),
            "reportingController": controller,
            "reportingInstance": self.instance(controller),
            "action": action,
            "reason": reason,
            "type": type_,
            "note": note[:1024],
            "regarding": {
                "apiVersion": "v1", "kind": "Pod", "namespace": m.namespace, "name": m.name,
                "uid": m.uid, "resourceVersion": m.resource_version,
            },
        }
        if related is not None:
            r = related.metadata
            body["related"] = {"apiVersion": "v1", "kind": "Pod", "namespace": r.namespace,
                               "name": r.name, "uid": r.uid}
        self._series.setdefault(m.uid, {})[key] = _Series(name, m.namespace, 1, now, now, now)
        self.event_dispatcher.create_event(f"event/{name}", m.namespace, body)

    def object_event(self, regarding: dict[str, Any], type_: str, reason: str, action: str,
                     note: str) -> None:
        """Create an Event about any object (no series), e.g. the ConfigMap a reload read."""
        namespace = str(regarding.get("namespace") or "default")
        name = f"{regarding.get('name', 'pyscheduler')}.{secrets.token_hex(8)}"
        body = {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "eventTime": micro_time(),
            # Not a profile's decision: the reload belongs to the process as a whole.
            "reportingController": COMPONENT,
            "reportingInstance": self.instance(COMPONENT),
            "action": action,
            "reason": reason,
            "type": type_,
            "note": note[:1024],
            "regarding": regarding,
        }
        self.event_dispatcher.create_event(f"event/{name}", namespace, body)

    def _flush(self, s: _Series) -> None:
        s.dirty = False
        s.last_flush = s.last_seen
        patch = {"series": {"count": s.count, "lastObservedTime": micro_time(s.last_seen)}}
        self.event_dispatcher.patch_event(f"event/{s.name}", s.namespace, s.name, patch)

    def flush_all(self) -> None:
        """Write every pending series count (periodic, and at shutdown)."""
        for pod_series in list(self._series.values()):
            for s in list(pod_series.values()):
                if s.dirty:
                    self._flush(s)
        horizon = time.time() - self.series_window
        for uid, pod_series in list(self._series.items()):
            for k in [k for k, s in pod_series.items() if s.last_seen < horizon]:
                del pod_series[k]
            if not pod_series:
                del self._series[uid]


class ProfileRecorder:
    """One profile's EventRecorder (upstream: the broadcaster's recorder named after the
    profile's schedulerName), handed to that profile's plugins through the Handle."""

    __slots__ = ("_profile", "_reporter")

    def __init__(self, reporter: EventReporter, profile: str) -> None:
        self._reporter = reporter
        self._profile = profile

    def event(self, pod: Pod, type_: str, reason: str, action: str, note: str,
              related: Pod | None = None) -> None:
        """An event with this profile as reportingController."""
        self._reporter.event(pod, type_, reason, action, note, related,
                             controller=self._profile)


def _condition_matches(pod: Pod, reason: str, message: str, nominated: str | None) -> bool:
    for c in pod.status.conditions:
        if c.type == "PodScheduled":
            same = (c.status == "False" and c.reason == reason and c.message == message
                    and (c.observed_generation or 0) == pod.metadata.generation)
            return same and (nominated is None or pod.status.nominated_node_name == nominated)
    return False
