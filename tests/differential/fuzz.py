"""Seeded random scenarios for the differential harness (``make differential-fuzz``).

Contract:
* ``generate(seed, index)`` is a pure function of its arguments: the scenario document (the
  scenarios/*.yaml format, see scenario.py) named ``fuzz-<seed>-<index>``. The same seed and
  index give the same scenario on every machine, so a reported failure can be replayed.
* A scenario has 2-12 nodes in 1-3 zones (random labels, taints, sizes), 0-20 pods already
  bound (within each node's capacity; random priorities, labels, sidecars, init containers,
  overhead) and 1-6 incoming pods (random requests, node selectors and affinity, tolerations,
  pod (anti-)affinity, topology spread, priorities, sidecars, init containers, overhead,
  pod-level resources). Some incoming pods are high priority and larger than any node's free
  room, so they need preemption.
* Start times: pods bound to one node with the same priority get distinct ``startTime``
  offsets, so upstream's victim order on a node never falls back to its cache order (which the
  harness cannot observe); across nodes offsets collide on purpose, so pickOneNodeForPreemption's
  criteria tie and the harness's explicit preemption ties are exercised.
* ``save(docs, directory)`` writes disagreeing scenarios as one YAML file each, loadable by
  ``scenario.load_scenarios`` (and ``PYSCHEDULER_DIFF_SCENARIOS=<dir>`` replays them).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import yaml

ZONES = ["zone-a", "zone-b", "zone-c"]
APPS = ["web", "db", "cache"]
PRIORITIES = [None, "diff-low", "diff-medium"]
PREEMPTOR_PRIORITIES = ["diff-high", "diff-high", "diff-medium", "diff-high-nonpreempting"]
_PRIO_VALUE = {None: 0, "diff-low": 100, "diff-medium": 500}


def _mi(rng: random.Random, lo: int, hi: int, step: int = 64) -> int:
    return rng.randrange(lo // step, hi // step + 1) * step


def _resources(rng: random.Random, cpu_hi: int, mem_hi: int) -> dict[str, str]:
    """Container requests: sometimes cpu or memory left out (non-zero defaults apply)."""
    out: dict[str, str] = {}
    r = rng.random()
    if r < 0.9:
        out["cpu"] = f"{rng.randrange(1, cpu_hi // 50 + 1) * 50}m"
    if r > 0.1:
        out["memory"] = f"{_mi(rng, 64, mem_hi)}Mi"
    return out


def _containers(rng: random.Random, pod: dict[str, Any], cpu_hi: int, mem_hi: int) -> None:
    """Main requests, and maybe a sidecar, an init container, overhead or pod-level requests."""
    pod["requests"] = _resources(rng, cpu_hi, mem_hi)
    spec = pod.setdefault("spec", {})
    init: list[dict[str, Any]] = []
    if rng.random() < 0.2:
        init.append({"name": "sidecar", "restartPolicy": "Always",
                     "resources": {"requests": _resources(rng, cpu_hi // 2, mem_hi // 2)}})
    if rng.random() < 0.2:
        init.append({"name": "init", "resources": {
            "requests": _resources(rng, cpu_hi * 2, mem_hi * 2)}})
    if init:
        rng.shuffle(init)
        spec["initContainers"] = init
    if rng.random() < 0.1:
        spec["runtimeClassName"] = "diff-overhead"
    if rng.random() < 0.08:
        # Pod-level requests (PodLevelResources, on by default in v1.37): they must cover the
        # containers' requests, so set them from the aggregate the main container asks for.
        cpu = pod["requests"].get("cpu", "100m")
        mem = pod["requests"].get("memory", "128Mi")
        extra_cpu = rng.randrange(0, 5) * 100
        cpu_m = int(cpu[:-1]) + extra_cpu + sum(
            int(c["resources"]["requests"].get("cpu", "0m")[:-1]) for c in init)
        mem_mi = int(mem[:-2]) + sum(
            int(c["resources"]["requests"].get("memory", "0Mi")[:-2]) for c in init)
        spec["resources"] = {"requests": {"cpu": f"{cpu_m}m", "memory": f"{mem_mi}Mi"}}


def _cpu_m(q: str) -> int:
    return int(q[:-1])


def _mem_mi(q: str) -> int:
    return int(q[:-2])


def _effective(pod: dict[str, Any]) -> tuple[int, int]:
    """(milli-cpu, MiB) the pod requests, as the fit filter counts it (roughly: enough to keep
    the bound pods within their node's capacity)."""
    spec = pod.get("spec") or {}
    cpu = _cpu_m(pod["requests"].get("cpu", "0m"))
    mem = _mem_mi(pod["requests"].get("memory", "0Mi"))
    side_cpu = side_mem = 0
    init_cpu = init_mem = 0
    for c in spec.get("initContainers") or []:
        r = c["resources"]["requests"]
        c_cpu, c_mem = _cpu_m(r.get("cpu", "0m")), _mem_mi(r.get("memory", "0Mi"))
        if c.get("restartPolicy") == "Always":
            side_cpu += c_cpu
            side_mem += c_mem
            init_cpu, init_mem = max(init_cpu, side_cpu), max(init_mem, side_mem)
        else:
            init_cpu, init_mem = max(init_cpu, c_cpu + side_cpu), max(init_mem, c_mem + side_mem)
    cpu, mem = max(cpu + side_cpu, init_cpu), max(mem + side_mem, init_mem)
    level = (spec.get("resources") or {}).get("requests") or {}
    if level:
        cpu, mem = _cpu_m(level["cpu"]), _mem_mi(level["memory"])
    if spec.get("runtimeClassName"):
        cpu, mem = cpu + 500, mem + 512
    return cpu, mem


def _node_affinity(rng: random.Random) -> dict[str, Any]:
    if rng.random() < 0.5:
        zones = rng.sample(ZONES, rng.randrange(1, 3))
        return {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In",
                                   "values": zones}]}]}}
    return {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": rng.randrange(1, 101), "preference": {"matchExpressions": [
            {"key": "disk", "operator": "In", "values": [rng.choice(["ssd", "hdd"])]}]}}]}


