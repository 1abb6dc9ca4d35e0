"""Workloads modelled on kube-scheduler's scheduler_perf (test/integration/scheduler_perf).

Contract:
* Every workload has the same three phases as scheduler_perf's templates: ``nodes`` nodes,
  ``init_pods`` pods that exist before measurement, then ``measure_pods`` pods whose scheduling
  is measured. Node and pod bodies follow scheduler_perf's templates (nodes with 4 cpu, 32Gi,
  110 pods; pods asking 100m cpu / 500Mi; the priorities and sizes of the preemption and
  unschedulable templates). Sizes follow scheduler_perf's parameter sets (500Nodes, 1000Nodes,
  5000Nodes), except that the 500-node sizes measure 500 pods where scheduler_perf measures 1,000
  (SchedulingBasic keeps 1,000), so that the default run fits ~20 minutes on 2 cores.
* One departure, on purpose: init pods are created *already bound* (``spec.nodeName`` set,
  round-robin over the nodes) instead of being scheduled by the scheduler under test. They are
  never measured, and this way both schedulers, and both QPS settings, start from exactly the
  same cluster; it also keeps a 2-core run short. Round-robin reproduces what scheduler_perf's
  scheduler does with these templates (e.g. 4 low-priority pods on every node in
  PreemptionBasic, one anti-affinity pod per node).
* Pods of every workload name the same ``schedulerName`` (:data:`SCHEDULER_NAME`), and both
  schedulers run one profile of that name, so the pod objects are byte-identical for both.
* ``requires`` names the plugins the workload exercises beyond the basic set; pyscheduler's run
  is reported "n/a" (with the reason) while one of them is not registered.
* Gang workloads (``gang_size`` > 0; scheduler_perf's podgroup/gangscheduling): the measured
  pods come in groups of ``gang_size``, each naming its upstream PodGroup
  (``scheduling.k8s.io/v1beta1``, gang minCount = the group's size) in
  ``spec.schedulingGroup``, so that both schedulers read the same API: the API server runs
  with :data:`GANG_APISERVER_ARGS`, kube-scheduler with :data:`GANG_KUBE_SCHEDULER_GATES` (its
  GangScheduling plugin is in the default profile then), pyscheduler's profile enables
  GangScheduling. The groups are created before the measured pods, outside the measurement,
  as scheduler_perf's createPodGroups. Measured counts are whole groups.
* ``default``: whether the workload is in ``make bench``'s default run (the gang rows are
  not, to keep that run near 20 minutes; ``--workloads`` runs them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SCHEDULER_NAME = "bench-scheduler"
# Namespaces as scheduler_perf's anti-affinity template expects them: init pods in sched-0,
# measured pods in sched-1 (its podAntiAffinity term names both).
INIT_NS = "sched-0"
MEASURE_NS = "sched-1"
CHURN_NS = "churn"
WARMUP_NS = "warmup"
NAMESPACES = (INIT_NS, MEASURE_NS, CHURN_NS, WARMUP_NS)
# templates/namespace-with-labels.yaml, on the init and measure namespaces (for the
# namespaceSelector workloads; no other template selects namespaces).
NAMESPACE_LABELS = {"team": "devops"}
# scheduler_perf's high-priority templates say `priority: 10`; an API server with the Priority
# admission plugin refuses a bare priority, so the pods name this class instead.
HIGH_PRIORITY_CLASS = "bench-high"
HIGH_PRIORITY = 10

# scheduler_perf's node-default.yaml
NODE_CPU = "4"
NODE_MEMORY = "32Gi"
NODE_PODS = 110

PAUSE_IMAGE = "registry.k8s.io/pause:3.10.1"

# Upstream's gang API: v1.37.2 has the GenericWorkload gate only (beta, off by default; its
# GangScheduling is a plugin, not a gate: kube-scheduler refuses "GangScheduling=true").
GANG_APISERVER_ARGS = {"feature-gates": "GenericWorkload=true",
                       "runtime-config": "scheduling.k8s.io/v1beta1=true"}
GANG_KUBE_SCHEDULER_GATES = "GenericWorkload=true"
GANG_PLUGIN = "GangScheduling"

PodBody = dict[str, Any]
PodTemplate = Callable[[str, str], PodBody]  # (name, namespace) -> pod JSON


def _container(cpu: str, memory: str, *, limits: bool = True) -> dict[str, Any]:
    resources: dict[str, Any] = {"requests": {"cpu": cpu, "memory": memory}}
    if limits:
        resources["limits"] = {"cpu": cpu, "memory": memory}
    return {
        "name": "pause",
        "image": PAUSE_IMAGE,
        "ports": [{"containerPort": 80}],
        "resources": resources,
    }


def _pod(name: str, ns: str, spec: dict[str, Any], labels: dict[str, str] | None = None
         ) -> PodBody:
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    if labels:
        meta["labels"] = labels
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"schedulerName": SCHEDULER_NAME, **spec},
    }


def pod_default(name: str, ns: str) -> PodBody:
    """templates/pod-default.yaml: 100m cpu, 500Mi."""
    return _pod(name, ns, {"containers": [_container("100m", "500Mi")]})


def pod_with_node_affinity(name: str, ns: str) -> PodBody:
    """templates/pod-with-node-affinity.yaml: zone In [zone1, zone2]."""
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{
            "key": "topology.kubernetes.io/zone", "operator": "In",
            "values": ["zone1", "zone2"]}]}]}}}
    return _pod(name, ns, {"affinity": affinity, "containers": [_container("100m", "500Mi")]})


def pod_with_pod_anti_affinity(name: str, ns: str) -> PodBody:
    """templates/pod-with-pod-anti-affinity.yaml: one `color: green` pod per hostname."""
    affinity = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
        "labelSelector": {"matchLabels": {"color": "green"}},
        "topologyKey": "kubernetes.io/hostname",
        "namespaces": [MEASURE_NS, INIT_NS],
    }]}}
    return _pod(name, ns, {"affinity": affinity, "containers": [_container("100m", "500Mi")]},
                labels={"color": "green"})


def _spreading(name: str, ns: str, when_unsatisfiable: str) -> PodBody:
    tsc = [{"maxSkew": 5, "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": when_unsatisfiable,
            "labelSelector": {"matchLabels": {"color": "blue"}}}]
    return _pod(name, ns, {"topologySpreadConstraints": tsc,
                           "containers": [_container("100m", "500Mi")]},
                labels={"color": "blue"})


def pod_with_topology_spreading(name: str, ns: str) -> PodBody:
    """templates/pod-with-topology-spreading.yaml: zone maxSkew 5, DoNotSchedule."""
    return _spreading(name, ns, "DoNotSchedule")


def pod_with_pod_affinity(name: str, ns: str) -> PodBody:
    """templates/pod-with-pod-affinity.yaml: required affinity to `color: blue` by zone."""
    affinity = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
        "labelSelector": {"matchLabels": {"color": "blue"}},
        "topologyKey": "topology.kubernetes.io/zone",
        "namespaces": [MEASURE_NS, INIT_NS],
    }]}}
    return _pod(name, ns, {"affinity": affinity, "containers": [_container("100m", "500Mi")]},
                labels={"color": "blue"})


def _preferred_term(color: str) -> list[dict[str, Any]]:
    return [{"podAffinityTerm": {"labelSelector": {"matchLabels": {"color": color}},
                                 "topologyKey": "kubernetes.io/hostname",
                                 "namespaces": [MEASURE_NS, INIT_NS]},
             "weight": 1}]


def pod_with_preferred_pod_affinity(name: str, ns: str) -> PodBody:
    """templates/pod-with-preferred-pod-affinity.yaml: preferred affinity to `color: red`."""
    affinity = {"podAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": _preferred_term("red")}}
    return _pod(name, ns, {"affinity": affinity, "containers": [_container("100m", "500Mi")]},
                labels={"color": "red"})


def pod_with_preferred_pod_anti_affinity(name: str, ns: str) -> PodBody:
    """templates/pod-with-preferred-pod-anti-affinity.yaml: preferred anti-affinity to
    `color: yellow` by hostname."""
    affinity = {"podAntiAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": _preferred_term("yellow")}}
    return _pod(name, ns, {"affinity": affinity, "containers": [_container("100m", "500Mi")]},
                labels={"color": "yellow"})


def pod_with_preferred_topology_spreading(name: str, ns: str) -> PodBody:
    """templates/pod-with-preferred-topology-spreading.yaml: zone maxSkew 5, ScheduleAnyway."""
    return _spreading(name, ns, "ScheduleAnyway")


def pod_anti_affinity_ns_selector(name: str, ns: str) -> PodBody:
    """templates/pod-anti-affinity-ns-selector.yaml: one `color: green` pod per hostname among
    the namespaces labelled `team: devops`."""
    affinity = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
        "labelSelector": {"matchLabels": {"color": "green"}},
        "topologyKey": "kubernetes.io/hostname",
        "namespaceSelector": {"matchLabels": NAMESPACE_LABELS},
    }]}}
    return _pod(name, ns, {"affinity": affinity, "containers": [_container("100m", "500Mi")]},
                labels={"color": "green"})


def cycling(*templates: PodTemplate) -> PodTemplate:
    """Several createPods steps of the same count as one template: the pod named
    ``<prefix>-<i>`` comes from ``templates[i % len(templates)]``."""

    def template(name: str, ns: str) -> PodBody:
        index = int(name.rsplit("-", 1)[1])
        return templates[index % len(templates)](name, ns)

    return template


def gang_group_name(pod_name: str, size: int) -> str:
    """The PodGroup of the measured pod ``<prefix>-<i>``: ``<prefix>-gang-<i // size>``."""
    prefix, _, index = pod_name.rpartition("-")
    return f"{prefix}-gang-{int(index) // size}"


