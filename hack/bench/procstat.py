"""CPU time and peak memory of a process, read from /proc (Linux only; no psutil needed).

Contract: :func:`cpu_seconds` is user + system time of the process itself (its threads
included, children excluded), :func:`peak_rss_mib` its high-water resident set (VmHWM), which
the kernel keeps for the process's whole life, so one read at the end gives the peak without
sampling. Both return None once the process is gone.
"""

from __future__ import annotations

import os

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may contain spaces: split after its closing parenthesis.
    fields = stat[stat.rindex(")") + 2:].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _status_kib(pid: int, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def peak_rss_mib(pid: int) -> float | None:
    kib = _status_kib(pid, "VmHWM:")
    return None if kib is None else kib / 1024


def rss_mib(pid: int) -> float | None:
    kib = _status_kib(pid, "VmRSS:")
    return None if kib is None else kib / 1024


def loadavg() -> float | None:
    """The machine's 1-minute load average."""
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except OSError:
        return None
