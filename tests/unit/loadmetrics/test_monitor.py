"""The poller: history, freshness, transitions logged once, the stale-nodes gauge."""

from __future__ import annotations

import asyncio

import pytest
import structlog
from prometheus_client import REGISTRY

from pyscheduler.loadmetrics.monitor import LoadMetricsHub, LoadMonitor
from pyscheduler.loadmetrics.sources import SourceError
from pyscheduler.loadmetrics.types import LoadSourceSpec, NodeSample


class _Source:
    def __init__(self) -> None:
        self.answer: dict[str, NodeSample] | None = {}
        self.closed = False

    async def fetch(self) -> dict[str, NodeSample]:
        if self.answer is None:
            raise SourceError("down")
        return dict(self.answer)

    async def close(self) -> None:
        self.closed = True


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _gauge(label: str) -> float | None:
    return REGISTRY.get_sample_value("pyscheduler_load_metrics_stale_nodes", {"source": label})


def _monitor(nodes: list[str], spec: LoadSourceSpec) -> tuple[LoadMonitor, _Source, _Clock]:
    src, clock = _Source(), _Clock()
    return LoadMonitor(spec, src, lambda: nodes, clock), src, clock


async def test_fresh_then_stale_then_fresh_logs_each_transition_once() -> None:
    spec = LoadSourceSpec(poll_interval_seconds=10, history_size=3, address="t1")
    nodes = ["a", "b"]
    mon, src, clock = _monitor(nodes, spec)
    src.answer = {"a": NodeSample(500.0, 1e9, timestamp=995.0, window=10)}
    with structlog.testing.capture_logs() as logs:
        await mon.poll_once()
    view = mon.view()
    assert set(view.fresh) == {"a"} and view.stale == {"b"}
    assert _gauge(spec.label) == 1
    assert [e["node"] for e in logs if e["event"].startswith("node load metrics stale")] == ["b"]

    # The source goes down: samples age out after 3 intervals (30 s), one line per node.
    src.answer = None
    with structlog.testing.capture_logs() as logs:
        clock.now = 1020.0
        await mon.poll_once()
        assert "a" in mon.view().fresh
        clock.now = 1030.0
        await mon.poll_once()
        await mon.poll_once()
    assert mon.view().stale == {"a", "b"}
    assert _gauge(spec.label) == 2
    stale_lines = [e for e in logs if e["event"].startswith("node load metrics stale")]
    assert [e["node"] for e in stale_lines] == ["a"]
    assert sum(e["event"].startswith("load metrics poll failing") for e in logs) == 1

    src.answer = {"a": NodeSample(700.0, 1e9, timestamp=1029.0),
                  "b": NodeSample(100.0, 2e9, timestamp=1029.0)}
    with structlog.testing.capture_logs() as logs:
        await mon.poll_once()
    assert mon.view().stale == frozenset() and _gauge(spec.label) == 0
    assert sorted(e["node"] for e in logs if e["event"] == "node load metrics fresh again") == [
        "a", "b"]


async def test_history_gives_latest_and_population_std() -> None:
    spec = LoadSourceSpec(history_size=3, address="t2")
    mon, src, _ = _monitor(["a"], spec)
    for i, cpu in enumerate([100.0, 200.0, 300.0, 600.0]):
        src.answer = {"a": NodeSample(cpu, 5.0, timestamp=990.0 + i)}
        await mon.poll_once()
        await mon.poll_once()  # a repeated sample (same time) is not counted twice
    load = mon.view().fresh["a"]
    assert load.cpu is not None and load.memory is not None and load.memory.std == 0
    assert load.cpu.avg == 600.0
    # the last three: 200, 300, 600 -> mean 366.67, population std 170.0
    assert load.cpu.std == pytest.approx(169.967317, rel=1e-6)


async def test_a_node_missing_one_resource_is_stale() -> None:
    mon, src, _ = _monitor(["a"], LoadSourceSpec(address="t4"))
    src.answer = {"a": NodeSample(None, 1e9, timestamp=999.0)}
    await mon.poll_once()
    assert mon.view().stale == {"a"}


