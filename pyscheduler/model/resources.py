"""Pod resource requests as the scheduler counts them (upstream resourcehelper.PodRequests).

Contract:
* ``pod_requests(pod)``: the larger of the sum over regular containers (plus restartable init
  containers, i.e. sidecars, which run alongside) and the max over init containers (each
  counted together with the sidecars started before it); pod-level ``spec.resources.requests``
  override cpu, memory and ``hugepages-*`` when set (IsSupportedPodLevelResource; hugepages
  since v1.33); ``spec.overhead`` is added.
* ``pod_non_zero_requests(pod)``: upstream PodInfo.CalculateResource's Non0CPU/Non0Mem, what a
  pod adds to its node's non-zero sums: the same computation where a container that does not
  set a cpu or memory request counts upstream's defaults (100m cpu, 200Mi memory). With
  pod-level requests, a default applies only to a resource that neither the containers nor the
  pod level name (getNonMissingContainerRequests). The scheduler uses it only for scoring
  (spreading empty-request pods), never for the fit filter.
* ``pod_non_zero_container_requests(pod)``: the incoming pod's requests as NodeResourcesFit's
  scorer counts them (resource_allocation.go calculatePodResourceRequest): container requests
  with the defaults for every missing one, overhead added, pod-level requests *ignored*.
  Upstream builds Fit's resourceAllocationScorer without its enablePodLevelResources flag, so
  SkipPodLevelResources is true there (BalancedAllocation sets the flag and uses
  ``pod_requests``).
Invalid quantities raise ValueError; the cache layer logs and treats the pod as requesting 0
rather than dropping it, so a bad object cannot crash scheduling.
"""

from __future__ import annotations

from pyscheduler.model.pod import Container, Pod
from pyscheduler.model.quantity import CPU, MEMORY, to_int

DEFAULT_MILLI_CPU_REQUEST = 100  # 0.1 core
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024  # 200 MiB

# Pod-level resources may only set these and hugepages-* (IsSupportedPodLevelResource).
_POD_LEVEL_RESOURCES = (CPU, MEMORY)
_HUGEPAGES_PREFIX = "hugepages-"


def is_pod_level_resource(name: str) -> bool:
    """Upstream IsSupportedPodLevelResource: cpu, memory and hugepages-<size>."""
    return name in _POD_LEVEL_RESOURCES or name.startswith(_HUGEPAGES_PREFIX)

Resources = dict[str, int]


_NON_ZERO_DEFAULTS: Resources = {CPU: DEFAULT_MILLI_CPU_REQUEST, MEMORY: DEFAULT_MEMORY_REQUEST}
_NO_DEFAULTS: Resources = {}


def _container_requests(c: Container, defaults: Resources) -> Resources:
    reqs: Resources = {}
    if c.resources is not None:
        for name, q in c.resources.requests.items():
            reqs[name] = to_int(name, q)
    for name, amount in defaults.items():
        # Only a *missing* request is defaulted: an explicit "0" stays 0, as upstream.
        reqs.setdefault(name, amount)
    return reqs


def _add(into: Resources, other: Resources) -> None:
    for k, v in other.items():
        into[k] = into.get(k, 0) + v


def _max(into: Resources, other: Resources) -> None:
    for k, v in other.items():
        # A missing key is set even to 0, as Go's maxResourceList: a key's presence matters
        # to getNonMissingContainerRequests.
        if k not in into or v > into[k]:
            into[k] = v


def _aggregate(pod: Pod, defaults: Resources) -> Resources:
    reqs: Resources = {}
    for c in pod.spec.containers:
        _add(reqs, _container_requests(c, defaults))
    sidecars: Resources = {}
    init_max: Resources = {}
    for c in pod.spec.init_containers:
        creqs = _container_requests(c, defaults)
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


def _pod_level_requests(pod: Pod) -> Resources:
    """The supported pod-level requests (empty: IsPodLevelRequestsSet is false)."""
    level = pod.spec.resources
    if level is None or not level.requests:
        return {}
    return {name: to_int(name, q) for name, q in level.requests.items()
            if is_pod_level_resource(name)}


def _finish(pod: Pod, reqs: Resources, pod_level: bool = True) -> Resources:
    if pod_level:
        reqs.update(_pod_level_requests(pod))
    if pod.spec.overhead:
        for name, q in pod.spec.overhead.items():
            reqs[name] = reqs.get(name, 0) + to_int(name, q)
    return reqs


def pod_requests(pod: Pod) -> Resources:
    """Effective requests of a pod (what NodeResourcesFit checks)."""
    return _finish(pod, _aggregate(pod, _NO_DEFAULTS))


def pod_non_zero_requests(pod: Pod) -> tuple[int, int]:
    """(milli-cpu, memory) with upstream's defaults for unset requests (node sums, scoring)."""
    defaults = _NON_ZERO_DEFAULTS
    if _pod_level_requests(pod):
        # getNonMissingContainerRequests: with pod-level requests, default only what neither
        # the containers nor the pod level name (the key's presence, even at 0, counts).
        plain = pod_requests(pod)
        defaults = {k: v for k, v in _NON_ZERO_DEFAULTS.items() if k not in plain}
    reqs = _finish(pod, _aggregate(pod, defaults))
    return reqs.get(CPU, 0), reqs.get(MEMORY, 0)


def pod_non_zero_container_requests(pod: Pod) -> Resources:
    """What NodeResourcesFit's scorer counts for the incoming pod: container requests with the
    cpu/memory defaults, overhead added, pod-level requests skipped (see module doc)."""
    return _finish(pod, _aggregate(pod, _NON_ZERO_DEFAULTS), pod_level=False)
