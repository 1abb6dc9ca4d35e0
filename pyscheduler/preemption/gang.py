"""Preemption for a whole pod group: victims across nodes so that the group's quorum fits.

Contract:
* ``select_group_victims(snapshot, preemptors, own_key, needed, allowed, pdbs, placer, now)``
  runs inside the pod group cycle (it never awaits). It returns ``GroupVictims`` (victims most
  important first, the quorum's nodes, PDB-violating victims), or None and why not.
* Victims come in units. A pod that belongs to no pod group is its own unit. The assigned
  members of one pod group (label ``scheduling.x-k8s.io/pod-group`` or
  ``spec.schedulingGroup``, on any node) are one unit: they go together or stay together. A
  unit may go only if ``allowed`` allows every one of its pods (lower priority than every
  preemptor, the courtesy rule). Pods still being bound (assumed: counted on a node, no
  nodeName yet) may go too, as upstream's victims may: each is on the node the cache counts
  it on, and the executor rejects it if it waits at Permit, else deletes it (its bind then
  fails). The preemptors' own group is never a victim.
* ``spare_pod_groups(rule)`` is the victim rule of a single pod's preemption: members of a pod
  group are never its victims (it would have to take them alone).
* The placement is the pod group cycle's own (``placer``: the profile's filters and scores
  for each member in turn). With every eligible unit removed, the quorum must fit; otherwise
  preemption cannot help. That placement fixes the quorum's nodes. Units are then given back,
  as upstream's reprieve: first, in one try, every unit with no pod on a node the quorum used;
  then one unit at a time, the ones violating a PodDisruptionBudget first, most important
  first, keeping each whose return still lets every member pass on its node
  (``placer.fits``: PreFilter, Filter and Reserve on the member's node, no scoring). A try
  checks only the members on the unit's nodes, the others counted where they are; one full
  check of every member ends the reprieve, and if it fails (a unit mattered to a member
  elsewhere, e.g. anti-affinity across a zone) the reprieve is redone checking every member
  each time. When a unit cannot be spared
  on those nodes, up to ``MAX_REPLACEMENTS`` times per preemption the quorum is placed again
  without it, and the new nodes are kept if it fits: the first nodes were chosen by score,
  blind to what their victims cost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pyscheduler.framework.interfaces import GroupPlacer
from pyscheduler.framework.node_info import NodeInfo
from pyscheduler.framework.snapshot import Snapshot
from pyscheduler.framework.types import PodInfo
from pyscheduler.model.pod import Pod
from pyscheduler.model.podgroup import group_index, in_a_group
from pyscheduler.preemption.candidates import importance_key, sort_by_importance
from pyscheduler.preemption.pdb import PDBChecker

# (node the victim is on, the victim) -> may it be preempted for this group?
VictimAllowed = Callable[[NodeInfo, PodInfo], bool]

ERR_NO_VICTIMS = "no lower-priority pods to preempt"
# Full re-placements a reprieve may try (each costs a placement of the quorum over the cluster).
MAX_REPLACEMENTS = 8
ERR_NOT_HELPFUL = "the quorum does not fit even with every lower-priority pod preempted"


@dataclass(slots=True)
class _Unit:
    pods: list[PodInfo] = field(default_factory=list)
    # victim UID -> the node the snapshot counts it on (an assumed pod has no nodeName yet)
    node_of: dict[str, str] = field(default_factory=dict)
    eligible: bool = True
    violating: bool = False

    def add(self, pi: PodInfo, node: str) -> None:
        self.pods.append(pi)
        self.node_of[pi.uid] = node

    @property
    def nodes(self) -> set[str]:
        return set(self.node_of.values())


@dataclass(slots=True)
class GroupVictims:
    victims: list[PodInfo]
    placement: dict[str, str]
    num_pdb_violations: int
    # victim UID -> its node
    node_of: dict[str, str] = field(default_factory=dict)

    def by_node(self) -> dict[str, list[PodInfo]]:
        """The victims per node, most important first on each."""
        out: dict[str, list[PodInfo]] = {}
        for v in self.victims:
            out.setdefault(self.node_of[v.uid], []).append(v)
        return out


def victim_units(snapshot: Snapshot, own_key: str, allowed: VictimAllowed) -> list[_Unit]:
    """Every unit that may go (see the module contract), in no particular order."""
    singles: list[_Unit] = []
    groups: dict[str, _Unit] = {}
    for ni in snapshot.node_infos:
        for pi in ni.pods.values():
            keys = group_index(pi.pod)
            if own_key in keys:
                continue
            ok = allowed(ni, pi)
            if not keys:
                if ok:
                    single = _Unit()
                    single.add(pi, ni.name)
                    singles.append(single)
                continue
            unit = groups.setdefault(keys[0], _Unit())
            unit.add(pi, ni.name)
            unit.eligible = unit.eligible and ok
    return singles + [u for u in groups.values() if u.eligible]


def _order(units: list[_Unit], pdbs: PDBChecker, now: float) -> list[_Unit]:
    """Reprieve order: PDB-violating units first, then most important first."""
    for u in units:
        sort_by_importance(u.pods, now)
    if pdbs:
        pods = [p for u in units for p in u.pods]
        sort_by_importance(pods, now)
        violating = {p.uid for p in pdbs.split(pods)[0]}
        for u in units:
            u.violating = any(p.uid in violating for p in u.pods)
    return sorted(units, key=lambda u: (not u.violating, importance_key(u.pods[0], now)))


def _removed(units: list[_Unit]) -> list[PodInfo]:
    return [p for u in units for p in u.pods]


def _reprieve(placer: GroupPlacer, taken: list[_Unit], placement: dict[str, str], *,
              local: bool) -> tuple[list[_Unit], dict[str, str]]:
    """The one-unit-at-a-time reprieve; ``local`` checks only the members on the unit's
    nodes (the others still count where they are)."""
    budget = MAX_REPLACEMENTS
    for u in list(taken):
        if all(t is not u for t in taken):
            continue  # already spared by a re-placement
        rest = [t for t in taken if t is not u]
        only = ({uid for uid, node in placement.items() if node in u.nodes} if local
                else None)
        if placer.fits(placement, _removed(rest), only):
            taken = rest
        elif budget > 0:
            # The quorum's nodes were chosen blind to what their victims cost: see whether
            # the quorum fits elsewhere with this unit spared.
            budget -= 1
            moved = placer.place(_removed(rest))
            if moved is not None:
                taken, placement = rest, moved
    return taken, placement


def select_group_victims(snapshot: Snapshot, own_key: str, allowed: VictimAllowed,
                         pdbs: PDBChecker, placer: GroupPlacer,
                         now: float) -> tuple[GroupVictims | None, str]:
    """The fewest units (by upstream's reprieve order) whose eviction lets the quorum fit."""
    units = _order(victim_units(snapshot, own_key, allowed), pdbs, now)
    if not units:
        return None, ERR_NO_VICTIMS
    taken = list(units)

    placement = placer.place(_removed(taken))
    if placement is None:
        return None, ERR_NOT_HELPFUL
    # From here on the quorum's nodes stay as placed, and each try only checks them.
    used = set(placement.values())
    if any(not (u.nodes & used) for u in taken):
        rest = [u for u in taken if u.nodes & used]
        if placer.fits(placement, _removed(rest)):
            taken = rest
    reprieved = _reprieve(placer, taken, placement, local=True)
    if not placer.fits(reprieved[1], _removed(reprieved[0])):
        # A returned unit mattered to a member on another node (e.g. anti-affinity across a
        # zone): redo the reprieve checking every member each time.
        reprieved = _reprieve(placer, taken, placement, local=False)
    taken, placement = reprieved
    if not taken:
        return None, ERR_NO_VICTIMS
    victims = _removed(taken)
    sort_by_importance(victims, now)
    violations = sum(len(u.pods) for u in taken if u.violating)
    node_of = {uid: node for u in taken for uid, node in u.node_of.items()}
    return GroupVictims(victims, placement, violations, node_of), ""


def describe(victims: GroupVictims) -> str:
    """The status message of a started group preemption."""
    nodes = len(set(victims.node_of.values()))
    return (f"found a potential placement for the group's {len(victims.placement)} members, "
            f"preempting {len(victims.victims)} victims on {nodes} node(s)")


def spare_pod_groups(rule: Callable[[NodeInfo, PodInfo, Pod], bool],
                     ) -> Callable[[NodeInfo, PodInfo, Pod], bool]:
    """``rule``, and never a member of a pod group: a single pod's preemption works on one
    node, and taking one member of a group would leave the group partial."""

    def eligible(node_info: NodeInfo, victim: PodInfo, preemptor: Pod) -> bool:
        return not in_a_group(victim.pod) and rule(node_info, victim, preemptor)

    return eligible
