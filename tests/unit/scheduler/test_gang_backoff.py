"""Issue 16: Coscheduling's podGroupBackoffSeconds (scheduler-plugins BackoffPodGroup): a group
that failed is not retried before it (scheduler/schedule_one_podgroup.py, the queue's
``min_backoff``)."""

from __future__ import annotations

import asyncio
import time

import pytest

from pyscheduler.config import ConfigError, parse_config
from pyscheduler.plugins.registry import default_registry
from tests.unit.scheduler.test_gang_cycle import CONFIG, Harness, group, member, node

BACKOFF = CONFIG + """  pluginConfig:
  - name: Coscheduling
    args:
      podGroupBackoffSeconds: {seconds}
"""
KEY = "scheduling.x-k8s.io/ns/g"


def test_pod_group_backoff_seconds_is_validated_with_its_field_path() -> None:
    reg = default_registry()
    with pytest.raises(ConfigError) as ei:
        parse_config(BACKOFF.format(seconds=-1), plugins=reg)
    assert ei.value.errors == [
        "profiles[0].pluginConfig[0].args.podGroupBackoffSeconds: Invalid value: -1: must be "
        "greater than or equal to 0"]
    with pytest.raises(ConfigError) as ei:
        parse_config(BACKOFF.format(seconds='"soon"'), plugins=reg)
    assert ei.value.errors == [
        'profiles[0].pluginConfig[0].args.podGroupBackoffSeconds: Invalid value: "soon": '
        "expected int, got str"]
    args = parse_config(BACKOFF.format(seconds=30), plugins=reg).profiles[0].args
    assert args["Coscheduling"].pod_group_backoff_seconds == 30


def _failing_group(h: Harness) -> None:
    for i in range(2):
        h.add_node(node(f"n{i}", 1))
    h.add_group(group("g", 3))
    for i in range(3):
        h.add_pod(member("g", i))


def test_a_failed_group_waits_out_its_backoff_in_backoff_q() -> None:
    async def go() -> None:
        h = Harness(BACKOFF.format(seconds=30))
        try:
            _failing_group(h)
            before = time.monotonic()
            h.run_cycles(lambda: None)
            assert h.assumed_by_group() == {}
            queue = h.app.queue
            uids = [p.metadata.uid for p in h.app.pods.indexer.list()]
            # Room appears: the gang event moves the members, but only to backoffQ.
            h.add_node(node("n2", 1))
            queue.flush_backoff_q_completed()
            for uid in uids:
                expiry = queue.backoff_expiry(uid)
                assert expiry is not None and expiry >= before + 30, (queue.where(uid), expiry)
            assert queue.try_pop() is None
            assert h.app.scheduler.group_backoff[KEY] >= before + 30
        finally:
            await h.close()

    asyncio.run(go())


def test_a_member_popped_during_the_backoff_is_not_placed_then_the_group_is() -> None:
    async def go() -> None:
        h = Harness(BACKOFF.format(seconds=30))
        try:
            _failing_group(h)
            h.run_cycles(lambda: None)
            until = h.app.scheduler.group_backoff[KEY]
            h.add_node(node("n2", 1))  # the group fits now
            pods = h.app.pods.indexer.list()
            h.app.queue.activate(pods)  # skips the pod backoff, not the group's
            h.run_cycles(lambda: None)
            assert h.assumed_by_group() == {}
            assert h.app.reporter.last == "podGroup ns/g failed recently"  # type: ignore[attr-defined]
            # The hold was not extended by the second failure.
            assert h.app.scheduler.group_backoff[KEY] == until
            h.app.scheduler.group_backoff[KEY] = time.monotonic() - 1  # the backoff is over
            h.app.queue.activate(pods)
            h.run_cycles(lambda: None)
            assert h.assumed_by_group() == {"g": 3}
            assert KEY not in h.app.scheduler.group_backoff
        finally:
            await h.close()

    asyncio.run(go())


def test_without_the_arg_a_failed_group_backs_off_by_its_pods_backoff_only() -> None:
    async def go() -> None:
        h = Harness()
        try:
            _failing_group(h)
            before = time.monotonic()
            h.run_cycles(lambda: None)
            assert h.app.scheduler.group_backoff == {}
            h.add_node(node("n2", 1))
            for p in h.app.pods.indexer.list():
                expiry = h.app.queue.backoff_expiry(p.metadata.uid)
                assert expiry is not None and expiry < before + 30
        finally:
            await h.close()

    asyncio.run(go())
