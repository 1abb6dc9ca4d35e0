"""pyscheduler run in the test process against the test control plane.

``running_app(cp, config)`` builds a SchedulerApp with the scheduler's identity from a
KubeSchedulerConfiguration text (in-tree plus optional plugins), runs it until the context
exits, and yields it once its informers have synced. A start that fails raises at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from envtest import ControlPlane
from integration.waiting import await_until
from pyscheduler.config import parse_config
from pyscheduler.plugins.registry import default_registry
from pyscheduler.scheduler.scheduler import SchedulerApp

# What running_app returns, for the modules that wrap it with their own profile.
AppContext = contextlib.AbstractAsyncContextManager[SchedulerApp]


@contextlib.asynccontextmanager
async def running_app(cp: ControlPlane, config: str, *, qps: float | None = None,
                      burst: int | None = None) -> AsyncIterator[SchedulerApp]:
    """pyscheduler in-process, with the scheduler identity, synced and scheduling."""
    async with cp.api_client("scheduler") as client:
        reg = default_registry()
        app = SchedulerApp(client, parse_config(config, plugins=reg), qps=qps, burst=burst,
                           registry=reg)
        stop = asyncio.Event()
        task = asyncio.create_task(app.run(stop))
        await await_until(lambda: app.synced or task.done(), timeout=60, what="informer sync",
                          blocking=False)
        if task.done():
            task.result()
        try:
            yield app
        finally:
            stop.set()
            await asyncio.wait_for(task, 60)
