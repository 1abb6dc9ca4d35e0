"""Polling helpers shared by the integration tests: wait for a condition with a deadline, and
fail with the last value seen (so a failure says what the cluster looked like)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest


def wait_until(probe: Callable[[], Any], *, timeout: float, interval: float = 0.2,
               what: str = "condition") -> Any:
    """Call ``probe`` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"{what} not met within {timeout}s (last: {last!r})")


async def await_until(probe: Callable[[], Any], *, timeout: float, interval: float = 0.2,
                      what: str = "condition", blocking: bool = True) -> Any:
    """Poll ``probe`` (in a thread when it makes blocking API calls) until it is truthy."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await asyncio.to_thread(probe) if blocking else probe()
        if last:
            return last
        await asyncio.sleep(interval)
    pytest.fail(f"{what} not met within {timeout}s (last: {last!r})")
