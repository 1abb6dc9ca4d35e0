"""Lease-based leader election (client-go leaderelection with a coordination.k8s.io Lease).

Contract: ``acquire()`` returns once this instance holds the lease. ``keep()`` renews every
``retry_period`` and returns (never raises) the moment the lease cannot be renewed within
``renew_deadline`` or is taken by someone else; the caller must then stop scheduling at once
(``pyscheduler run`` exits and lets its Deployment restart it), as upstream does. A secondary
scheduler uses its own lease name (default "pyscheduler") so it never contends with
kube-scheduler.

Fencing: ``holds_lease()`` is the write guard. It is True only while the last successful
renewal *started* less than ``renew_deadline`` ago (monotonic clock, which keeps running while
the process is stopped). Another candidate can take the lease only ``lease_duration`` after it
observed our last renewal, which it cannot observe before that renewal started; since
renew_deadline < lease_duration, a write the guard lets through is sent while no one else can
lead. A stall that outlives the deadline (SIGSTOP, a long pause, a partition) makes the guard
False the moment the process runs again, before the renew loop has had a turn; the first
failed check also declares the lease lost (``on_lost`` callbacks run, ``keep()`` returns).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

import msgspec
import structlog
from kubernetes_asyncio.client import ApiClient

from pyscheduler.api.errors import ApiError, ConflictError, NotFoundError
from pyscheduler.api.raw import request_bytes
from pyscheduler.metrics import LEADER_ELECTION_MASTER_STATUS
from pyscheduler.model.meta import rfc3339_seconds

log = structlog.get_logger(__name__)


class LeaseSpec(msgspec.Struct, rename="camel", omit_defaults=True):
    holder_identity: str | None = None
    lease_duration_seconds: int | None = None
    acquire_time: str | None = None
    renew_time: str | None = None
    lease_transitions: int | None = None


class LeaseMeta(msgspec.Struct, rename="camel", omit_defaults=True):
    name: str = ""
    namespace: str = ""
    resource_version: str = ""


class Lease(msgspec.Struct, rename="camel", omit_defaults=True):
    metadata: LeaseMeta = msgspec.field(default_factory=LeaseMeta)
    spec: LeaseSpec = msgspec.field(default_factory=LeaseSpec)


def _now() -> str:
    return datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(ts: str | None) -> float:
    if not ts:
        return 0.0
    return rfc3339_seconds(ts)


class LeaderElector:
    def __init__(self, client: ApiClient, *, namespace: str, name: str, identity: str,
                 lease_duration: float = 15.0, renew_deadline: float = 10.0,
                 retry_period: float = 2.0) -> None:
        self.client = client
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self._observed: Lease | None = None
        self._observed_at = 0.0
        # component-base's leader_election_master_status{name}: 0 = backup, 1 = leader
        self._gauge = LEADER_ELECTION_MASTER_STATUS.labels(name)
        self._is_leader = False
        self._gauge.set(0)
        # When the last successful acquire/renew started (monotonic); see holds_lease().
        self._renewed_at = 0.0
        self._lost = asyncio.Event()
        self.on_lost: list[Callable[[], None]] = []

    @property
    def is_leader(self) -> bool:
        """Whether this instance holds the lease (as last acquired or renewed)."""
        return self._is_leader

    @is_leader.setter
    def is_leader(self, value: bool) -> None:
        self._is_leader = value
        self._gauge.set(1 if value else 0)

    def holds_lease(self) -> bool:
        """The write guard: True while the lease is ours and provably unexpired."""
        if not self.is_leader:
            return False
        if time.monotonic() - self._renewed_at < self.renew_deadline:
            return True
        self._lose("lease not renewed within renewDeadline")
        return False

    def _lose(self, why: str) -> None:
        if self._lost.is_set():
            return
        self.is_leader = False
        self._lost.set()
        log.error("leader election lost", identity=self.identity, reason=why,
                  since_last_renew_s=round(time.monotonic() - self._renewed_at, 3))
        for cb in self.on_lost:
            try:
                cb()
            except Exception:  # a broken callback must not keep the others from fencing
                log.exception("lease-lost callback failed")

    @property
    def _path(self) -> str:
        return f"/apis/coordination.k8s.io/v1/namespaces/{self.namespace}/leases/{self.name}"

    async def _try(self) -> bool:
        now_s = _now()
        try:
            raw = await request_bytes(self.client, "GET", self._path)
        except NotFoundError:
            body = {
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": {"holderIdentity": self.identity,
                         "leaseDurationSeconds": int(self.lease_duration),
                         "acquireTime": now_s, "renewTime": now_s, "leaseTransitions": 0},
            }
            path = f"/apis/coordination.k8s.io/v1/namespaces/{self.namespace}/leases"
            try:
                await request_bytes(self.client, "POST", path, body=body)
            except ConflictError:
                return False
            return True
        lease = msgspec.json.decode(raw, type=Lease)
        if self._observed is None or lease.spec != self._observed.spec:
            self._observed, self._observed_at = lease, time.monotonic()
        holder = lease.spec.holder_identity or ""
        duration = lease.spec.lease_duration_seconds or int(self.lease_duration)
        if holder and holder != self.identity and \
                time.monotonic() - self._observed_at < duration:
            return False  # someone else holds an unexpired lease
        transitions = lease.spec.lease_transitions or 0
        spec = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(self.lease_duration),
            "acquireTime": lease.spec.acquire_time if holder == self.identity else now_s,
            "renewTime": now_s,
            "leaseTransitions": transitions if holder == self.identity else transitions + 1,
        }
        body = {
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace,
                         "resourceVersion": lease.metadata.resource_version},
            "spec": spec,
        }
        try:
            await request_bytes(self.client, "PUT", self._path, body=body)
        except ConflictError:
            return False
        return True

    async def acquire(self) -> None:
        """Return once this instance holds the lease (retrying every ``retry_period``)."""
        log.info("attempting to acquire leader lease", lease=f"{self.namespace}/{self.name}")
        while True:
            started = time.monotonic()
            try:
                if await self._try():
                    self._renewed_at = started
                    self.is_leader = True
                    log.info("successfully acquired lease", identity=self.identity)
                    return
            except ApiError as err:
                log.warning("error acquiring lease", error=str(err))
            await asyncio.sleep(self.retry_period)

    async def keep(self) -> None:
        """Renew until we cannot; returns when leadership is lost (here or by the guard)."""
        while not self._lost.is_set():
            try:
                await asyncio.wait_for(self._lost.wait(), timeout=self.retry_period)
                return  # the guard found the lease expired first
            except TimeoutError:
                pass
            if not self.holds_lease():
                return
            started = time.monotonic()
            remaining = self.renew_deadline - (started - self._renewed_at)
            try:
                ok = await asyncio.wait_for(self._try(), timeout=max(remaining, 0.001))
            except (ApiError, TimeoutError) as err:
                log.warning("failed to renew lease", error=str(err) or type(err).__name__)
                ok = False
            if ok and not self._lost.is_set():
                self._renewed_at = started
            elif not ok and time.monotonic() - self._renewed_at >= self.renew_deadline:
                self._lose("lease not renewed within renewDeadline")
            elif not ok and self._observed is not None and \
                    (self._observed.spec.holder_identity or "") not in ("", self.identity):
                self._lose(f"lease taken by {self._observed.spec.holder_identity}")
