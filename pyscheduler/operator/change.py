"""What a configuration source hands the reloader: the text it now holds, or why it has none."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ConfigChange:
    """One observation of a configuration source.

    ``text`` is the KubeSchedulerConfiguration it holds, or None with ``problem`` saying why
    (deleted, key missing, unreadable). ``regarding`` is the object reload events are about
    (an ObjectReference mapping), or None for a file."""

    source: str  # for logs: "ConfigMap kube-system/pyscheduler-config (key config.yaml)"
    text: str | None
    problem: str = ""
    regarding: Mapping[str, str] | None = field(default=None, compare=False)


def config_hash(text: str) -> str:
    """The hash a configuration is known by in metrics and logs (sha256, 16 hex digits)."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]
