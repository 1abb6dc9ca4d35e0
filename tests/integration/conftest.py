"""Fixtures for integration tests: one real control plane (etcd, kube-apiserver, kwok) per session.

* ``control_plane`` (session): a :class:`envtest.ControlPlane`. Binaries come from
  ``$KUBEBUILDER_ASSETS``, else from ``hack/build-components.sh`` (built once, then cached;
  resolved after collection, before the first test, so a cold build is not a test timeout).
  It never skips: no control plane is an error. ``PYSCHEDULER_ENVTEST_KEEP=1`` keeps its work
  directory (logs, kubeconfigs, etcd data) after the run.
* ``admin_client`` / ``scheduler_client`` (function): kubernetes-asyncio ApiClients for the
  admin (system:masters) and the scheduler (ServiceAccount pyscheduler-system/pyscheduler,
  holding exactly manifests/base/rbac.yaml) identities, bound to the test's own event loop.
* ``namespace`` (function): a fresh namespace, deleted with everything in it afterwards.
* ``kwok_nodes`` (function): ``kwok_nodes(n, **create_nodes_kwargs) -> names``, creating Ready
  kwok nodes with names unique to the test, deleted afterwards.

The session fixture is synchronous on purpose: it owns no event loop, so it works with
pytest-asyncio's function-scoped loops (each test gets a new loop; only the clients, which are
loop-bound, are per test).

Every test under this directory is marked ``integration``.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from envtest import ControlPlane, ControlPlaneOptions, find_assets
from envtest.workload import SchedulerProcess

_HERE = Path(__file__).parent


def _is_integration(item: pytest.Item) -> bool:
    return _HERE in Path(str(item.path)).parents


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _is_integration(item):
            item.add_marker(pytest.mark.integration)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On a failed test, attach the tail of each scheduler process's log to the report.

    CI keeps only pytest's output; without this a failure there shows what the test saw but
    never what the scheduler logged while it happened."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when != "call" or not report.failed:
        return
    seen: set[int] = set()
    for name, value in getattr(item, "funcargs", {}).items():
        if id(value) in seen:
            continue  # one control plane reaches a test under several fixture names
        seen.add(id(value))
        if isinstance(value, SchedulerProcess) and value.log_path.exists():
            lines = value.log_path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
            report.sections.append((f"{name}: last {len(lines)} lines of {value.log_path.name}",
                                    "\n".join(lines)))
        elif isinstance(value, ControlPlane):
            kwok = value.log_path("kwok")  # fake nodes and pods: a test waiting on a phase
            if kwok.exists():
                lines = kwok.read_text(errors="replace").splitlines()[-KWOK_TAIL_LINES:]
                report.sections.append((f"kwok: last {len(lines)} lines", "\n".join(lines)))


LOG_TAIL_LINES = 150
KWOK_TAIL_LINES = 40


def pytest_collection_finish(session: pytest.Session) -> None:
    """Get the binaries before any test runs, if an integration test is going to.

    Here rather than in the fixture: a cold build takes minutes, which must neither count
    against the first test's timeout nor happen silently (its progress goes to the terminal).
    """
    if os.environ.get("KUBEBUILDER_ASSETS") or not any(map(_is_integration, session.items)):
        return
    capture = session.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        os.environ["KUBEBUILDER_ASSETS"] = str(find_assets())


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    keep = os.environ.get("PYSCHEDULER_ENVTEST_KEEP", "") not in ("", "0", "false")
    # Stopped by the context manager on success, failure and Ctrl-C (pytest runs session
    # teardown on KeyboardInterrupt); the atexit guard and PDEATHSIG cover the rest.
    with ControlPlane.start(ControlPlaneOptions(keep=keep)) as cp:
        yield cp
        if keep:
            print(f"\nenvtest work directory kept: {cp.work_dir}")


@pytest.fixture
def live_control_plane(control_plane: ControlPlane) -> ControlPlane:
    """The session's control plane, checked alive before the test (a dead etcd fails fast)."""
    control_plane.check_alive()
    return control_plane


@pytest.fixture
async def admin_client(live_control_plane: ControlPlane) -> AsyncIterator[Any]:
    async with live_control_plane.api_client("admin") as client:
        yield client


@pytest.fixture
async def scheduler_client(live_control_plane: ControlPlane) -> AsyncIterator[Any]:
    async with live_control_plane.api_client("scheduler") as client:
        yield client


def _slug(request: pytest.FixtureRequest, limit: int) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")
    return name[:limit].rstrip("-") or "t"


@pytest.fixture
def namespace(live_control_plane: ControlPlane, request: pytest.FixtureRequest) -> Iterator[str]:
    name = live_control_plane.create_namespace(f"{_slug(request, 40)}-")
    yield name
    live_control_plane.delete_namespace(name)


@pytest.fixture
def kwok_nodes(
    live_control_plane: ControlPlane, request: pytest.FixtureRequest
) -> Iterator[Callable[..., list[str]]]:
    created: list[str] = []
    prefix = f"{_slug(request, 30)}-{os.urandom(2).hex()}-"
    start = 0

    def make(n: int, **kwargs: Any) -> list[str]:
        nonlocal start
        kwargs.setdefault("name_prefix", prefix)
        kwargs.setdefault("start_index", start)
        names = live_control_plane.create_nodes(n, **kwargs)
        start += n
        created.extend(names)
        return names

    yield make
    live_control_plane.delete_nodes(created)
