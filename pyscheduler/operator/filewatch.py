"""Watch a configuration file (a mounted ConfigMap, say) for changes, by polling its content.

Why polling: a mounted ConfigMap changes by an atomic symlink swap (..data), which inotify on
the file itself does not see; reading a small file every few seconds sees every kind of change
and needs no dependency. Contract: ``watch_file`` calls ``deliver`` with a ConfigChange each
time the file's content differs from the last delivered one (an unreadable file is delivered
once as a problem), until cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from pyscheduler.operator.change import ConfigChange


async def watch_file(path: str, deliver: Callable[[ConfigChange], None],
                     initial_text: str, interval: float = 2.0) -> None:
    """Poll ``path`` every ``interval`` seconds; deliver each change of its content."""
    last: str | None = initial_text
    source = f"file {path}"
    while True:
        await asyncio.sleep(interval)
        try:
            text: str | None = await asyncio.to_thread(Path(path).read_text)
            problem = ""
        except (OSError, UnicodeDecodeError) as err:
            text, problem = None, f"{path}: {getattr(err, 'strerror', None) or err}"
        if text == last and text is not None:
            continue
        if text is None and last is None:
            continue  # still unreadable: said once already
        last = text
        deliver(ConfigChange(source, text, problem))
