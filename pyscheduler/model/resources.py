"""Pod resource requests as the scheduler counts them (upstream resourcehelper.PodRequests).

Contract:
* ``pod_requests(pod)``: the larger of the sum over regular containers (plus restartable init
  containers, i.e. sidecars, which run alongside) and the max over init containers (each
  counted together with the sidecars started before it); pod-level ``spec.resources.requests``
  override cpu/memory when set; ``spec.overhead`` is added.
* ``pod_non_zero_requests(pod)``: the same computation where a container that does not set a
  cpu or memory request counts upstream's defaults (100m cpu, 200Mi memory). The scheduler uses
  it only for scoring (spreading empty-request pods), never for the fit filter.
Invalid quantities raise ValueError; the cache layer logs and treats the pod as requesting 0
rather than dropping it, so a bad object cannot crash scheduling.
"""

from __future__ import annotations

from pyscheduler.model.pod import Container, Pod
from pyscheduler.model.quantity import CPU, MEMORY, to_int

DEFAULT_MILLI_CPU_REQUEST = 100  # 0.1 core
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024  # 200 MiB

# Pod-level resources may only set these (IsSupportedPodLevelResource).
_POD_LEVEL_RESOURCES = (CPU, MEMORY)

Resources = dict[str, int]


def _container_requests(c: Container, non_zero: bool) -> Resources:
    reqs: Resources = {}
    if c.resources is not None:
        for name, q in c.resources.requests.items():
            reqs[name] = to_int(name, q)
    if non_zero:
        # Only a *missing* request is defaulted: an explicit "0" stays 0, as upstream.
        reqs.setdefault(CPU, DEFAULT_MILLI_CPU_REQUEST)
        reqs.setdefault(MEMORY, DEFAULT_MEMORY_REQUEST)
    return reqs


def _add(into: Resources, other: Resources) -> None:
    for k, v in other.items():
        into[k] = into.get(k, 0) + v


def _max(into: Resources, other: Resources) -> None:
    for k, v in other.items():
        if v > into.get(k, 0):
            into[k] = v


def _aggregate(pod: Pod, non_zero: bool) -> Resources:
    reqs: Resources = {}
    for c in pod.spec.containers:
        _add(reqs, _container_requests(c, non_zero))
    sidecars: Resources = {}
    init_max: Resources = {}
    for c in pod.spec.init_containers:
        creqs = _container_requests(c, non_zero)
        if c.restart_policy == "Always":
            # A sidecar keeps running: it adds to the steady state and to every later init step.
            _add(reqs, creqs)
            _add(sidecars, creqs)
            step = dict(sidecars)
        else:
            step = dict(creqs)
            _add(step, sidecars)
        _max(init_max, step)
    _max(reqs, init_max)
    return reqs


def _finish(pod: Pod, reqs: Resources) -> Resources:
    level = pod.spec.resources
    if level is not None and level.requests:
        for name, q in level.requests.items():
            if name in _POD_LEVEL_RESOURCES:
                reqs[name] = to_int(name, q)
    if pod.spec.overhead:
        for name, q in pod.spec.overhead.items():
            reqs[name] = reqs.get(name, 0) + to_int(name, q)
    return reqs


def pod_requests(pod: Pod) -> Resources:
    """Effective requests of a pod (what NodeResourcesFit checks)."""
    return _finish(pod, _aggregate(pod, non_zero=False))


def pod_non_zero_requests(pod: Pod) -> tuple[int, int]:
    """(milli-cpu, memory) with upstream's defaults for unset container requests (scoring)."""
    reqs = _finish(pod, _aggregate(pod, non_zero=True))
    return reqs.get(CPU, 0), reqs.get(MEMORY, 0)
