"""An out-of-tree plugin, from a distribution of its own, filters and scores in a real run.

tests/plugins_oot is that distribution (``pyscheduler-oot-example``): it registers the plugin
ExampleNodeLabel through the ``pyscheduler.plugins`` entry point group and nothing else. The
Makefile's venv step installs it next to pyscheduler. Here ``pyscheduler run`` (a child
process, so the command composes its registry from the installed entry points as it does in
production) runs a profile that enables the plugin through multiPoint with args from
pluginConfig, against the real apiserver with KWOK nodes.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path

import pytest

from envtest import ControlPlane
from envtest.workload import (
    SchedulerProcess,
    create_pods,
    list_events,
    list_pods,
    pod_condition,
    pod_manifest,
)
from integration.waiting import wait_until

PLUGIN = "ExampleNodeLabel"
SCHEDULER = "pyscheduler-oot"
ALLOWED = "example.com/allowed"
RANK = "example.com/rank"  # the plugin's scoreLabel, set through pluginConfig args
ERR_REASON = "node(s) lacked the example label"

CONFIG = f"""\
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
leaderElection:
  leaderElect: false
profiles:
- schedulerName: {SCHEDULER}
  plugins:
    multiPoint:
      enabled:
      - name: {PLUGIN}
        weight: 50
  pluginConfig:
  - name: {PLUGIN}
    args:
      scoreLabel: {RANK}
"""


def _installed() -> list[str]:
    return [ep.value for ep in metadata.entry_points(group="pyscheduler.plugins")
            if ep.name == PLUGIN]


@pytest.fixture
def scheduler(live_control_plane: ControlPlane, tmp_path: Path) -> Iterator[SchedulerProcess]:
    if not _installed():
        pytest.fail("the out-of-tree test plugin is not installed: run `make venv` (it installs "
                    "tests/plugins_oot) or `.venv/bin/pip install -e tests/plugins_oot`")
    config = tmp_path / "pyscheduler.yaml"
    config.write_text(CONFIG)
    proc = SchedulerProcess(live_control_plane.scheduler_kubeconfig,
                            tmp_path / "pyscheduler.log", config=config)
    proc.start()
    yield proc
    proc.stop(signal.SIGKILL)


def test_out_of_tree_plugin_filters_and_scores(
    live_control_plane: ControlPlane,
    kwok_nodes: Callable[..., list[str]],
    namespace: str,
    scheduler: SchedulerProcess,
) -> None:
    cp = live_control_plane
    assert _installed() == ["pyscheduler_oot_example.node_label:SPEC"]
    # The plain node is the emptiest (least allocated), so only the plugin keeps pods off it.
    [plain] = kwok_nodes(1, cpu="64", memory="512Gi")
    [low] = kwok_nodes(1, labels={ALLOWED: "yes", RANK: "10"})
    [high] = kwok_nodes(1, labels={ALLOWED: "yes", RANK: "90"})
    hostname = "kubernetes.io/hostname"

    pods = [pod_manifest(f"scored-{i}", scheduler_name=SCHEDULER) for i in range(4)]
    # Only the plain node matches the selector: the plugin's filter leaves nothing.
    pods.append(pod_manifest("filtered", scheduler_name=SCHEDULER,
                             node_selector={hostname: plain}))
    # The same, but the pod opts out of the plugin's filter: it binds to the plain node.
    opted = pod_manifest("opted-out", scheduler_name=SCHEDULER, node_selector={hostname: plain})
    opted["metadata"]["annotations"] = {"example.com/any-node": "true"}
    pods.append(opted)
    create_pods(cp, namespace, pods)

    def placed() -> dict[str, str] | None:
        got = {p["metadata"]["name"]: p["spec"].get("nodeName", "")
               for p in list_pods(cp, namespace)}
        done = all(got.get(f"scored-{i}") for i in range(4)) and got.get("opted-out")
        return got if done else None

    got = wait_until(placed, timeout=60, what="scored and opted-out pods bound")
    assert {got[f"scored-{i}"] for i in range(4)} == {high}, (low, high, got)
    assert got["opted-out"] == plain

    def rejected() -> str:
        [pod] = [p for p in list_pods(cp, namespace) if p["metadata"]["name"] == "filtered"]
        cond = pod_condition(pod, "PodScheduled") or {}
        return str(cond.get("message", "")) if cond.get("reason") == "Unschedulable" else ""

    message = wait_until(rejected, timeout=60, what="filtered pod reported Unschedulable")
    assert f"1 {ERR_REASON}" in message, message
    assert not got.get("filtered")

    def failed_event() -> list[str]:
        return [e.get("note", "") for e in list_events(cp, namespace)
                if e.get("reason") == "FailedScheduling"
                and e["regarding"]["name"] == "filtered"]

    [event, *_] = wait_until(failed_event, timeout=30, what="FailedScheduling event")
    assert f"1 {ERR_REASON}" in event, event
