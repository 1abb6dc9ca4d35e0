"""PodTopologySpread queueing hints (upstream plugin_test.go tables), registered events, args
defaults, decoding and validation (upstream ValidatePodTopologySpreadArgs messages)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from test_pod_topology_spread import BAR, FOO, UNSCHED_TOLERATION, plugin, sc, snode, spod

from pyscheduler.config._decode import convert_checked
from pyscheduler.framework.runtime import FrameworkOptions
from pyscheduler.framework.types import ActionType, ClusterEvent, QueueingHint, Resource
from pyscheduler.model.node import Node
from pyscheduler.model.pod import Pod
from pyscheduler.plugins.pod_topology_spread import (
    NAME,
    SPEC,
    SYSTEM_DEFAULT_CONSTRAINTS,
    PodTopologySpreadArgs,
    new,
)
from pyscheduler.plugins.validation import ArgsError

Q, SKIP = QueueingHint.QUEUE, QueueingHint.SKIP
ZONE_FOO = [sc(1, "zone", selector=FOO)]
ZONE_NODE_FOO = [sc(1, "zone", selector=FOO), sc(1, "node", selector=FOO)]
AAA = [{"key": "aaa", "value": "bbb", "effect": "NoSchedule"}]
CCC = [{"key": "ccc", "value": "bbb", "effect": "NoSchedule"}]


def node(labels: dict[str, str], taints: list[dict[str, str]] | None = None) -> Node:
    return snode("node-a", labels, taints or [])


NODE_HINTS: list[tuple[str, list[dict[str, Any]], Node | None, Node | None, QueueingHint]] = [
    ("node updates label which matches topologyKey", ZONE_FOO,
     node({"zone": "zone1"}), node({"zone": "zone2"}), Q),
    ("node that doesn't match topologySpreadConstraints updates non-related label", ZONE_FOO,
     node({"foo": "bar1"}), node({"foo": "bar2"}), SKIP),
    ("node that match topologySpreadConstraints adds non-related label", ZONE_NODE_FOO,
     node({"zone": "zone1", "node": "node1", "foo": "bar"}),
     node({"zone": "zone1", "node": "node1"}), SKIP),
    ("create node with non-related labels", ZONE_FOO, None, node({"foo": "bar"}), SKIP),
    ("create node with related labels", ZONE_FOO, None, node({"zone": "zone1"}), Q),
    ("delete node with non-related labels", ZONE_FOO, node({"foo": "bar"}), None, SKIP),
    ("delete node with related labels", ZONE_FOO, node({"zone": "zone1"}), None, Q),
    ("add node with related labels that only match one of topologySpreadConstraints",
     ZONE_NODE_FOO, None, node({"zone": "zone1"}), SKIP),
    ("add node with related labels that match all topologySpreadConstraints",
     ZONE_NODE_FOO, None, node({"zone": "zone1", "node": "node1"}), Q),
    ("update node with related labels that only match one of topologySpreadConstraints",
     ZONE_NODE_FOO, node({"zone": "zone1"}), node({"zone": "zone1"}), SKIP),
    ("update node with related labels that match all topologySpreadConstraints",
     ZONE_NODE_FOO, node({"zone": "zone1", "node": "node1"}),
     node({"zone": "zone1", "node": "node2"}), Q),
    ("update node with different taints that match all topologySpreadConstraints",
     ZONE_NODE_FOO, node({"zone": "zone1", "node": "node1"}, AAA),
     node({"zone": "zone1", "node": "node1"}, CCC), Q),
    ("update node with different taints that only match one of topologySpreadConstraints",
     ZONE_NODE_FOO, node({"node": "node1"}, AAA), node({"node": "node1"}, CCC), SKIP),
]


@pytest.mark.parametrize(("name", "constraints", "old", "new_", "want"), NODE_HINTS,
                         ids=[c[0] for c in NODE_HINTS])
def test_is_schedulable_after_node_change(name: str, constraints: list[dict[str, Any]],
                                          old: Node | None, new_: Node | None,
                                          want: QueueingHint) -> None:
    pod = spod("p", constraints=constraints)
    assert plugin().is_schedulable_after_node_change(pod, old, new_) == want


def p_(uid: str, *, node: str = "", ns: str = "default", tolerations: bool = False,
       **labels: str) -> Pod:
    return spod(uid, uid=uid, node=node, ns=ns, labels=labels,
                tolerations=[UNSCHED_TOLERATION] if tolerations else [])


TWO = [sc(1, "zone", selector=FOO), sc(1, "node", selector=BAR)]
TWO_HONOR = [sc(1, "zone", selector=FOO, taints="Honor"), sc(1, "node", selector=BAR)]
TWO_IGNORE = [sc(1, "zone", selector=FOO, taints="Ignore"), sc(1, "node", selector=BAR)]

POD_HINTS: list[tuple[str, list[dict[str, Any]], Pod | None, Pod | None, QueueingHint]] = [
    ("add pod with labels match topologySpreadConstraints selector", ZONE_FOO,
     None, p_("p2", node="fake-node", foo=""), Q),
    ("add un-scheduled pod", ZONE_FOO, None, p_("p2", foo=""), SKIP),
    ("update un-scheduled pod", ZONE_FOO, p_("p2", bar=""), p_("p2", foo=""), SKIP),
    ("delete un-scheduled pod", ZONE_FOO, p_("p2", foo=""), None, SKIP),
    ("add pod with different namespace", ZONE_FOO, None,
     p_("p2", node="fake-node", ns="fake-namespace", foo=""), SKIP),
    ("add pod with labels don't match topologySpreadConstraints selector", ZONE_FOO,
     None, p_("p2", node="fake-node", bar=""), SKIP),
    ("delete pod with labels that match topologySpreadConstraints selector", ZONE_FOO,
     p_("p2", node="fake-node", foo=""), None, Q),
    ("delete pod with labels that don't match topologySpreadConstraints selector", ZONE_FOO,
     p_("p2", node="fake-node", bar=""), None, SKIP),
    ("update pod's non-related label", ZONE_FOO, p_("p2", node="fake-node", foo="", bar="bar1"),
     p_("p2", node="fake-node", foo="", bar="bar2"), SKIP),
    ("add pod's label that matches topologySpreadConstraints selector", ZONE_FOO,
     p_("p2", node="fake-node"), p_("p2", node="fake-node", foo=""), Q),
    ("delete pod label that matches topologySpreadConstraints selector", ZONE_FOO,
     p_("p2", node="fake-node", foo=""), p_("p2", node="fake-node"), Q),
    ("change pod's label that matches topologySpreadConstraints selector", ZONE_FOO,
     p_("p2", node="fake-node", foo="foo1"), p_("p2", node="fake-node", foo="foo2"), SKIP),
    ("add pod's label that matches selector with multi topologySpreadConstraints", TWO,
     p_("p2", node="fake-node", foo=""), p_("p2", node="fake-node", foo="", bar="bar2"), Q),
    ("change pod's label that doesn't match selector with multi topologySpreadConstraints",
     TWO, p_("p2", node="fake-node", foo=""), p_("p2", node="fake-node", foo="", baz=""), SKIP),
    ("change pod's label that match selector with multi topologySpreadConstraints", TWO,
     p_("p2", node="fake-node", foo="", bar=""),
     p_("p2", node="fake-node", foo="", bar="bar2"), SKIP),
    ("the unschedulable Pod has NodeTaintsPolicy:Honor and has got a new toleration", TWO_HONOR,
     p_("p", foo=""), p_("p", foo="", tolerations=True), Q),
    ("the unschedulable Pod has no NodeTaintsPolicy:Honor and has got a new toleration",
     TWO_IGNORE, p_("p", foo=""), p_("p", foo="", tolerations=True), SKIP),
    ("the unschedulable Pod has got a new label matching the selector of the constraint",
     TWO_IGNORE, p_("p"), p_("p", foo=""), Q),
    ("the unschedulable Pod has got a new unrelated label", TWO_IGNORE, p_("p"),
     p_("p", unrelated=""), SKIP),
]


@pytest.mark.parametrize(("name", "constraints", "old", "new_", "want"), POD_HINTS,
                         ids=[c[0] for c in POD_HINTS])
def test_is_schedulable_after_pod_change(name: str, constraints: list[dict[str, Any]],
                                         old: Pod | None, new_: Pod | None,
                                         want: QueueingHint) -> None:
    pod = spod("p", uid="p", labels={"foo": ""}, constraints=constraints)
    assert plugin().is_schedulable_after_pod_change(pod, old, new_) == want


def test_hint_raises_for_an_invalid_selector() -> None:
    """An error in the hint means Queue to the scheduling queue (raising is how we say so)."""
    pod = spod("p", constraints=[sc(1, "zone", selector={
        "matchExpressions": [{"key": "foo", "operator": "Bogus"}]})])
    with pytest.raises(ValueError, match="not a valid label selector operator"):
        plugin().is_schedulable_after_node_change(pod, None, node({"zone": "z"}))


def test_events_to_register() -> None:
    events = [e.event for e in plugin().events_to_register()]
    assert events == [
        ClusterEvent(Resource.POD, ActionType.ADD | ActionType.UPDATE_POD_LABEL
                     | ActionType.UPDATE_POD_TOLERATION | ActionType.DELETE),
        ClusterEvent(Resource.NODE, ActionType.ADD | ActionType.DELETE
                     | ActionType.UPDATE_NODE_LABEL | ActionType.UPDATE_NODE_TAINT),
    ]
    assert all(e.hint is not None for e in plugin().events_to_register())


# ---- args ---------------------------------------------------------------------------------------


def test_spec_and_defaults() -> None:
    assert SPEC.name == NAME == "PodTopologySpread"
    assert SPEC.args_type is PodTopologySpreadArgs
    args = PodTopologySpreadArgs()
    assert args.defaulting_type == "System"
    constraints, system = args.constraints()
    assert system
    assert [(c.topology_key, c.max_skew, c.when_unsatisfiable) for c in constraints] == [
        ("kubernetes.io/hostname", 3, "ScheduleAnyway"),
        ("topology.kubernetes.io/zone", 5, "ScheduleAnyway")]
    assert list(SYSTEM_DEFAULT_CONSTRAINTS) == constraints
    p = new(None, None)  # type: ignore[arg-type]
    assert p.system_defaulted


def test_args_decode_through_the_config_decoder() -> None:
    errors: list[str] = []
    args = convert_checked({"defaultingType": "List", "defaultConstraints": [
        {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
         "nodeTaintsPolicy": "Honor", "minDomains": 2}]}, PodTopologySpreadArgs, "args", errors)
    assert errors == []
    assert isinstance(args, PodTopologySpreadArgs)
    args.validate()
    constraints, system = args.constraints()
    assert not system
    assert constraints[0].node_taints_policy == "Honor"
    assert constraints[0].min_domains == 2
    convert_checked({"defaultConstraints": [{"maxSkw": 1}]}, PodTopologySpreadArgs, "args",
                    errors)
    assert errors and "maxSkw" in errors[0]


@pytest.mark.parametrize(("name", "raw", "want"), [
    ("system with constraints",
     {"defaultingType": "System", "defaultConstraints": [
         {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}]},
     'defaultingType: Invalid value: "System": when .defaultConstraints are not empty'),
    ("constraints without defaulting type (defaults to System)",
     {"defaultConstraints": [
         {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}]},
     'defaultingType: Invalid value: "System": when .defaultConstraints are not empty'),
    ("unknown defaulting type", {"defaultingType": "Bogus"},
     'defaultingType: Unsupported value: "Bogus": supported values: "System", "List"'),
    ("maxSkew not positive",
     {"defaultingType": "List", "defaultConstraints": [
         {"maxSkew": 0, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}]},
     "defaultConstraints[0].maxSkew: Invalid value: 0: not in valid range (0, inf)"),
    ("empty topologyKey",
     {"defaultingType": "List", "defaultConstraints": [
         {"maxSkew": 1, "whenUnsatisfiable": "DoNotSchedule"}]},
     "defaultConstraints[0].topologyKey: Required value: can not be empty"),
    ("empty whenUnsatisfiable",
     {"defaultingType": "List", "defaultConstraints": [{"maxSkew": 1, "topologyKey": "zone"}]},
     "defaultConstraints[0].whenUnsatisfiable: Required value: can not be empty"),
    ("unknown whenUnsatisfiable",
     {"defaultingType": "List", "defaultConstraints": [
         {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "Sometimes"}]},
     'defaultConstraints[0].whenUnsatisfiable: Unsupported value: "Sometimes": supported '
     'values: "DoNotSchedule", "ScheduleAnyway"'),
    ("label selector given",
     {"defaultingType": "List", "defaultConstraints": [
         {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
          "labelSelector": {"matchLabels": {"a": "b"}}}]},
     "defaultConstraints[0].labelSelector: Forbidden: constraint must not define a selector, "
     "as they deduced for each pod"),
    ("repeated constraint",
     {"defaultingType": "List", "defaultConstraints": [
         {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"},
         {"maxSkew": 2, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway"},
         {"maxSkew": 3, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}]},
     'defaultConstraints[2]: Duplicate value: "{zone, DoNotSchedule}"'),
    ("several errors at once",
     {"defaultingType": "List", "defaultConstraints": [
         {"maxSkew": -1, "topologyKey": "zone"}]},
     "[defaultConstraints[0].maxSkew: Invalid value: -1: not in valid range (0, inf), "
     "defaultConstraints[0].whenUnsatisfiable: Required value: can not be empty]"),
])
def test_args_validation(name: str, raw: dict[str, Any], want: str) -> None:
    args = msgspec.convert(raw, PodTopologySpreadArgs)
    with pytest.raises(ArgsError) as err:
        args.validate()
    assert str(err.value) == want
    with pytest.raises(ArgsError):
        new(args, None)  # type: ignore[arg-type]


def test_invalid_topology_key_uses_label_name_rules() -> None:
    args = msgspec.convert({"defaultingType": "List", "defaultConstraints": [
        {"maxSkew": 1, "topologyKey": "bad key!", "whenUnsatisfiable": "DoNotSchedule"}]},
        PodTopologySpreadArgs)
    with pytest.raises(ArgsError) as err:
        args.validate()
    assert str(err.value).startswith('defaultConstraints[0].topologyKey: Invalid value: "bad key!"')


def test_list_defaulting_with_no_constraints_means_none() -> None:
    p = plugin("List")
    assert p.default_constraints == []
    assert not p.system_defaulted


def test_profile_config_decodes_and_validates_args() -> None:
    """pluginConfig args go through the config loader into PodTopologySpreadArgs, with errors
    under the pluginConfig path, and the profile builds the plugin at its points."""
    from pyscheduler.config.load import parse_config
    from pyscheduler.config.validation import ConfigError
    from pyscheduler.plugins.registry import new_in_tree_registry
    from pyscheduler.scheduler.profile import build_frameworks

    reg = {**new_in_tree_registry(), NAME: SPEC}
    doc = """
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: s
  plugins:
    multiPoint:
      disabled: [{name: "*"}]
      enabled: [{name: PrioritySort}, {name: DefaultBinder}, {name: PodTopologySpread, weight: 2}]
  pluginConfig:
  - name: PodTopologySpread
    args:
      defaultingType: List
      defaultConstraints:
      - {maxSkew: MAXSKEW, topologyKey: zone, whenUnsatisfiable: DoNotSchedule}
"""
    with pytest.raises(ConfigError) as err:
        parse_config(doc.replace("MAXSKEW", "0"), plugins=reg)
    assert ("profiles[0].pluginConfig[0].args.defaultConstraints[0].maxSkew: Invalid value: 0: "
            "not in valid range (0, inf)") in str(err.value)
    cfg = parse_config(doc.replace("MAXSKEW", "2"), plugins=reg)
    args = cfg.profiles[0].args[NAME]
    assert isinstance(args, PodTopologySpreadArgs)
    assert args.constraints()[0][0].max_skew == 2
    fwk = build_frameworks(cfg, lambda name: FrameworkOptions())["s"]
    assert [p.name for p in fwk.pre_filter] == [p.name for p in fwk.filter] == [NAME]
    assert [p.name for p in fwk.pre_score] == [p.name for p in fwk.score] == [NAME]
    assert fwk.weights[NAME] == 2