def gang_member(size: int) -> PodTemplate:
    """podgroup/gangscheduling/templates/gang-pod.yaml: 100m cpu, 100Mi, in the group of
    ``size`` its index falls in."""

    def template(name: str, ns: str) -> PodBody:
        return _pod(name, ns, {
            "schedulingGroup": {"podGroupName": gang_group_name(name, size)},
            "containers": [_container("100m", "100Mi", limits=False)]})

    return template


def pod_group(name: str, ns: str, min_count: int) -> PodBody:
    """podgroup/gangscheduling/templates/podgroup.yaml: a gang of ``min_count``."""
    return {"apiVersion": "scheduling.k8s.io/v1beta1", "kind": "PodGroup",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"schedulingPolicy": {"gang": {"minCount": min_count}}}}


def pod_low_priority(name: str, ns: str) -> PodBody:
    """templates/pod-low-priority.yaml: 900m cpu, priority 0, no grace period."""
    return _pod(name, ns, {"terminationGracePeriodSeconds": 0,
                           "containers": [_container("900m", "500Mi")]})


def pod_high_priority(name: str, ns: str) -> PodBody:
    """templates/pod-high-priority.yaml: 3 cpu, priority 10 (must preempt 3 low pods)."""
    return _pod(name, ns, {"priorityClassName": HIGH_PRIORITY_CLASS,
                           "containers": [_container("3000m", "500Mi")]})


