"""Polling helpers shared by the integration tests: wait for a condition with a deadline, and
fail with the last value seen (so a failure says what the cluster looked like)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest


def _fail(what: str, timeout: float, last: Any, detail: Callable[[], Any] | None) -> None:
    seen = f"last: {last!r}" if detail is None else f"last seen: {detail()!r}"
    pytest.fail(f"{what} not met within {timeout}s ({seen})")


def wait_until(probe: Callable[[], Any], *, timeout: float, interval: float = 0.2,
               what: str = "condition", detail: Callable[[], Any] | None = None) -> Any:
    """Call ``probe`` until it returns something truthy, and return that; on timeout fail
    with the probe's last value, or with ``detail()`` when the probe returns only a verdict."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    _fail(what, timeout, last, detail)


async def await_until(probe: Callable[[], Any], *, timeout: float, interval: float = 0.2,
                      what: str = "condition", blocking: bool = True,
                      detail: Callable[[], Any] | None = None) -> Any:
    """Poll ``probe`` (in a thread when it makes blocking API calls) until it is truthy;
    fails as :func:`wait_until` does."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await asyncio.to_thread(probe) if blocking else probe()
        if last:
            return last
        await asyncio.sleep(interval)
    _fail(what, timeout, last, detail)
