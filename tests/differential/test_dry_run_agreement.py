"""`pyscheduler dry-run` predicts what `pyscheduler run` then does, on the real apiserver.

Every differential scenario whose recorded outcomes are all deterministic (one feasible node,
or a node no tie can change; no preassigned pods) is played with pyscheduler's phase of the
differential runner: the scenario's nodes, objects and bound pods are created for real and
the in-process `pyscheduler run` (the suite's ``diff_env.py``) schedules each incoming pod.
Before each pod is created for run, the dry run predicts it over the live cluster:

* the pod is first created under a *shadow* schedulerName (``dry-<profile>``) that nothing
  serves, so the apiserver admits it exactly as it will admit run's pod (priority and
  preemptionPolicy from the PriorityClass, overhead from the RuntimeClass);
* the dry run lists the cluster through its informer layer, as ``dry-run --kubeconfig`` does,
  and simulates it with the suite's profile renamed to the shadow names (same plugins, same
  args);
* the shadow pod is deleted, and run's pod is created and its outcome read.

The prediction must equal run's outcome: the same node, the same victims, and for a pod that
stays pending the same PodScheduled message, byte for byte.
"""

from __future__ import annotations

import asyncio
import copy

import pytest

from pyscheduler.api.client import new_api_client
from pyscheduler.config import SchedulerConfig, parse_config
from pyscheduler.dryrun.engine import DryRunOptions, simulate
from pyscheduler.dryrun.live import load_live
from pyscheduler.dryrun.result import PodResult
from pyscheduler.plugins.registry import default_registry as registry

from .runner import Env, Phase, PodOutcome, _get, _pod_path, _wait
from .scenario import PodDef, Scenario, load_scenarios, render_pod
from .schedulers import PY_PREFIX, pyscheduler_config

SHADOW_PREFIX = "dry-"
REGISTERED = frozenset(registry())
GONE_TIMEOUT = 30.0


def _deterministic(sc: Scenario) -> bool:
    """All incoming pods have a recorded outcome that no tie can change."""
    if sc.missing(REGISTERED) or any(p.preassigned or p.has_gates for p in sc.incoming):
        return False
    if set(sc.expect) != {p.name for p in sc.incoming}:
        return False
    return all("|" not in want for want in sc.expect.values())


SCENARIOS = [sc for sc in load_scenarios() if _deterministic(sc)]


def _shadow_config() -> SchedulerConfig:
    text = pyscheduler_config(set(REGISTERED)).replace(
        f"schedulerName: {PY_PREFIX}", f"schedulerName: {SHADOW_PREFIX}")
    return parse_config(text, plugins=registry())


async def _predict(env: Env, config: SchedulerConfig, namespace: str, name: str) -> PodResult:
    client = await new_api_client(str(env.cp.admin_kubeconfig))
    try:
        state = await load_live(client, config)
    finally:
        await client.close()
    sim = await simulate(state, config, registry(), DryRunOptions(namespace=namespace))
    (res,) = [r for r in sim.result.pods if r.name == name]
    return res


def _predict_in_cluster(env: Env, phase: Phase, pod: PodDef, config: SchedulerConfig,
                        profile: str) -> PodResult:
    ns = phase.names.ns(pod.namespace)
    body = render_pod(pod, phase.names, scheduler_name=SHADOW_PREFIX + profile)
    shadow = f"{phase.api_name(pod)}-shadow"
    body["metadata"]["name"] = shadow
    env.cp.request("POST", f"/api/v1/namespaces/{ns}/pods", copy.deepcopy(body))
    try:
        return asyncio.run(_predict(env, config, ns, shadow))
    finally:
        path = _pod_path(ns, shadow)
        env.cp.request("DELETE", path, query={"gracePeriodSeconds": 0})
        _wait(f"shadow pod {shadow} to go", lambda: _get(env.cp, path) is None, GONE_TIMEOUT,
              lambda: "")


def _disagreement(pod: str, phase: Phase, got: PodResult,
                  out: PodOutcome) -> str | None:
    node = phase._scenario_node(got.node) if got.node else None
    victims = tuple(sorted(name for _, name in got.victims))
    ran_victims = tuple(sorted(out.victims))
    if out.kind == "bound":
        if node == out.node and victims == ran_victims:
            return None
    elif out.kind == "unschedulable":
        message = phase.names.unmap(got.message or "")
        if node is None and not victims and message == out.message:
            return None
    return (f"{pod}: dry-run said node={node} victims={list(victims)} "
            f"message={got.message!r}; run did {out.brief()} (message {out.message!r})")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_dry_run_predicts_run(scenario: Scenario, diff_env: Env) -> None:
    env = diff_env
    env.py.check_alive()
    config = _shadow_config()
    phase = Phase(env, scenario, "py", f"a{next(env.counter):03d}")
    wrong: list[str] = []
    try:
        phase.setup()
        for pod in scenario.incoming:
            got = _predict_in_cluster(env, phase, pod, config, scenario.profile)
            out = phase.schedule(pod)
            problem = _disagreement(pod.name, phase, got, out)
            if problem:
                wrong.append(problem)
            if out.kind != "bound":
                phase.delete(pod)
    finally:
        phase.teardown()
    assert not wrong, "\n".join(wrong)


def test_some_scenarios_are_played() -> None:
    # The selection above must not silently shrink to nothing.
    assert len(SCENARIOS) >= 20, [s.name for s in SCENARIOS]
