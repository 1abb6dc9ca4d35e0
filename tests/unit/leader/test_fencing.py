"""Issue 11, defect 1: once the lease is lost or unprovable, no write leaves the process."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from pyscheduler.api.errors import ServerError
from pyscheduler.backend.api_dispatcher import ApiDispatcher, LeadershipLostError
from pyscheduler.cmd.leader import LeaderElector


class Calls:
    """Records every call the dispatcher really sends."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def call(self, name: str, *, fail: BaseException | None = None) -> Any:
        async def run(_client: Any) -> bytes:
            self.sent.append(name)
            if fail is not None:
                raise fail
            return b"{}"

        return run


async def test_guard_refuses_a_call_at_send_time_and_never_sends_it() -> None:
    allowed = [True]
    d = ApiDispatcher(None, qps=1000, burst=1000, workers=2,  # type: ignore[arg-type]
                      guard=lambda: allowed[0])
    calls = Calls()
    d.start()
    try:
        assert await d.call("a", calls.call("a")) == b"{}"
        allowed[0] = False
        with pytest.raises(LeadershipLostError):
            await d.call("b", calls.call("b"))
    finally:
        await d.shutdown()
    assert calls.sent == ["a"]


async def test_guard_is_checked_after_the_rate_limiter_wait() -> None:
    # Burst 1 at 20 QPS: the second call waits ~50 ms for a token. The lease is lost during
    # that wait; the call must not be sent when its token arrives.
    allowed = [True]
    d = ApiDispatcher(None, qps=20, burst=1, workers=2,  # type: ignore[arg-type]
                      guard=lambda: allowed[0])
    calls = Calls()
    d.start()
    try:
        first = d.submit("a", calls.call("a"))
        second = d.submit("b", calls.call("b"))
        await first
        allowed[0] = False
        with pytest.raises(LeadershipLostError):
            await second
    finally:
        await d.shutdown()
    assert calls.sent == ["a"]


async def test_a_refused_call_is_not_retried() -> None:
    allowed = [True]
    d = ApiDispatcher(None, qps=1000, burst=1000, workers=1,  # type: ignore[arg-type]
                      guard=lambda: allowed[0])
    calls = Calls()

    def flip_then_fail(_client: Any) -> Any:  # a Call: returns the awaitable
        async def run(_c: Any) -> bytes:
            calls.sent.append("x")
            allowed[0] = False  # the lease goes while the first attempt is out
            raise ServerError(503, "ServiceUnavailable", "try again")

        return run(_client)

    d.start()
    try:
        with pytest.raises(LeadershipLostError):
            await d.call("x", flip_then_fail)
    finally:
        await d.shutdown()
    assert calls.sent == ["x"]  # the retry after the 503 was refused, not sent


async def test_abort_fails_queued_calls_without_sending_and_refuses_new_ones() -> None:
    d = ApiDispatcher(None, qps=1, burst=1, workers=4)  # type: ignore[arg-type]
    calls = Calls()
    d.start()
    first = d.submit("a", calls.call("a"))
    await first
    queued = [d.submit(f"k{i}", calls.call(f"k{i}")) for i in range(20)]  # waiting for tokens
    await asyncio.sleep(0.01)
    d.abort()
    late = d.submit("late", calls.call("late"))
    for fut in (*queued, late):
        with pytest.raises(LeadershipLostError):
            await fut
    await asyncio.sleep(1.2)  # past the next token: a still-running worker would send now
    assert calls.sent == ["a"]
    assert d.fenced


def elector(**kw: float) -> LeaderElector:
    return LeaderElector(None, namespace="ns", name="pyscheduler",  # type: ignore[arg-type]
                         identity="me", **kw)


async def test_holds_lease_only_within_renew_deadline_of_the_last_renewal() -> None:
    e = elector(lease_duration=15, renew_deadline=10, retry_period=2)
    assert not e.holds_lease()  # never acquired
    lost: list[int] = []
    e.on_lost.append(lambda: lost.append(1))
    e.is_leader = True
    e._renewed_at = time.monotonic() - 9.0
    assert e.holds_lease()
    # A stall (SIGSTOP) past the deadline: the first check after it says no, and declares the
    # lease lost once, before the renew loop has had a turn.
    e._renewed_at = time.monotonic() - 10.5
    assert not e.holds_lease()
    assert not e.holds_lease()
    assert lost == [1]
    assert not e.is_leader


async def test_keep_returns_as_soon_as_the_guard_finds_the_lease_expired() -> None:
    e = elector(lease_duration=15, renew_deadline=10, retry_period=5)
    e.is_leader = True
    e._renewed_at = time.monotonic()
    task = asyncio.create_task(e.keep())
    await asyncio.sleep(0.01)
    e._renewed_at = time.monotonic() - 11
    assert not e.holds_lease()
    await asyncio.wait_for(task, 1.0)  # well before its 5 s retry period
