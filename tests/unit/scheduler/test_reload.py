"""Issue 13: a configuration reload swaps profiles between cycles and keeps the queue.

SchedulerApp is built on an ApiClient that is never used (nothing is started), and pods are
put into the informer's store and the queue by hand: the swap itself needs no API server (the
integration test tests/integration/test_config_reload.py drives it through a real ConfigMap).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from kubernetes_asyncio.client import ApiClient, Configuration

from pyscheduler.config import ConfigError, parse_config
from pyscheduler.model.pod import Pod
from pyscheduler.operator.change import ConfigChange, config_hash
from pyscheduler.operator.metrics import (
    CONFIG_INFO,
    CONFIG_LAST_RELOAD_SUCCESSFUL,
    CONFIG_RELOADS,
)
from pyscheduler.operator.reload import ConfigReloader
from pyscheduler.plugins.registry import default_registry
from pyscheduler.scheduler.scheduler import SchedulerApp

_uids = itertools.count()

HEAD = """apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
leaderElection:
  leaderElect: false
"""
ONE = HEAD + "profiles:\n- schedulerName: a\n"
TWO = HEAD + "profiles:\n- schedulerName: a\n- schedulerName: b\n"
ONLY_B = HEAD + "profiles:\n- schedulerName: b\n"
MOST = ONE + """  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
"""
BROKEN = ONE + """  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: Foo
"""


def pending(name: str, scheduler: str) -> Pod:
    obj: dict[str, Any] = {
        "metadata": {"name": name, "namespace": "default", "uid": f"u-{name}-{next(_uids)}"},
        "spec": {"schedulerName": scheduler, "containers": [{"name": "c"}]},
        "status": {},
    }
    return msgspec.convert(obj, Pod)


@pytest.fixture
async def app() -> AsyncIterator[SchedulerApp]:
    reg = default_registry()
    client = ApiClient(Configuration(host="http://127.0.0.1:9"))
    a = SchedulerApp(client, parse_config(ONE, plugins=reg), registry=reg)
    yield a
    await client.close()


def queued_names(app: SchedulerApp) -> set[str]:
    pods, _ = app.queue.pending_pods()
    return {p.metadata.name for p in pods}


def track(app: SchedulerApp, pod: Pod) -> None:
    """What the pod informer and its handlers would do for a new pending pod."""
    app.pods.indexer.add(pod)
    if app.responsible(pod):
        app.queue.add(pod)


async def test_added_profile_queues_its_pending_pods_and_removed_one_lets_go(
        app: SchedulerApp) -> None:
    reg = default_registry()
    for pod in (pending("a1", "a"), pending("b1", "b"), pending("other", "default-scheduler")):
        track(app, pod)
    assert queued_names(app) == {"a1"}
    old_queue = app.queue

    summary = await app.reload(parse_config(TWO, plugins=reg))
    assert summary.added == ("b",) and summary.queued == 1
    assert set(app.frameworks) == {"a", "b"}
    assert app.scheduler.frameworks is app.frameworks  # the loop sees the new profiles
    assert app.queue is old_queue  # the queue survives the swap
    assert queued_names(app) == {"a1", "b1"}
    assert app.responsible(pending("b2", "b"))

    summary = await app.reload(parse_config(ONLY_B, plugins=reg))
    assert summary.removed == ("a",) and summary.dropped == 1
    assert queued_names(app) == {"b1"}
    assert not app.responsible(pending("a2", "a"))


async def test_changed_args_take_effect_in_new_frameworks(app: SchedulerApp) -> None:
    reg = default_registry()
    before = app.frameworks["a"]
    await app.reload(parse_config(MOST, plugins=reg))
    after = app.frameworks["a"]
    assert after is not before
    assert before.plugins["NodeResourcesFit"].strategy == "LeastAllocated"  # type: ignore[attr-defined]
    assert after.plugins["NodeResourcesFit"].strategy == "MostAllocated"  # type: ignore[attr-defined]


async def test_restart_only_fields_are_refused_and_nothing_changes(app: SchedulerApp) -> None:
    reg = default_registry()
    before = app.frameworks
    text = ONE.replace("leaderElect: false", "leaderElect: true")
    with pytest.raises(ConfigError) as err:
        await app.reload(parse_config(text, plugins=reg))
    assert err.value.errors == ["leaderElection: Forbidden: cannot change without a restart"]
    assert app.frameworks is before


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def object_event(self, regarding: dict[str, Any], type_: str, reason: str, action: str,
                     note: str) -> None:
        self.events.append((type_, reason, note))


def _sample(metric: Any, **labels: str) -> float:
    for m in metric.collect():
        for s in m.samples:
            if s.name.endswith(("_total", "_successful", "_info")) and all(
                    s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0  # a labelled child not created yet


async def test_reloader_keeps_last_good_on_invalid_and_reports_field_path(
        app: SchedulerApp) -> None:
    rec = Recorder()
    app.reporter.object_event = rec.object_event  # type: ignore[method-assign]
    reloader = ConfigReloader(app, default_registry(), ONE)
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "namespace": "ns", "name": "cm"}
    failures = _sample(CONFIG_RELOADS, result="failure")
    fwk = app.frameworks["a"]

    reloader.submit(ConfigChange("test", BROKEN, regarding=ref))
    await reloader.wait_idle()
    assert app.frameworks["a"] is fwk
    assert _sample(CONFIG_LAST_RELOAD_SUCCESSFUL) == 0
    assert _sample(CONFIG_RELOADS, result="failure") == failures + 1
    (type_, reason, note), = rec.events
    assert (type_, reason) == ("Warning", "FailedConfigReload")
    assert ('profiles[0].pluginConfig[0].args.scoringStrategy.type: Unsupported value: "Foo"'
            in note), note

    reloader.submit(ConfigChange("test", MOST, regarding=ref))
    await reloader.wait_idle()
    assert app.frameworks["a"] is not fwk
    assert _sample(CONFIG_LAST_RELOAD_SUCCESSFUL) == 1
    assert _sample(CONFIG_INFO, hash=config_hash(MOST)) == 1
    assert rec.events[-1][:2] == ("Normal", "ConfigReloaded")

    # The same text again (a relist) changes nothing and reports nothing.
    n = len(rec.events)
    reloader.submit(ConfigChange("test", MOST, regarding=ref))
    await reloader.wait_idle()
    assert len(rec.events) == n

    # Deleted: keep the last good configuration, and say so.
    current = app.frameworks["a"]
    reloader.submit(ConfigChange("test", None, "the ConfigMap was deleted", regarding=ref))
    await reloader.wait_idle()
    assert app.frameworks["a"] is current
    assert rec.events[-1][1] == "FailedConfigReload"
    assert "the ConfigMap was deleted" in rec.events[-1][2]


async def test_latest_change_wins_while_one_is_applied(app: SchedulerApp) -> None:
    app.reporter.object_event = Recorder().object_event  # type: ignore[method-assign]
    reloader = ConfigReloader(app, default_registry(), ONE)
    reloader.submit(ConfigChange("test", TWO))
    reloader.submit(ConfigChange("test", BROKEN))
    reloader.submit(ConfigChange("test", ONLY_B))
    await reloader.wait_idle()
    assert set(app.frameworks) == {"b"}


def _load_aware(interval: int) -> str:
    return ONE + f"""  plugins:
    score:
      enabled:
      - name: TargetLoadPacking
      - name: LoadVariationRiskBalancing
  pluginConfig:
  - name: TargetLoadPacking
    args:
      metricProvider: {{type: KubernetesMetricsServer, pollIntervalSeconds: {interval}}}
  - name: LoadVariationRiskBalancing
    args:
      metricProvider: {{type: KubernetesMetricsServer, pollIntervalSeconds: {interval}}}
"""


async def test_a_reload_stops_the_pollers_no_new_plugin_reads() -> None:
    reg = default_registry()
    client = ApiClient(Configuration(host="http://127.0.0.1:9"))
    app = SchedulerApp(client, parse_config(_load_aware(3600), plugins=reg), registry=reg)
    hub = app.load_metrics
    try:
        hub.start()
        assert hub.running_pollers == 1  # two plugins, one source
        for interval in (1800, 900, 900):
            await app.reload(parse_config(_load_aware(interval), plugins=reg))
            assert hub.running_pollers == 1
            assert [s.poll_interval_seconds for s in hub.specs] == [float(interval)]
        # A refused reload (restart-only field) leaves the running poller alone.
        text = _load_aware(60).replace("leaderElect: false", "leaderElect: true")
        with pytest.raises(ConfigError):
            await app.reload(parse_config(text, plugins=reg))
        assert hub.running_pollers == 1
        await app.reload(parse_config(ONE, plugins=reg))
        assert hub.running_pollers == 0 and not hub.specs
    finally:
        await hub.stop()
        await client.close()
