"""Observe when measured pods get bound, from a process of its own.

Contract:
* :class:`BindWatcher` starts a child process that LISTs then WATCHes pods of one namespace as
  admin and records, per pod name, the ``time.monotonic()`` at which it first saw
  ``spec.nodeName`` set, and the node. CLOCK_MONOTONIC is system-wide on Linux, so these times
  compare directly with the creator's send times in the parent.
* Its own process (and event loop) so that timestamps are not delayed by the parent creating
  pods at full speed: the parent's loop and GIL never stand between an event's arrival and
  its timestamp.
* :meth:`BindWatcher.start` returns once the watch is established (nothing created after that
  can be missed). :meth:`BindWatcher.result` returns when ``expected`` pods were seen bound,
  when ``stop()`` was called, or at ``deadline``; whatever was seen by then is returned.
* A watch the server ends (timeout) is resumed from the last resourceVersion; a 410 Gone is
  answered with a relist, which stamps the pods it finds bound with the relist's time.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import ssl
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

import msgspec


class _Meta(msgspec.Struct):
    name: str = ""
    resourceVersion: str = ""  # the wire names


class _Spec(msgspec.Struct):
    nodeName: str = ""


class _Obj(msgspec.Struct):
    metadata: _Meta = msgspec.field(default_factory=_Meta)
    spec: _Spec = msgspec.field(default_factory=_Spec)
    code: int = 0  # set on a Status (ERROR event)


class _Event(msgspec.Struct):
    type: str
    object: _Obj


class _List(msgspec.Struct):
    metadata: _Meta
    items: list[_Obj] = []


@dataclass(frozen=True, slots=True)
class WatchTarget:
    url: str
    ca_file: str
    cert_file: str
    key_file: str
    namespace: str


Bound = dict[str, tuple[float, str]]  # pod name -> (monotonic time seen bound, node)


async def _watch(target: WatchTarget, expected: int, deadline: float, conn: Connection) -> None:
    import aiohttp

    ctx = ssl.create_default_context(cafile=target.ca_file)
    ctx.load_cert_chain(target.cert_file, target.key_file)
    path = f"{target.url}/api/v1/namespaces/{target.namespace}/pods"
    ev_decoder = msgspec.json.Decoder(_Event)
    list_decoder = msgspec.json.Decoder(_List)
    bound: Bound = {}
    stop = False

    def note(obj: _Obj, now: float) -> None:
        if obj.spec.nodeName and obj.metadata.name not in bound:
            bound[obj.metadata.name] = (now, obj.spec.nodeName)

    async def relist(session: aiohttp.ClientSession) -> str:
        async with session.get(path) as resp:
            resp.raise_for_status()
            listed = list_decoder.decode(await resp.read())
        now = time.monotonic()
        for obj in listed.items:
            note(obj, now)
        return listed.metadata.resourceVersion

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session:
        rv = await relist(session)
        ready_sent = False

        async def watch_once(rv: str) -> str:
            nonlocal ready_sent
            params = {"watch": "1", "resourceVersion": rv, "allowWatchBookmarks": "true",
                      "timeoutSeconds": "600"}
            timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
            async with session.get(path, params=params, timeout=timeout) as resp:
                resp.raise_for_status()
                if not ready_sent:
                    conn.send(("ready", None))
                    ready_sent = True
                async for line in resp.content:
                    now = time.monotonic()
                    if not line.strip():
                        continue
                    ev = ev_decoder.decode(line)
                    if ev.type == "ERROR":
                        if ev.object.code == 410:
                            return await relist(session)
                        raise RuntimeError(f"watch error: {line[:300]!r}")
                    rv = ev.object.metadata.resourceVersion or rv
                    if ev.type in ("ADDED", "MODIFIED"):
                        note(ev.object, now)
                        if len(bound) >= expected:
                            return rv
            return rv

        async def control() -> None:
            nonlocal stop
            while not stop:
                if conn.poll():
                    conn.recv()
                    stop = True
                    return
                if time.monotonic() > deadline:
                    stop = True
                    return
                await asyncio.sleep(0.05)

        async def watching() -> None:
            nonlocal rv
            while len(bound) < expected:
                rv = await watch_once(rv)

        ctl = asyncio.create_task(control())
        w = asyncio.create_task(watching())
        await asyncio.wait({ctl, w}, return_when=asyncio.FIRST_COMPLETED)
        for t in (ctl, w):
            t.cancel()
        await asyncio.gather(ctl, w, return_exceptions=True)
        if w.done() and not w.cancelled() and w.exception() is not None:
            conn.send(("error", repr(w.exception())))
    conn.send(("done", bound))


def _child(target: WatchTarget, expected: int, deadline: float, conn: Connection) -> None:
    try:
        asyncio.run(_watch(target, expected, deadline, conn))
    except BaseException as err:  # report, never hang the parent
        conn.send(("error", repr(err)))
        conn.send(("done", {}))


class BindWatcher:
    def __init__(self, target: WatchTarget, expected: int, deadline: float) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child_conn = ctx.Pipe()
        self._proc = ctx.Process(target=_child, args=(target, expected, deadline, child_conn),
                                 daemon=True, name="bench-watcher")
        self.error: str | None = None

    def start(self, timeout: float = 30.0) -> None:
        self._proc.start()
        if not self._conn.poll(timeout):
            raise RuntimeError("the watcher did not start watching in time")
        kind, payload = self._conn.recv()
        if kind != "ready":
            raise RuntimeError(f"the watcher failed to start: {payload}")

    def stop(self) -> None:
        """Ask for the result now (idempotent)."""
        with contextlib.suppress(BrokenPipeError, OSError):
            self._conn.send(("stop", None))

    def poll(self) -> bool:
        return self._conn.poll()

    def result(self, timeout: float | None = None) -> Bound:
        """Wait for the child's result (the caller decides how long; see module doc)."""
        bound: Bound = {}
        while True:
            if not self._conn.poll(timeout):
                self.error = "watcher gave no result"
                break
            kind, payload = self._conn.recv()
            if kind == "error":
                self.error = str(payload)
                continue
            bound = payload
            break
        self._proc.join(5)
        if self._proc.is_alive():
            self._proc.kill()
        return bound
