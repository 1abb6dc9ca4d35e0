"""A pod's CPU and memory the way Trimaran counts them (upstream pkg/trimaran/resourcestats.go).

Contract:
* ``effective(pod, "requests"|"limits")`` is upstream GetEffectiveResource: the sum over the
  regular containers, raised to any single init container's value, plus the pod overhead.
  (Unlike the scheduler's PodRequests it does not treat sidecars specially, as upstream.)
  Returns (millicpu, memory bytes); an unparsable quantity counts 0.
* ``requests_and_limits(pod)`` is CreatePodResourcesStateData: both, with limits raised to the
  requests (SetMaxLimits).
* ``burst_estimate(pod)`` is what a pod bound since the last sample adds to its node's load:
  per container its limit where set, else its request (plus overhead), for cpu and memory.
"""

from __future__ import annotations

from pyscheduler.model.pod import Container, Pod
from pyscheduler.model.quantity import CPU, MEMORY, to_int


def _value(values: dict[str, str], name: str) -> int:
    text = values.get(name)
    if text is None:
        return 0
    try:
        return to_int(name, text)
    except ValueError:
        return 0


def _list(c: Container, which: str) -> dict[str, str]:
    if c.resources is None:
        return {}
    return c.resources.requests if which == "requests" else c.resources.limits


def effective(pod: Pod, which: str) -> tuple[int, int]:
    """Upstream GetEffectiveResource for ``which`` ("requests" or "limits"): (mcpu, bytes)."""
    cpu = mem = 0
    for c in pod.spec.containers:
        values = _list(c, which)
        cpu += _value(values, CPU)
        mem += _value(values, MEMORY)
    for c in pod.spec.init_containers:
        values = _list(c, which)
        if CPU in values:
            cpu = max(cpu, _value(values, CPU))
        if MEMORY in values:
            mem = max(mem, _value(values, MEMORY))
    overhead = pod.spec.overhead
    return cpu + _value(overhead, CPU), mem + _value(overhead, MEMORY)


def requests_and_limits(pod: Pod) -> tuple[tuple[int, int], tuple[int, int]]:
    """(requests, limits) of ``pod``, limits raised to at least the requests."""
    req = effective(pod, "requests")
    lim = effective(pod, "limits")
    return req, (max(lim[0], req[0]), max(lim[1], req[1]))


def burst_estimate(pod: Pod) -> tuple[float, float]:
    """(mcpu, bytes) a newly bound pod is expected to use: limit where set, else request."""
    cpu = mem = 0
    for c in pod.spec.containers:
        lim, req = (c.resources.limits, c.resources.requests) if c.resources else ({}, {})
        cpu += _value(lim, CPU) if CPU in lim else _value(req, CPU)
        mem += _value(lim, MEMORY) if MEMORY in lim else _value(req, MEMORY)
    overhead = pod.spec.overhead
    return float(cpu + _value(overhead, CPU)), float(mem + _value(overhead, MEMORY))
