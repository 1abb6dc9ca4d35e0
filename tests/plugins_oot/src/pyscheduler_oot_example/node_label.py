"""ExampleNodeLabel: an out-of-tree Filter and Score plugin driven by node labels.

Contract:
* Filter: a node without the label ``args.requiredLabel`` is Unschedulable
  ("node(s) lacked the example label"), unless the pod opts out with the annotation
  ``args.optOutAnnotation: "true"``.
* Score: the node's label ``args.scoreLabel`` read as an integer, clamped to 0..100 (no label
  or not an integer: 0). No NormalizeScore.

It uses only the public plugin surface: ``pyscheduler.framework`` Protocols, PluginSpec and a
msgspec args type decoded from ``pluginConfig[].args``.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from pyscheduler.framework.cycle_state import CycleState
from pyscheduler.framework.interfaces import MAX_NODE_SCORE, FilterPlugin, Handle, ScorePlugin
from pyscheduler.framework.node_info import NodeInfo
from pyscheduler.framework.registry import PluginSpec
from pyscheduler.framework.status import Status
from pyscheduler.framework.types import PodInfo

NAME = "ExampleNodeLabel"

ERR_REASON_MISSING_LABEL = "node(s) lacked the example label"


class ExampleNodeLabelArgs(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """The plugin's args (pluginConfig[].args), with their defaults."""

    required_label: str = "example.com/allowed"
    score_label: str = "example.com/score"
    opt_out_annotation: str = "example.com/any-node"

    def validate(self) -> None:
        """Both label keys must be set."""
        if not self.required_label:
            raise ValueError('requiredLabel: Required value: must not be empty')
        if not self.score_label:
            raise ValueError('scoreLabel: Required value: must not be empty')


@dataclass(slots=True)
class ExampleNodeLabel:
    """Filter and Score."""

    args: ExampleNodeLabelArgs
    name: str = NAME

    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status | None:
        """Reject a node without the required label (unless the pod opts out)."""
        node = node_info.node
        if node is None:
            return Status.as_error(RuntimeError("node not found"), NAME)
        if pod.pod.metadata.annotations.get(self.args.opt_out_annotation) == "true":
            return None
        if self.args.required_label not in node.metadata.labels:
            return Status.unschedulable(ERR_REASON_MISSING_LABEL, plugin=NAME)
        return None

    def score(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> int:
        """The node's score label, clamped to 0..MAX_NODE_SCORE."""
        node = node_info.node
        raw = node.metadata.labels.get(self.args.score_label, "") if node is not None else ""
        try:
            value = int(raw)
        except ValueError:
            return 0
        return max(0, min(MAX_NODE_SCORE, value))


def new(args: ExampleNodeLabelArgs | None, handle: Handle) -> ExampleNodeLabel:
    """Build the plugin from its decoded args."""
    return ExampleNodeLabel(args if args is not None else ExampleNodeLabelArgs())


SPEC = PluginSpec(NAME, new, ExampleNodeLabelArgs)


def _check(p: ExampleNodeLabel) -> tuple[FilterPlugin, ScorePlugin]:
    """Compile-time conformance: mypy checks the plugin against each Protocol."""
    return p, p
