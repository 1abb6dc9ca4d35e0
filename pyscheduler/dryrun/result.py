"""The dry run's result model (serialized as docs/DRY_RUN.md's DryRunResult, v1alpha1).

Contract: ``PodResult.node`` is None when the pod would stay pending; ``score`` is the chosen
node's weighted total (None when upstream skips scoring: one feasible node, or the nominated
node passed); ``victims`` are the pods its preemption would evict, in preemption order;
``message`` is the last FailedScheduling message ``run`` would write, for a pod left pending
(None for a placed pod).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

API_VERSION = "pyscheduler.dev/v1alpha1"
KIND = "DryRunResult"


@dataclass(slots=True)
class PodResult:
    namespace: str
    name: str
    profile: str
    node: str | None = None
    score: int | None = None
    victims: list[tuple[str, str]] = field(default_factory=list)
    message: str | None = None
    # Other nodes that scored as high as ``node`` (run breaks such ties at random); not part
    # of the schema, used by --compare-config to ignore tie-breaking noise.
    tied: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        """'namespace/name'."""
        return f"{self.namespace}/{self.name}"

    def to_dict(self) -> dict[str, Any]:
        """The schema's pod entry."""
        return {
            "namespace": self.namespace,
            "name": self.name,
            "profile": self.profile,
            "node": self.node,
            "score": self.score,
            "victims": [{"namespace": ns, "name": n} for ns, n in self.victims],
            "message": self.message,
        }


@dataclass(slots=True)
class DryRunResult:
    pods: list[PodResult] = field(default_factory=list)
    explanation: Any = None  # explain.Explanation for --explain

    @property
    def all_fit(self) -> bool:
        """Every evaluated pod got a node."""
        return all(p.node is not None for p in self.pods)

    def to_dict(self) -> dict[str, Any]:
        """The versioned document (docs/DRY_RUN.md)."""
        return {"apiVersion": API_VERSION, "kind": KIND,
                "pods": [p.to_dict() for p in self.pods]}
