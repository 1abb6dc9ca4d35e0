"""Plugin result statuses (upstream framework.Status).

Contract: a ``None`` status means Success everywhere (cheap on the hot path); ``Status`` objects
carry a code, human reasons (the strings users see in FailedScheduling), the plugin that
produced them and, for Error, the exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum


class Code(IntEnum):
    SUCCESS = 0
    ERROR = 1
    # The pod does not fit now but might after preemption or a cluster change.
    UNSCHEDULABLE = 2
    # Preemption cannot help on this node (e.g. node affinity mismatch).
    UNSCHEDULABLE_AND_UNRESOLVABLE = 3
    WAIT = 4
    SKIP = 5
    # PreEnqueue/Permit said "not yet, something outside the cluster state must happen".
    PENDING = 6


@dataclass(slots=True)
class Status:
    code: Code = Code.SUCCESS
    reasons: list[str] = field(default_factory=list)
    plugin: str = ""
    error: BaseException | None = None

    @classmethod
    def unschedulable(cls, *reasons: str, plugin: str = "") -> Status:
        """Upstream Unschedulable: resolvable, so preemption may make the pod fit."""
        return cls(Code.UNSCHEDULABLE, list(reasons), plugin)

    @classmethod
    def unresolvable(cls, *reasons: str, plugin: str = "") -> Status:
        """Upstream UnschedulableAndUnresolvable: preemption cannot help on this node."""
        return cls(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, list(reasons), plugin)

    @classmethod
    def as_error(cls, err: BaseException, plugin: str = "") -> Status:
        """Upstream AsStatus: an Error whose reason is ``str(err)``, keeping ``err``."""
        return cls(Code.ERROR, [str(err)], plugin, err)

    @classmethod
    def skip(cls) -> Status:
        """Upstream Skip: the plugin opts out of its later point(s) for this cycle."""
        return cls(Code.SKIP)

    def is_success(self) -> bool:
        """Upstream Status.IsSuccess: True only for code Success."""
        return self.code == Code.SUCCESS

    def is_rejected(self) -> bool:
        """Upstream IsRejected: Unschedulable, UnschedulableAndUnresolvable or Pending."""
        return self.code in (Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE, Code.PENDING)

    def message(self) -> str:
        """Upstream Status.Message: the reasons joined with ', ' ('' when none)."""
        return ", ".join(self.reasons)

    def with_plugin(self, plugin: str) -> Status:
        """Record ``plugin`` as the producer unless one is set (in place); returns self."""
        if not self.plugin:
            self.plugin = plugin
        return self


def is_success(status: Status | None) -> bool:
    """Upstream Status.IsSuccess on a possibly-nil status: None counts as Success."""
    return status is None or status.code == Code.SUCCESS
