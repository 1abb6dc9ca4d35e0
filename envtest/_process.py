"""Child processes that cannot outlive us.

Contract: every process started through :func:`spawn` dies when the Python process dies,
however it dies:

* it runs in its own session (so its own process group): a terminal's Ctrl-C reaches only
  Python, which then tears the control plane down in order, instead of racing the children
  to their deaths; :meth:`Process.stop` signals the whole group;
* it gets ``PR_SET_PDEATHSIG(SIGKILL)``: the kernel kills it when its parent goes away, even on
  ``kill -9`` of Python, where no Python code runs;
* an ``atexit`` guard SIGKILLs whatever is still registered as live at a normal exit.

Why a dedicated spawner thread: the "parent" that PDEATHSIG watches is the *thread* that
forked, not the process. A child forked from a short-lived thread (``asyncio.to_thread``, a
loop's default executor that pytest-asyncio shuts down after each test) would be killed when
that thread ends. All forks therefore happen on one long-lived thread, which only ends when
the interpreter does.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import ctypes
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import structlog

log = structlog.get_logger("envtest")

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>

# Loaded in the parent: the child only calls an already-resolved function between fork and exec.
_libc = ctypes.CDLL(None, use_errno=True)
_prctl = _libc.prctl
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_prctl.restype = ctypes.c_int

_spawner = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="envtest-spawn")
_live: set[Process] = set()
_live_lock = threading.Lock()


def _child_setup(parent_pid: int) -> None:
    """Runs in the child between fork and exec: die with the parent (see module doc)."""
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    # The parent may have died between fork and prctl; then nobody would ever signal us.
    if os.getppid() != parent_pid:
        os._exit(1)


@dataclass(slots=True, eq=False)
class Process:
    """One running component: its argv, its log file and its Popen."""

    name: str
    argv: tuple[str, ...]
    log_path: Path
    env: Mapping[str, str] | None = None
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    def start(self) -> None:
        """Start (or start again, appending to the same log) on the spawner thread."""
        if self.alive():
            raise RuntimeError(f"{self.name} is already running")
        self.popen = _spawner.submit(self._popen).result()
        with _live_lock:
            _live.add(self)

    def _popen(self) -> subprocess.Popen[bytes]:
        with self.log_path.open("ab") as out:
            out.write(f"==== {time.strftime('%H:%M:%S')} starting {self.name}\n".encode())
            out.flush()
            # The spawner thread is the child's "parent" for PDEATHSIG purposes; its pid is ours.
            parent_pid = os.getpid()
            return subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(self.env) if self.env is not None else None,
                start_new_session=True,
                preexec_fn=lambda: _child_setup(parent_pid),
                close_fds=True,
            )

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def returncode(self) -> int | None:
        return self.popen.poll() if self.popen is not None else None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group, then SIGKILL it after `timeout` seconds."""
        popen = self.popen
        if popen is None:
            return
        if popen.poll() is None:
            _signal_group(popen.pid, signal.SIGTERM)
            try:
                popen.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("envtest.process.kill", component=self.name, after_s=timeout)
                _signal_group(popen.pid, signal.SIGKILL)
                popen.wait(5)
        # No group-wide kill after the wait: once the leader is reaped its pid (the pgid) may be
        # reused by an unrelated process. Our components do not fork, so nothing is left over.
        # Only once it is surely dead: an interrupted stop() leaves it to the atexit guard.
        with _live_lock:
            _live.discard(self)

    def tail(self, lines: int = 40) -> str:
        """The last lines of this component's log, for error messages."""
        try:
            with self.log_path.open("rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 64 * 1024))
                text = f.read().decode(errors="replace")
        except OSError as e:
            return f"<no log: {e}>"
        return "\n".join(text.splitlines()[-lines:])


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    # start_new_session made the child a session and group leader, so its pid is the pgid.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def spawn(
    name: str, argv: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None
) -> Process:
    proc = Process(name=name, argv=tuple(argv), log_path=log_path, env=env)
    proc.start()
    return proc


def kill_all_live() -> None:
    """SIGKILL every registered live process group (the atexit guard; also usable by hand)."""
    with _live_lock:
        procs = list(_live)
        _live.clear()
    for p in procs:
        # poll() first: signalling the pid of a reaped process could hit a reused pid.
        if p.popen is not None and p.popen.poll() is None:
            _signal_group(p.popen.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                p.popen.wait(5)


atexit.register(kill_all_live)
