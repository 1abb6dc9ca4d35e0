"""The Framework is its plugins' Handle (issue 12, item 1), built in one direction."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from pyscheduler.framework.interfaces import Handle
from pyscheduler.framework.runtime import (
    Framework,
    FrameworkOptions,
    MissingDependencyError,
    new_framework,
)
from pyscheduler.framework.status import Code
from pyscheduler.framework.types import PodInfo
from pyscheduler.framework.waiting_pods import WaitingPodsMap
from pyscheduler.model.pod import Pod
from pyscheduler.plugins import default_binder, priority_sort


def pod(name: str) -> PodInfo:
    return PodInfo.of(msgspec.convert(
        {"metadata": {"name": name, "namespace": "d", "uid": f"uid-{name}"}}, Pod))


class Seen:
    """A plugin that keeps the handle it was built with."""

    name = "Seen"

    def __init__(self, handle: Handle) -> None:
        self.handle = handle


def build(name: str, options: FrameworkOptions) -> Framework:
    builders: dict[str, Any] = {
        "PrioritySort": lambda h: priority_sort.new(None, h),
        "DefaultBinder": lambda h: default_binder.new(None, h),
        "Seen": Seen,
    }
    fwk, install = new_framework(name, builders, {}, options)
    install({"queueSort": ["PrioritySort"], "bind": ["DefaultBinder"]})
    return fwk


def test_plugins_are_built_with_the_framework_as_their_handle() -> None:
    fwk = build("a", FrameworkOptions())
    assert fwk.plugins["Seen"].handle is fwk
    assert fwk.plugins["DefaultBinder"].handle is fwk
    assert fwk.profile_name == "a"


class Recorder:
    def __init__(self) -> None:
        self.activated: list[str] = []

    def activate(self, pods: Any) -> None:
        self.activated += [p.metadata.name for p in pods]


async def test_waiting_pods_are_shared_by_profiles_and_reachable_through_the_handle() -> None:
    shared = WaitingPodsMap()
    a = build("a", FrameworkOptions(waiting_pods=shared))
    b = build("b", FrameworkOptions(waiting_pods=shared))
    p = pod("p")
    wait = asyncio.create_task(a.wait_on_permit(p, {"Gang": 30.0}))
    await asyncio.sleep(0)
    # Held by profile a, found and rejected through profile b's handle.
    assert b.get_waiting_pod(p.uid) is not None
    assert [w.pod_info.uid for w in b.iterate_waiting_pods()] == [p.uid]
    assert b.reject_waiting_pod(p.uid, "Gang", "gang timed out")
    st = await wait
    assert st is not None and st.code == Code.UNSCHEDULABLE and st.plugin == "Gang"
    assert a.get_waiting_pod(p.uid) is None
    assert not b.reject_waiting_pod(p.uid, "Gang", "again")


def test_activate_goes_to_the_activator_and_missing_dependencies_say_which() -> None:
    rec = Recorder()
    fwk = build("a", FrameworkOptions(activator=rec))
    fwk.activate([pod("x").pod])
    assert rec.activated == ["x"]
    with pytest.raises(MissingDependencyError, match="no binding client"):
        _ = fwk.binding_client
    with pytest.raises(MissingDependencyError, match="no preemption executor"):
        _ = fwk.preemption_executor