def pod_high_priority_large_cpu(name: str, ns: str) -> PodBody:
    """templates/pod-high-priority-large-cpu.yaml: 9 cpu, priority 10: fits no 4-cpu node."""
    return _pod(name, ns, {"priorityClassName": HIGH_PRIORITY_CLASS,
                           "containers": [_container("9", "500Mi", limits=False)]})


def zone_labels(values: tuple[str, ...]) -> Callable[[int], dict[str, str]]:
    """scheduler_perf's labelNodePrepareStrategy: label values assigned round-robin."""

    def labels(i: int) -> dict[str, str]:
        return {"topology.kubernetes.io/zone": values[i % len(values)]}

    return labels


# Churn modes (scheduler_perf's `churn` opcode):
CHURN_NONE = ""
# mode create, pod-high-priority-large-cpu every 200 ms: a steady stream of unschedulable pods.
CHURN_UNSCHEDULABLE = "unschedulable"
# mode recreate, number 1, every 1 s: a node (capacity pods 0), an unschedulable pod and a
# Service are created, then deleted and created again.
CHURN_MIXED = "mixed"


@dataclass(frozen=True, slots=True)
class WorkloadSpec:
    """A workload's shape; ``sizes`` maps a node count to (init pods, measured pods)."""

    name: str
    measure_template: PodTemplate
    init_template: PodTemplate | None
    sizes: dict[int, tuple[int, int]]
    node_labels: Callable[[int], dict[str, str]] | None = None
    churn: str = CHURN_NONE
    requires: tuple[str, ...] = ()
    note: str = ""
    # Members per pod group (0: no gang); the measured pods are whole groups of it.
    gang_size: int = 0
    # In make bench's default run.
    default: bool = True


