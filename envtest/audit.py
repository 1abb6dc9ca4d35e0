"""kube-apiserver's audit log, for tests that count what reached the API and who sent it.

Contract:

* :data:`DEFAULT_AUDIT_POLICY` logs, and only logs, the writes a scheduler makes: pod binding
  creates (Request level: the body names the pod's UID and the target node), lease writes in
  the scheduler's namespace (Request level: the body names the holder), pod deletes and
  pods/status patches/updates (Metadata level). Everything else is level None, so a burst of
  thousands of pods writes a small log.
* :class:`ControlPlaneOptions(audit=True) <envtest.ControlPlaneOptions>` starts
  kube-apiserver with that policy (or ``audit_policy``), ``--audit-log-format=json`` and the
  log backend in blocking mode, at ``<work dir>/logs/audit.log``; an apiserver restart appends
  to the same file.
* :func:`read_audit_log` returns one :class:`AuditRecord` per request that completed
  (``stage == ResponseComplete``), in file order; a half-written last line (the apiserver is
  writing it now) is skipped, any other undecodable line raises.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

DEFAULT_AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived", "ResponseStarted"]
rules:
- level: Request
  verbs: ["create"]
  resources:
  - group: ""
    resources: ["pods/binding", "bindings"]
- level: Request
  verbs: ["create", "update", "patch"]
  namespaces: ["{scheduler_namespace}"]
  resources:
  - group: "coordination.k8s.io"
    resources: ["leases"]
- level: Metadata
  verbs: ["delete", "deletecollection"]
  resources:
  - group: ""
    resources: ["pods"]
- level: Metadata
  verbs: ["patch", "update"]
  resources:
  - group: ""
    resources: ["pods/status"]
- level: None
"""


def _ts(value: str | None) -> float:
    """An audit timestamp (RFC 3339, microseconds, "Z") as seconds since the epoch."""
    if not value:
        return 0.0
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One completed request, as the audit log records it (the fields tests read)."""

    audit_id: str
    verb: str
    username: str
    resource: str
    subresource: str
    namespace: str
    name: str
    api_group: str
    code: int
    # Seconds since the epoch: when the apiserver received the request, and when it answered.
    received: float
    completed: float
    request_uri: str = ""
    request_object: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def succeeded(self) -> bool:
        return 200 <= self.code < 300

    @property
    def indeterminate(self) -> bool:
        """The apiserver answered 504 (Timeout): the write may or may not have been committed.

        kube-apiserver answers a request whose context ended (the client went away, or the
        request deadline passed) with 504 even when etcd had already applied the write, so the
        outcome is unknown, as the StatusReasonTimeout documentation says."""
        return self.code == 504

    @property
    def is_binding(self) -> bool:
        return self.verb == "create" and self.resource == "pods" and self.subresource == "binding"

    @property
    def is_pod_status_write(self) -> bool:
        return self.resource == "pods" and self.subresource == "status" and self.verb in (
            "patch", "update")

    @property
    def is_pod_delete(self) -> bool:
        return self.resource == "pods" and not self.subresource and self.verb in (
            "delete", "deletecollection")

    @property
    def is_lease_write(self) -> bool:
        return self.api_group == "coordination.k8s.io" and self.resource == "leases" and \
            self.verb in ("create", "update", "patch")

    @property
    def binding_uid(self) -> str:
        """The pod UID a binding names (metadata.uid of its body), or ""."""
        body = self.request_object or {}
        return str((body.get("metadata") or {}).get("uid") or "")

    @property
    def binding_target(self) -> str:
        body = self.request_object or {}
        return str((body.get("target") or {}).get("name") or "")

    @property
    def lease_holder(self) -> str:
        """spec.holderIdentity of a lease write's body, or ""."""
        body = self.request_object or {}
        return str((body.get("spec") or {}).get("holderIdentity") or "")

    @classmethod
    def from_event(cls, ev: dict[str, Any]) -> AuditRecord:
        ref = ev.get("objectRef") or {}
        status = ev.get("responseStatus") or {}
        return cls(
            audit_id=str(ev.get("auditID", "")),
            verb=str(ev.get("verb", "")),
            username=str((ev.get("user") or {}).get("username", "")),
            resource=str(ref.get("resource", "")),
            subresource=str(ref.get("subresource", "")),
            namespace=str(ref.get("namespace", "")),
            name=str(ref.get("name", "")),
            api_group=str(ref.get("apiGroup", "")),
            code=int(status.get("code") or 0),
            received=_ts(ev.get("requestReceivedTimestamp")),
            completed=_ts(ev.get("stageTimestamp")),
            request_uri=str(ev.get("requestURI", "")),
            request_object=ev.get("requestObject"),
        )


def _lines(path: Path) -> Iterator[tuple[str, bool]]:
    """(line, is_last_and_unterminated) for each line of the file."""
    data = path.read_text(errors="replace")
    parts = data.split("\n")
    for i, line in enumerate(parts):
        if line.strip():
            yield line, i == len(parts) - 1


def parse_audit_lines(lines: Iterable[tuple[str, bool]]) -> list[AuditRecord]:
    out: list[AuditRecord] = []
    for line, partial in lines:
        try:
            ev = json.loads(line)
        except ValueError:
            if partial:
                continue  # being written right now
            raise
        if ev.get("stage") != "ResponseComplete":
            continue
        out.append(AuditRecord.from_event(ev))
    return out


def read_audit_log(path: Path) -> list[AuditRecord]:
    """Every completed request in the audit log at ``path`` (see module doc); [] if absent."""
    if not path.exists():
        return []
    return parse_audit_lines(_lines(path))


__all__ = ["DEFAULT_AUDIT_POLICY", "AuditRecord", "parse_audit_lines", "read_audit_log"]