async def test_nodes_leaving_the_cluster_are_forgotten() -> None:
    nodes = ["a"]
    mon, src, _ = _monitor(nodes, LoadSourceSpec(address="t3"))
    src.answer = {"a": NodeSample(1.0, 1.0, timestamp=999.0)}
    await mon.poll_once()
    nodes.clear()
    src.answer = {}
    await mon.poll_once()
    assert not mon.view().fresh and not mon.view().stale


async def test_hub_shares_one_monitor_per_spec_and_stops_pollers() -> None:
    hub = LoadMetricsHub(None, lambda: ["a"])
    spec = LoadSourceSpec(poll_interval_seconds=3600)
    assert hub.monitor(spec) is hub.monitor(LoadSourceSpec(poll_interval_seconds=3600))
    assert hub.monitor(LoadSourceSpec(poll_interval_seconds=60)) is not hub.monitor(spec)
    hub.start()
    late = hub.monitor(LoadSourceSpec(poll_interval_seconds=7))  # started on creation
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    # Without an API client there is no metrics.k8s.io source: every node is stale.
    assert late.view().stale == {"a"}
    await hub.stop()


def test_a_framework_without_a_load_pipeline_hands_out_a_monitor_without_data() -> None:
    from pyscheduler.framework.runtime import FrameworkOptions, new_framework
    from pyscheduler.loadmetrics.types import EMPTY_VIEW

    fwk, _ = new_framework("p", {}, {}, FrameworkOptions())
    mon = fwk.load_metrics(LoadSourceSpec())
    assert mon.view() is EMPTY_VIEW and mon.spec == LoadSourceSpec()
    hub = LoadMetricsHub(None, lambda: [])
    fwk2, _ = new_framework("p", {}, {}, FrameworkOptions(load_metrics=hub))
    assert fwk2.load_metrics(LoadSourceSpec()) is hub.monitor(LoadSourceSpec())


async def test_staleness_is_judged_when_the_view_is_read_not_only_at_the_next_poll() -> None:
    # Polls every hour, stale after 15 s: without the read-time check the sample would be
    # scored with for up to an hour.
    spec = LoadSourceSpec(poll_interval_seconds=3600, stale_after_seconds=15, address="t5")
    mon, src, clock = _monitor(["a", "b"], spec)
    src.answer = {"a": NodeSample(500.0, 1e9, timestamp=995.0),
                  "b": NodeSample(500.0, 1e9, timestamp=999.0)}
    await mon.poll_once()
    first = mon.view()
    assert set(first.fresh) == {"a", "b"} and first.expires_at == 995.0 + 15
    clock.now = 1010.0  # a is 15 s old: still usable
    assert mon.view() is first
    clock.now = 1010.5
    with structlog.testing.capture_logs() as logs:
        view = mon.view()
    assert set(view.fresh) == {"b"} and view.stale == {"a"}
    assert view.generation == first.generation + 1 and view.expires_at == 999.0 + 15
    assert _gauge(spec.label) == 1
    assert [e["node"] for e in logs if e["event"].startswith("node load metrics stale")] == ["a"]
    assert mon.view() is view  # judged once: the next read before b expires changes nothing
    clock.now = 1014.5
    assert mon.view().stale == {"a", "b"} and mon.view().expires_at == float("inf")


async def test_a_failed_poll_keeps_its_error() -> None:
    mon, src, _ = _monitor(["a"], LoadSourceSpec(address="t6"))
    src.answer = None
    await mon.poll_once()
    assert mon.last_error == "down"
    src.answer = {}
    await mon.poll_once()
    assert mon.last_error == ""


async def test_hub_retain_stops_the_pollers_of_specs_no_longer_read() -> None:
    hub = LoadMetricsHub(None, lambda: ["a"])
    keep, drop = (LoadSourceSpec(poll_interval_seconds=3600, address="t7"),
                  LoadSourceSpec(poll_interval_seconds=3600, address="t8"))
    with hub.recording() as asked:
        hub.monitor(keep)
        hub.monitor(drop)
    assert asked == {keep, drop}
    hub.start()
    await asyncio.sleep(0)
    assert hub.running_pollers == 2
    await hub.retain({keep})
    assert hub.running_pollers == 1 and hub.specs == {keep}
    await hub.stop()
    assert hub.running_pollers == 0
