"""Events name the profile that acted, as client-go's broadcaster does for kube-scheduler."""

from __future__ import annotations

from typing import Any

import msgspec

from pyscheduler.model.pod import Pod
from pyscheduler.scheduler.reporter import EventReporter


class _Writes:
    """Collects what the reporter would send (the dispatcher's three write methods)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def create_event(self, key: str, namespace: str, body: dict[str, Any]) -> None:
        self.events.append(body)

    def patch_event(self, key: str, namespace: str, name: str, patch: dict[str, Any]) -> None:
        pass

    def patch_pod_status(self, namespace: str, name: str, uid: str, patch: Any) -> None:
        pass


def _pod(name: str, scheduler: str) -> Pod:
    return msgspec.convert({
        "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}"},
        "spec": {"schedulerName": scheduler, "containers": [{"name": "c"}]},
    }, Pod)


def _reporter() -> tuple[EventReporter, _Writes]:
    w = _Writes()
    return EventReporter(w, hostname="host-1"), w  # type: ignore[arg-type]


def test_each_profile_reports_under_its_scheduler_name() -> None:
    r, w = _reporter()
    r.scheduled(_pod("a", "pyscheduler"), "n1")
    r.failed(_pod("b", "second"), "Unschedulable", "0/1 nodes are available", None)
    assert [(e["reportingController"], e["reportingInstance"]) for e in w.events] == [
        ("pyscheduler", "pyscheduler-host-1"), ("second", "second-host-1")]


def test_a_victims_event_names_the_preemptors_profile() -> None:
    r, w = _reporter()
    r.event(_pod("victim", "default-scheduler"), "Normal", "Preempted", "Preempting", "x",
            related=_pod("preemptor", "second"))
    assert w.events[0]["reportingController"] == "second"


def test_a_plugins_recorder_is_bound_to_its_profile() -> None:
    r, w = _reporter()
    r.recorder("second").event(_pod("p", "pyscheduler"), "Normal", "Reason", "Act", "note")
    assert w.events[0]["reportingController"] == "second"
    assert w.events[0]["reportingInstance"] == "second-host-1"


def test_series_are_kept_per_controller() -> None:
    r, w = _reporter()
    pod = _pod("p", "pyscheduler")
    r.recorder("a").event(pod, "Normal", "R", "A", "same note")
    r.recorder("b").event(pod, "Normal", "R", "A", "same note")
    r.recorder("a").event(pod, "Normal", "R", "A", "same note")  # counted into a's series
    assert [e["reportingController"] for e in w.events] == ["a", "b"]
