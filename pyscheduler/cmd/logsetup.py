"""structlog setup: upstream's ``-v`` verbosity and ``--logging-format json|text``.

Contract: ``configure(level, fmt=...)`` is called once by the CLI. Library modules only call
``structlog.get_logger(__name__)`` and bind context (``pod="ns/name"``) on the logger.

* ``fmt="json"``: one JSON object per line (``event``, ``level``, ``timestamp`` and the bound
  keys), as component-base's JSON format writes one object per line; ``fmt="text"``: readable
  ``key=value`` lines (coloured on a TTY); ``fmt=None`` keeps pyscheduler's historical choice:
  JSON when stderr is not a TTY, text when it is.
* ``level_for_verbosity(v)`` maps klog's ``-v`` onto our levels: kube-scheduler logs its
  per-pod outcome at V(2) and its per-cycle details at V(4) and above, and shows V(0..3) at
  the recommended ``-v=2``; so 0..3 is info and 4 and above is debug.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

import structlog

LOGGING_FORMATS = ("text", "json")
LEVELS = ("debug", "info", "warning", "error")
DEBUG_VERBOSITY = 4
_HANDLER_NAME = "pyscheduler-stderr"


def level_for_verbosity(v: int) -> str:
    """The level klog verbosity ``v`` means here: debug from V(4), else info."""
    return "debug" if v >= DEBUG_VERBOSITY else "info"


def configure(level: str = "info", *, fmt: str | None = None,
              json: bool | None = None, stream: TextIO | None = None) -> None:
    """structlog to ``stream`` (default stderr) at ``level`` in ``fmt`` (json|text; None: JSON
    unless a TTY); stdlib logs from WARNING (``json`` is the older spelling of
    ``fmt="json"``)."""
    out = sys.stderr if stream is None else stream
    lvl = getattr(logging, level.upper(), logging.INFO)
    if fmt is None and json is not None:
        fmt = "json" if json else "text"
    use_json = (not out.isatty()) if fmt is None else fmt == "json"
    processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if use_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=True,
    )
    # Libraries that use stdlib logging (aiohttp, kopf) go to stderr at WARNING and above, in
    # the same format: with json, every line of the process's stderr is one JSON object.
    handler = logging.StreamHandler(out)
    handler.setFormatter(_JsonFormatter() if use_json
                         else logging.Formatter("%(levelname)s %(name)s %(message)s"))
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    # Replace only our own handler (configure may run twice); others' (pytest's) stay.
    root.handlers[:] = [h for h in root.handlers if h.get_name() != _HANDLER_NAME] + [handler]
    root.setLevel(max(lvl, logging.WARNING))
    # kubernetes-asyncio warns before it raises on a bad kubeconfig; the command reports the
    # error itself, in one line.
    logging.getLogger("kubernetes_asyncio.config").setLevel(logging.ERROR)


class _JsonFormatter(logging.Formatter):
    """A stdlib record as the JSON object structlog writes (event, level, logger, timestamp)."""

    def format(self, record: logging.LogRecord) -> str:
        """One JSON line; the exception, if any, as ``exception``."""
        out = {
            "event": record.getMessage(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat().replace(
                "+00:00", "Z"),
        }
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out)
