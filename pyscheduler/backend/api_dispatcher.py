"""API dispatcher: every write the scheduler makes (upstream's backend/api_dispatcher).

Contract:
* Calls are queued by key on a RateLimitingQueue and executed by a fixed set of worker tasks.
  Before each call a worker takes a token from the client-side bucket (``qps``/``burst``, as
  client-go's flowcontrol limiter), so the scheduler never exceeds the configured client rate,
  however many binds are in flight.
* Retriable failures (429, 5xx, timeouts, connection errors) are retried with the queue's
  per-item exponential backoff (5 ms doubling) or the server's Retry-After, up to
  ``max_attempts``; then the caller's future fails with the last error. Other errors (404,
  409, 403, 422...) fail at once: the caller decides (e.g. a 409 on a bind means the pod was
  bound by someone else).
* Coalescing: submitting a key that is still waiting replaces its call (the latest status patch
  or event update wins) and every submitter's future gets the one result. A key submitted while
  its previous call runs is run again once after it (workqueue dirty/processing semantics).
* ``shutdown()`` stops taking work and drains what is running (SIGTERM).
* Fencing (leader election): with a ``guard``, each call is checked against it at the last
  moment before it is sent, after the rate limiter's wait; a call the guard refuses is never
  sent and fails with :class:`LeadershipLostError` (not retried). ``abort()`` is the lease-loss
  path: it fences at once (no call is sent after it returns, whatever is queued or waiting for
  a token), fails every queued call and cancels the running ones. It never drains.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from kubernetes_asyncio.client import ApiClient

from pyscheduler.api.errors import ApiError, is_retriable
from pyscheduler.api.raw import request_bytes
from pyscheduler.informers.ratelimit import BucketRateLimiter, ItemExponentialFailureRateLimiter
from pyscheduler.informers.workqueue import QueueShutDownError, RateLimitingQueue

log = structlog.get_logger(__name__)

Call = Callable[[ApiClient], Awaitable[bytes]]

STRATEGIC_MERGE = {"Content-Type": "application/strategic-merge-patch+json"}
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


class LeadershipLostError(ApiError):
    """A write refused because this process no longer holds (or cannot prove it holds) the
    leader lease; it was never sent."""

    def __init__(self, message: str = "leader lease lost or expired; call not sent") -> None:
        super().__init__(0, "LeadershipLost", message)


Guard = Callable[[], bool]  # True while writes may leave the process


@dataclass(slots=True)
class _Op:
    call: Call
    futures: list[asyncio.Future[bytes]] = field(default_factory=list)
    attempts: int = 0
    last_error: BaseException | None = None


class ApiDispatcher:
    def __init__(self, client: ApiClient, *, qps: float = 50.0, burst: int = 100,
                 workers: int = 64, max_attempts: int = 8, max_retry_delay: float = 30.0,
                 name: str = "api_dispatcher", guard: Guard | None = None) -> None:
        self.client = client
        self.name = name
        self.guard = guard
        self._fenced = False
        self.max_attempts = max_attempts
        self._bucket = BucketRateLimiter(qps, burst)
        self._queue: RateLimitingQueue[str] = RateLimitingQueue(
            name, ItemExponentialFailureRateLimiter(0.005, max_retry_delay)
        )
        self._pending: dict[str, _Op] = {}
        self._running: dict[str, _Op] = {}
        self._n_workers = workers
        self._workers: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start the fixed set of worker tasks on the running event loop."""
        loop = asyncio.get_running_loop()
        self._workers = [
            loop.create_task(self._worker(), name=f"api-dispatcher-{i}")
            for i in range(self._n_workers)
        ]

    async def shutdown(self) -> None:
        """SIGTERM path: stop taking work, drain it, fail leftovers with ShuttingDown."""
        await self._queue.shut_down_with_drain()
        for t in self._workers:
            t.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        for op in self._pending.values():
            for f in op.futures:
                if not f.done():
                    f.set_exception(ApiError(0, "ShuttingDown", "scheduler is shutting down"))
        self._pending.clear()

    def abort(self) -> None:
        """Lease lost: send nothing more, fail what is queued, cancel what is running.

        Synchronous on purpose: once it returns no call can leave the process, even if the
        caller is stopped right after (the check in ``_process`` reads the same flag)."""
        self._fenced = True
        self._queue.shut_down()
        dropped = len(self._pending) + len(self._running)
        for t in self._workers:
            t.cancel()
        for op in (*self._pending.values(), *self._running.values()):
            for f in op.futures:
                if not f.done():
                    f.set_exception(LeadershipLostError())
        self._pending.clear()
        log.warning("API writes fenced after losing the leader lease", dispatcher=self.name,
                    dropped_calls=dropped)

    @property
    def fenced(self) -> bool:
        """True once ``abort()`` ran: every call fails without being sent."""
        return self._fenced

    # ---- submission -----------------------------------------------------------------------
    def submit(self, key: str, call: Call) -> asyncio.Future[bytes]:
        """Queue ``call`` under ``key`` (coalescing with a waiting call of the same key); the
        future gets its response body or its final error."""
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        if self._fenced:
            fut.set_exception(LeadershipLostError())
            return fut
        op = self._pending.get(key)
        if op is None:
            op = _Op(call)
            self._pending[key] = op
        else:
            op.call = call  # newest wins; earlier submitters share its result
        op.futures.append(fut)
        self._queue.add(key)
        return fut

    async def call(self, key: str, call: Call) -> bytes:
        """Submit and wait for the response body; raises the call's final error."""
        return await self.submit(key, call)

    def fire(self, key: str, call: Call, **context: Any) -> None:
        """Submit and log a final failure instead of returning it (events, status patches);
        ``context`` (pod, reason...) goes into that log line."""
        fut = self.submit(key, call)
        fut.add_done_callback(_log_failure(key, context))

    @property
    def pending(self) -> int:
        """Calls queued (retries included) or running."""
        return len(self._pending) + len(self._running)

    # ---- workers --------------------------------------------------------------------------
    async def _worker(self) -> None:
        while True:
            try:
                key = await self._queue.get()
            except QueueShutDownError:
                return
            try:
                await self._process(key)
            finally:
                self._queue.done(key)

    async def _process(self, key: str) -> None:
        op = self._pending.pop(key, None)
        if op is None:
            return
        self._running[key] = op
        try:
            delay = self._bucket.when(None)
            if delay > 0:
                await asyncio.sleep(delay)
            if self._fenced or (self.guard is not None and not self.guard()):
                # Checked after the token wait, the last moment before the request is sent: a
                # process stalled past its lease (SIGSTOP, a long pause) wakes up here and must
                # not send what it queued while it was leader.
                self._queue.forget(key)
                for f in op.futures:
                    if not f.done():
                        f.set_exception(LeadershipLostError())
                return
            op.attempts += 1
            try:
                result = await op.call(self.client)
            except Exception as err:
                op.last_error = err
                if is_retriable(err) and op.attempts < self.max_attempts:
                    self._retry(key, op, err)
                    return
                self._queue.forget(key)
                for f in op.futures:
                    if not f.done():
                        f.set_exception(err)
                return
            self._queue.forget(key)
            for f in op.futures:
                if not f.done():
                    f.set_result(result)
        finally:
            self._running.pop(key, None)

    def _retry(self, key: str, op: _Op, err: BaseException) -> None:
        newer = self._pending.get(key)
        if newer is not None:
            # A newer call for the key is already waiting: it supersedes this one.
            newer.futures.extend(op.futures)
            return
        self._pending[key] = op
        delay = self._queue.rate_limiter.when(key)
        retry_after = getattr(err, "retry_after", None)
        if isinstance(retry_after, int | float) and retry_after > delay:
            delay = float(retry_after)
        log.info("retrying API call", key=key, attempt=op.attempts, delay=round(delay, 3),
                 error=str(err))
        self._queue.add_after(key, delay)

    # ---- the calls the scheduler makes ------------------------------------------------------
    async def bind(self, namespace: str, name: str, uid: str, node: str) -> None:
        """POST pods/binding (UID in the body); raises the final error (409: bound)."""
        body = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name, "namespace": namespace, "uid": uid},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        }
        path = f"/api/v1/namespaces/{namespace}/pods/{name}/binding"
        # The server answers a successful bind with a Status object; we only need the 2xx.
        await self.call(f"bind/{uid}", _req("POST", path, body))

    def patch_pod_status(self, namespace: str, name: str, uid: str,
                         patch: dict[str, Any], *, kind: str = "status") -> asyncio.Future[bytes]:
        """Strategic-merge patch of pods/status. Patches of one ``kind`` for one pod coalesce
        (the newest wins), so unrelated writers (the PodScheduled condition, a victim's
        DisruptionTarget condition) use different kinds.

        pods/status is addressed by name, so the patch carries ``metadata.uid``: the server
        refuses it (422, uid is immutable) when the name now belongs to a re-created pod,
        instead of writing one pod's condition onto another."""
        path = f"/api/v1/namespaces/{namespace}/pods/{name}/status"
        body = {**patch, "metadata": {**patch.get("metadata", {}), "uid": uid}}
        return self.submit(f"{kind}/{uid}", _req("PATCH", path, body, STRATEGIC_MERGE))

    def patch_status(self, path: str, patch: dict[str, Any]) -> None:
        """framework.StatusClient: merge patch of a status subresource; the newest patch for
        a path wins while one is queued; a final failure is logged."""
        self.fire(f"status{path}", _req("PATCH", path, patch, MERGE_PATCH), what="status",
                  path=path)

    async def delete_pod(self, namespace: str, name: str, uid: str) -> None:
        """DELETE the pod with a UID precondition; raises the call's final error."""
        path = f"/api/v1/namespaces/{namespace}/pods/{name}"
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": uid}}
        await self.call(f"delete/{uid}", _req("DELETE", path, body))

    def create_event(self, key: str, namespace: str, body: dict[str, Any]) -> None:
        """POST an events.k8s.io/v1 Event; a final failure is logged with what it said."""
        path = f"/apis/events.k8s.io/v1/namespaces/{namespace}/events"
        regarding = body.get("regarding") or {}
        self.fire(key, _req("POST", path, body), what="event",
                  pod=f"{regarding.get('namespace')}/{regarding.get('name')}",
                  reason=body.get("reason"), note=body.get("note"))

    def patch_event(self, key: str, namespace: str, name: str, patch: dict[str, Any]) -> None:
        """Merge-patch an Event (its series); a final failure is only logged."""
        path = f"/apis/events.k8s.io/v1/namespaces/{namespace}/events/{name}"
        self.fire(key, _req("PATCH", path, patch, MERGE_PATCH))

    # ---- volume binding (VolumeBinding's PreBind: plugins.volume_binding.VolumeClient) ---
    async def patch_persistent_volume(self, name: str, patch: dict[str, Any]) -> bytes:
        """Merge-patch a PV (claimRef, bound-by-controller); returns the updated PV.

        The patch carries metadata.resourceVersion, so a stale decision fails at once with
        409 Conflict (not retried: the pod is scheduled again instead)."""
        path = f"/api/v1/persistentvolumes/{name}"
        return await self.call(f"pv/{name}", _req("PATCH", path, patch, MERGE_PATCH))

    async def patch_persistent_volume_claim(self, namespace: str, name: str,
                                            patch: dict[str, Any]) -> bytes:
        """Merge-patch a PVC (the selected-node annotation); returns the updated PVC."""
        path = f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/{name}"
        return await self.call(f"pvc/{namespace}/{name}",
                               _req("PATCH", path, patch, MERGE_PATCH))


def _req(method: str, path: str, body: Any, headers: dict[str, str] | None = None) -> Call:
    async def call(client: ApiClient) -> bytes:
        return await request_bytes(client, method, path, body=body, headers=headers)

    return call


def _log_failure(key: str,
                 context: dict[str, Any]) -> Callable[[asyncio.Future[bytes]], None]:
    def done(fut: asyncio.Future[bytes]) -> None:
        if fut.cancelled():
            return
        err = fut.exception()
        if isinstance(err, LeadershipLostError):
            return  # fenced: already logged once by abort(), or expected while stepping down
        if err is not None:
            log.warning("API write failed and was dropped", key=key, error=str(err),
                        status=getattr(err, "status", None), **context)

    return done