@dataclass(frozen=True, slots=True)
class Workload:
    """One sized instance of a workload, as run."""

    spec: WorkloadSpec = field(repr=False)
    nodes: int
    init_pods: int
    measure_pods: int

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def label(self) -> str:
        return f"{self.spec.name}/{self.nodes}Nodes"

    @property
    def groups(self) -> int:
        """Pod groups measured (0 for a workload without gangs)."""
        return self.measure_pods // self.spec.gang_size if self.spec.gang_size else 0


WORKLOADS: dict[str, WorkloadSpec] = {
    spec.name: spec
    for spec in (
        # misc/performance-config.yaml SchedulingBasic: 500Nodes (500, 1000); 5000Nodes (1000,
        # 1000 or 10000). The 1,000-node size is the end-to-end target row.
        WorkloadSpec(
            "SchedulingBasic", pod_default, pod_default,
            {500: (500, 1000), 1000: (1000, 2000), 5000: (1000, 5000)},
        ),
        # affinity/performance-config.yaml SchedulingNodeAffinity: every node in zone1.
        WorkloadSpec(
            "SchedulingNodeAffinity", pod_with_node_affinity, pod_with_node_affinity,
            {500: (500, 500), 1000: (1000, 1000), 5000: (5000, 5000)},
            node_labels=zone_labels(("zone1",)), requires=("NodeAffinity",),
        ),
        # affinity/performance-config.yaml SchedulingPodAntiAffinity: 500Nodes (100, 400).
        WorkloadSpec(
            "SchedulingPodAntiAffinity", pod_with_pod_anti_affinity, pod_with_pod_anti_affinity,
            {500: (100, 400), 1000: (200, 800), 5000: (1000, 2000)},
            requires=("InterPodAffinity",),
        ),
        # topology_spreading/performance-config.yaml TopologySpreading: 3 zones.
        WorkloadSpec(
            "TopologySpreading", pod_with_topology_spreading, pod_default,
            {500: (1000, 500), 1000: (1000, 1000), 5000: (5000, 2000)},
            node_labels=zone_labels(("moon-1", "moon-2", "moon-3")),
            requires=("PodTopologySpread",),
        ),
        # affinity/performance-config.yaml SchedulingPodAffinity: every node in zone1;
        # upstream's threshold is 35 pods/s at 5000Nodes_5000Pods.
        WorkloadSpec(
            "SchedulingPodAffinity", pod_with_pod_affinity, pod_with_pod_affinity,
            {500: (500, 1000), 1000: (1000, 1000), 5000: (5000, 1000)},
            node_labels=zone_labels(("zone1",)), requires=("InterPodAffinity",),
        ),
        # affinity/performance-config.yaml SchedulingPreferredPodAffinity.
        WorkloadSpec(
            "SchedulingPreferredPodAffinity", pod_with_preferred_pod_affinity,
            pod_with_preferred_pod_affinity,
            {500: (500, 1000), 1000: (1000, 1000), 5000: (5000, 1000)},
            requires=("InterPodAffinity",),
        ),
        # affinity/performance-config.yaml SchedulingPreferredPodAntiAffinity.
        WorkloadSpec(
            "SchedulingPreferredPodAntiAffinity", pod_with_preferred_pod_anti_affinity,
            pod_with_preferred_pod_anti_affinity,
            {500: (500, 1000), 1000: (1000, 1000), 5000: (5000, 1000)},
            requires=("InterPodAffinity",),
        ),
        # affinity/performance-config.yaml SchedulingRequiredPodAntiAffinityWithNSSelector:
        # 500Nodes has 10 init namespaces x 4 pods; here the 40 init pods share one labelled
        # namespace (see the note).
        WorkloadSpec(
            "SchedulingRequiredPodAntiAffinityWithNSSelector", pod_anti_affinity_ns_selector,
            pod_anti_affinity_ns_selector,
            {500: (40, 100), 1000: (80, 200), 5000: (4000, 1000)},
            requires=("InterPodAffinity",),
            note="init pods in one namespace labelled team=devops, not 10 (500 nodes) or 100",
        ),
        # affinity/performance-config.yaml MixedSchedulingBasePod: zone1; initPods of each of
        # five templates, then default pods measured.
        WorkloadSpec(
            "MixedSchedulingBasePod", pod_default,
            cycling(pod_default, pod_with_pod_affinity, pod_with_pod_anti_affinity,
                    pod_with_preferred_pod_affinity, pod_with_preferred_pod_anti_affinity),
            {500: (1000, 1000), 1000: (2000, 1000), 5000: (10000, 1000)},
            node_labels=zone_labels(("zone1",)), requires=("InterPodAffinity",),
        ),
        # topology_spreading/performance-config.yaml PreferredTopologySpreading: 3 zones.
        WorkloadSpec(
            "PreferredTopologySpreading", pod_with_preferred_topology_spreading, pod_default,
            {500: (1000, 1000), 1000: (1000, 1000), 5000: (5000, 2000)},
            node_labels=zone_labels(("moon-1", "moon-2", "moon-3")),
            requires=("PodTopologySpread",),
        ),
        # misc/performance-config.yaml PreemptionBasic: 4 low pods a node, high pods preempt 3.
        WorkloadSpec(
            "PreemptionBasic", pod_high_priority, pod_low_priority,
            {500: (2000, 250), 1000: (4000, 1000), 5000: (20000, 5000)},
            requires=("DefaultPreemption",),
        ),
        # misc/performance-config.yaml Unschedulable: 500Nodes/10Init/1kPods.
        WorkloadSpec(
            "Unschedulable", pod_default, pod_default,
            {500: (10, 500), 1000: (100, 1000), 5000: (100, 5000)},
            churn=CHURN_UNSCHEDULABLE,
            note="kube-scheduler also tries (and fails) to preempt for each churn pod",
        ),
        # misc/performance-config.yaml SchedulingWithMixedChurn: 1000Nodes (0, 1000).
        WorkloadSpec(
            "MixedChurn", pod_default, None,
            {500: (0, 500), 1000: (0, 1000), 5000: (0, 2000)},
            churn=CHURN_MIXED,
        ),
        # podgroup/gangscheduling/performance-config.yaml GangScheduling (its gangs are of 3
        # or 1,000); the issue asks for groups of 8 and 64 at 5,000 nodes. No init pods.
        WorkloadSpec(
            "SchedulingGang8", gang_member(8), None,
            {500: (0, 1024), 1000: (0, 2048), 5000: (0, 4096)},
            requires=(GANG_PLUGIN,), gang_size=8, default=False,
        ),
        WorkloadSpec(
            "SchedulingGang64", gang_member(64), None,
            {500: (0, 1024), 1000: (0, 2048), 5000: (0, 4096)},
            requires=(GANG_PLUGIN,), gang_size=64, default=False,
        ),
    )
}
# make bench's default workloads.
DEFAULT_WORKLOADS = tuple(name for name, spec in WORKLOADS.items() if spec.default)