def _pod_affinity(rng: random.Random) -> dict[str, Any]:
    key = rng.choice(["kubernetes.io/hostname", "topology.kubernetes.io/zone"])
    term = {"labelSelector": {"matchLabels": {"app": rng.choice(APPS)}}, "topologyKey": key}
    kind = rng.choice(["podAffinity", "podAntiAffinity"])
    if rng.random() < 0.4:
        return {kind: {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    return {kind: {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": rng.randrange(1, 101), "podAffinityTerm": term}]}}


def generate(seed: int, index: int) -> dict[str, Any]:
    """The scenario document number ``index`` of ``seed`` (see module doc)."""
    rng = random.Random(f"pyscheduler-fuzz/{seed}/{index}")
    n_zones = rng.randrange(1, 4)
    nodes: list[dict[str, Any]] = []
    free: dict[str, list[int]] = {}
    for i in range(rng.randrange(2, 13)):
        name = f"n{i + 1}"
        cpu = rng.choice([2, 4, 4, 8])
        mem_gi = rng.choice([4, 8, 16])
        node: dict[str, Any] = {"name": name, "cpu": str(cpu), "memory": f"{mem_gi}Gi",
                                "labels": {"topology.kubernetes.io/zone": ZONES[i % n_zones]}}
        if rng.random() < 0.5:
            node["labels"]["disk"] = rng.choice(["ssd", "hdd"])
        if rng.random() < 0.15:
            node["taints"] = [{"key": "dedicated", "value": "batch",
                               "effect": rng.choice(["NoSchedule", "PreferNoSchedule"])}]
        if rng.random() < 0.1:
            node["pods"] = rng.randrange(2, 6)
        nodes.append(node)
        free[name] = [cpu * 1000, mem_gi * 1024, int(node.get("pods", 110))]

    existing: list[dict[str, Any]] = []
    used_starts: dict[tuple[str, int], set[int]] = {}
    for i in range(rng.randrange(0, 21)):
        node_name = rng.choice(nodes)["name"]
        pod: dict[str, Any] = {"name": f"e{i + 1}", "node": node_name,
                               "labels": {"app": rng.choice(APPS)}}
        _containers(rng, pod, 1500, 3072)
        prio = rng.choice(PRIORITIES)
        if prio:
            pod["spec"]["priorityClassName"] = prio
        if rng.random() < 0.1:
            pod["spec"]["affinity"] = {"podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": {"app": pod["labels"]["app"]}},
                     "topologyKey": "kubernetes.io/hostname"}]}}
        cpu, mem = _effective(pod)
        room = free[node_name]
        if cpu > room[0] or mem > room[1] or room[2] < 1:
            continue
        room[0] -= cpu
        room[1] -= mem
        room[2] -= 1
        # Distinct within (node, priority); collisions across nodes on purpose.
        taken = used_starts.setdefault((node_name, _PRIO_VALUE[prio]), set())
        start = rng.randrange(0, 6)
        while start in taken:
            start += 1
        taken.add(start)
        pod["startTime"] = start
        if not pod["spec"]:
            del pod["spec"]
        existing.append(pod)

    incoming: list[dict[str, Any]] = []
    for i in range(rng.randrange(1, 7)):
        pod = {"name": f"p{i + 1}", "labels": {"app": rng.choice(APPS)}}
        preemptor = rng.random() < 0.35
        if preemptor:
            _containers(rng, pod, 4000, 8192)
            pod["spec"]["priorityClassName"] = rng.choice(PREEMPTOR_PRIORITIES)
        else:
            _containers(rng, pod, 1500, 3072)
            prio = rng.choice(PRIORITIES)
            if prio:
                pod["spec"]["priorityClassName"] = prio
        spec = pod["spec"]
        if rng.random() < 0.15:
            spec["nodeSelector"] = {"disk": rng.choice(["ssd", "hdd"])}
        affinity: dict[str, Any] = {}
        if rng.random() < 0.2:
            affinity["nodeAffinity"] = _node_affinity(rng)
        if rng.random() < 0.25:
            affinity.update(_pod_affinity(rng))
        if affinity:
            spec["affinity"] = affinity
        if rng.random() < 0.2:
            spec["tolerations"] = [{"key": "dedicated", "operator": "Equal", "value": "batch",
                                    "effect": "NoSchedule"}]
        if rng.random() < 0.2:
            spec["topologySpreadConstraints"] = [{
                "maxSkew": rng.randrange(1, 3),
                "topologyKey": rng.choice(["kubernetes.io/hostname",
                                           "topology.kubernetes.io/zone"]),
                "whenUnsatisfiable": rng.choice(["DoNotSchedule", "ScheduleAnyway"]),
                "labelSelector": {"matchLabels": {"app": pod["labels"]["app"]}}}]
        if not spec:
            del pod["spec"]
        incoming.append(pod)

    return {
        "name": f"fuzz-{seed}-{index}",
        "description": f"random scenario {index} of seed {seed} (tests/differential/fuzz.py)",
        "nodes": nodes,
        "existing": existing,
        "incoming": incoming,
    }


def save(doc: dict[str, Any], directory: Path, why: str = "") -> Path:
    """Write one scenario as a replayable YAML file (a one-element scenario list), and what
    went wrong with it next to it (``<name>.txt``)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{doc['name']}.yaml"
    path.write_text(yaml.safe_dump([doc], sort_keys=False))
    if why:
        path.with_suffix(".txt").write_text(why + "\n")
    return path
