"""CPU time and peak memory of a process, read from /proc (Linux only; no psutil needed).

Contract: :func:`cpu_seconds` is user + system time of the process itself (its threads
included, children excluded), :func:`peak_rss_mib` its high-water resident set (VmHWM), which
the kernel keeps for the process's whole life, so one read at the end gives the peak without
sampling. Both return None once the process is gone. :func:`machine_ticks` is the whole
machine's (busy, total) CPU ticks since boot; two reads give how busy every core was between
them (:func:`busy_fraction`).
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


def machine_ticks() -> tuple[int, int] | None:
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat's first line."""
    try:
        with open("/proc/stat") as f:
            head = f.readline().split()
    except OSError:
        return None
    # cpu user nice system idle iowait irq softirq steal guest guest_nice: guest time is
    # already counted in user, so only the first eight fields add up to the total.
    ticks = [int(x) for x in head[1:9]]
    idle = ticks[3] + ticks[4]
    return sum(ticks) - idle, sum(ticks)


def busy_fraction(t0: tuple[int, int] | None, t1: tuple[int, int] | None) -> float | None:
    """How busy the machine's CPUs were between two :func:`machine_ticks` reads (0..1)."""
    if t0 is None or t1 is None or t1[1] <= t0[1]:
        return None
    return (t1[0] - t0[0]) / (t1[1] - t0[1])