DEFAULT_SIZES = (500,)
# The end-to-end target is SchedulingBasic at 1,000 nodes: always in the default run.
DEFAULT_EXTRA = (("SchedulingBasic", 1000),)
SCALE_SIZES = (1000, 5000)


def plan(names: list[str], sizes: tuple[int, ...], *, extra: tuple[tuple[str, int], ...] = (),
         init_pods: int | None = None, measure_pods: int | None = None) -> list[Workload]:
    """The sized workloads to run, in a stable order (by size, then the WORKLOADS order)."""
    out: list[Workload] = []
    wanted = [(n, s) for s in sizes for n in WORKLOADS if n in names]
    for n, s in extra:
        if n in names and (n, s) not in wanted:
            wanted.append((n, s))
    wanted.sort(key=lambda ns: (ns[1], list(WORKLOADS).index(ns[0])))
    for name, size in wanted:
        spec = WORKLOADS[name]
        init, measure = spec.sizes.get(size) or _scaled(spec, size)
        if spec.init_template is None:
            init = 0
        if measure_pods is not None:
            measure = measure_pods
        if spec.gang_size:  # whole groups only
            measure = max(1, measure // spec.gang_size) * spec.gang_size
        out.append(Workload(
            spec, size,
            init if init_pods is None or spec.init_template is None else init_pods,
            measure,
        ))
    return out


def _scaled(spec: WorkloadSpec, nodes: int) -> tuple[int, int]:
    """Sizes for a node count scheduler_perf has no parameters for: scale the nearest one."""
    base = min(spec.sizes, key=lambda s: abs(s - nodes))
    init, measure = spec.sizes[base]
    return max(0, init * nodes // base), max(1, measure * nodes // base)
