"""These tests call the CLI in-process. The CLI configures structlog for the process; here that
must not bind loggers to pytest's per-test capture streams (closed after the test, which broke
later tests that log), so logging goes through a proxy to the current stderr, loggers are not
cached, and the previous configuration is restored afterwards."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from pyscheduler.cmd import logsetup


class _CurrentStderr:
    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _configure(level: str = "info", *, fmt: str | None = None,
               json: bool | None = None) -> None:
    lvl = getattr(logging, level.upper(), logging.INFO)
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )


@pytest.fixture(autouse=True)
def _isolated_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    before: dict[str, Any] = structlog.get_config()
    monkeypatch.setattr(logsetup, "configure", _configure)
    yield
    structlog.configure(**before)
