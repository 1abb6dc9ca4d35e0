"""A real etcd + kube-apiserver + kwok on loopback, for integration tests and local runs.

Contract:

* :meth:`ControlPlane.start` returns only when etcd is healthy, kube-apiserver answers
  ``/readyz`` (all post-start hooks done: RBAC bootstrap roles, system priority classes, system
  namespaces), ``manifests/base/namespace.yaml`` and ``manifests/base/rbac.yaml`` are applied, the
  scheduler's service-account token works, and kwok is serving. Otherwise it raises
  :class:`ControlPlaneError` naming the component, with the tail of its log, after having
  stopped everything it started.
* Two identities, each with a self-contained kubeconfig (certificates and token embedded):
  ``admin`` (client certificate, O=system:masters) and ``scheduler`` (a token minted with the
  TokenRequest API for ServiceAccount ``pyscheduler-system/pyscheduler``), so the scheduler
  identity holds exactly what the manifests grant.
* kwok manages only nodes annotated ``kwok.x-k8s.io/node=fake`` (see :mod:`.nodes`), with its
  default stages: nodes become Ready, bound pods Running, deleted pods really go away.
* :meth:`ControlPlane.stop` (also ``__exit__``, and an ``atexit`` guard) stops kwok, then
  kube-apiserver, then etcd, and removes the work directory. Children die with Python even on
  ``kill -9`` (see :mod:`._process`). A work directory survives only on request (``keep``),
  or when Python is SIGKILLed; the next start on the machine sweeps the latter.
* Nothing here needs an event loop; every blocking method has an ``a``-prefixed awaitable twin
  that runs it in a thread, for async tests that must keep their loop turning (an informer
  watching through :meth:`restart_apiserver`).

No kube-controller-manager runs. What that changes, and what we do about it:
``ServiceAccount`` admission is off (no controller creates ``default`` service accounts);
``TaintNodesByCondition`` admission is off (no node-lifecycle controller would ever lift the
``not-ready`` taint it puts on new nodes); namespaces are deleted by :meth:`delete_namespace`,
which does the namespace controller's work; there is no garbage collector, so owner references
do not cascade.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import concurrent.futures
import contextlib
import http.client
import json
import os
import shutil
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import structlog
import yaml
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio.client import ApiClient

from ._kwok_stages import DEFAULT_STAGES_YAML
from ._pki import FRONT_PROXY_CLIENT_CN, Pki, generate_pki
from ._process import Process, spawn
from ._rest import DISCOVERY_V2, ApiError, RestClient
from .assets import REPO_ROOT, find_assets
from .audit import DEFAULT_AUDIT_POLICY, AuditRecord, read_audit_log
from .nodes import (
    KWOK_NODE_LABEL,
    KWOK_NODE_LABEL_VALUE,
    KWOK_NODE_SELECTOR,
    LabelsArg,
    Taint,
    fake_node,
    node_is_ready,
)

log = structlog.get_logger("envtest")

SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/16"
# The first address of the range: the `kubernetes` Service, hence a SAN of the serving cert.
KUBERNETES_SERVICE_IP = "10.96.0.1"
POD_CIDR = "10.244.0.0/16"
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"
SCHEDULER_NAMESPACE = "pyscheduler-system"
SCHEDULER_SERVICE_ACCOUNT = "pyscheduler"
FIELD_MANAGER = "pyscheduler-envtest"
WORK_DIR_PREFIX = "pyscheduler-envtest-"
# Holds the pid of the Python process that owns a work directory (see _sweep_stale_work_dirs).
OWNER_FILE = "owner.pid"
# CustomResourceDefinitions the product ships (install_crds).
CRD_DIR = REPO_ROOT / "manifests" / "crds"
DEFAULT_MANIFESTS = (
    REPO_ROOT / "manifests" / "base" / "namespace.yaml",
    REPO_ROOT / "manifests" / "base" / "rbac.yaml",
)


@dataclass(slots=True, frozen=True)
class SchedulerIdentity:
    """A ServiceAccount with the shipped scheduler's RBAC (ControlPlane.add_scheduler_identity)."""

    name: str
    # As the apiserver (and its audit log) names it: system:serviceaccount:<ns>:<name>.
    username: str
    kubeconfig: Path
    token: str = field(repr=False)


class ControlPlaneError(RuntimeError):
    """A component failed to start, died, or did not become ready in time."""


@dataclass(slots=True, frozen=True)
class ControlPlaneOptions:
    """How to start a control plane. Every field has a default that suits the tests."""

    # Directory with etcd, kube-apiserver and kwok; None: find_assets() (may build them).
    assets_dir: Path | None = None
    # Parent of the temporary work directory (certs, kubeconfigs, etcd data, logs).
    work_root: Path | None = None
    # Keep the work directory after stop() (logs, etcd data) for a post-mortem.
    keep: bool = False
    # Applied with the admin identity, in order, before the scheduler token is minted.
    manifests: tuple[Path, ...] = DEFAULT_MANIFESTS
    scheduler_namespace: str = SCHEDULER_NAMESPACE
    scheduler_service_account: str = SCHEDULER_SERVICE_ACCOUNT
    # Lifetime of the scheduler's token: a week, so a long local-up session keeps working.
    token_expiration_seconds: int = 7 * 24 * 3600
    kwok: bool = True
    # How long each component may take to become ready.
    startup_timeout: float = 60.0
    # Extra flags without the leading "--"; they replace ours of the same name
    # (e.g. apiserver_args={"watch-cache": "false"}).
    etcd_args: Mapping[str, str] = field(default_factory=dict)
    apiserver_args: Mapping[str, str] = field(default_factory=dict)
    kwok_args: Mapping[str, str] = field(default_factory=dict)
    # Component log verbosity (kube-apiserver -v).
    verbosity: int = 0
    # Raw kube-apiserver flags appended after all others (the last of a name wins), e.g.
    # ("--enable-priority-and-fairness=false", "--max-requests-inflight=4") to force 429s.
    apiserver_extra_flags: tuple[str, ...] = ()
    # The apiserver audit log (see .audit): on with audit=True, at audit_log_path; the policy
    # is audit_policy (YAML) or DEFAULT_AUDIT_POLICY.
    audit: bool = False
    audit_policy: str | None = None
    # The API aggregation layer's front proxy (--requestheader-*, --proxy-client-*), so an
    # extension API server such as metrics-server can be served through kube-apiserver.
    aggregator: bool = False
    # kwok also serves the nodes' kubelet endpoints (metrics, logs) over TLS, as every node's
    # InternalIP 127.0.0.1 and kubelet port: what metrics-server scrapes.
    kwok_kubelet: bool = False
    # More kwok configuration documents (YAML, e.g. Metric, ClusterResourceUsage), appended.
    kwok_extra_config: str = ""


def _free_port() -> int:
    # Racy by nature (the port is free now, not necessarily in a second); a component that
    # fails with "address already in use" is restarted on new ports (see _start_with_retry).
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _sweep_stale_work_dirs(root: Path | None) -> None:
    """Remove work directories whose owner died without cleaning up (it was SIGKILLed).

    Its components died with it (PDEATHSIG), but nothing ran to delete its files. A directory
    whose owner is alive (another test session on this machine) is left alone.
    """
    base = Path(root) if root is not None else Path(tempfile.gettempdir())
    for d in base.glob(f"{WORK_DIR_PREFIX}*"):
        try:
            pid = int((d / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue  # being created right now, or not ours
        try:
            os.kill(pid, 0)
            continue  # owner alive
        except ProcessLookupError:
            pass
        except PermissionError:
            continue  # alive, someone else's
        shutil.rmtree(d, ignore_errors=True)
        log.info("envtest.swept_stale_work_dir", path=str(d), owner_pid=pid)


def _flags(args: Mapping[str, str]) -> list[str]:
    return [f"--{k}={v}" for k, v in args.items()]


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def _write_kubeconfig(
    path: Path, *, server: str, ca: Path, user: str, user_entry: Mapping[str, str]
) -> None:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "envtest",
                "cluster": {"server": server, "certificate-authority-data": _b64(ca)},
            }
        ],
        "users": [{"name": user, "user": dict(user_entry)}],
        "contexts": [{"name": user, "context": {"cluster": "envtest", "user": user}}],
        "current-context": user,
        "preferences": {},
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    path.chmod(0o600)


def _load_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


@dataclass(slots=True, eq=False)
class ControlPlane:
    """A running control plane: where to reach it and how to drive it (see module doc)."""

    work_dir: Path
    assets_dir: Path
    etcd_url: str
    etcd_port: int
    etcd_peer_port: int
    apiserver_url: str
    apiserver_port: int
    kwok_port: int | None
    ca_file: Path
    admin_kubeconfig: Path
    scheduler_kubeconfig: Path
    admin_cert_file: Path
    admin_key_file: Path
    scheduler_token: str = field(repr=False)
    options: ControlPlaneOptions = field(repr=False)
    _pki: Pki = field(repr=False)
    _etcd: Process = field(repr=False)
    _apiserver: Process = field(repr=False)
    _kwok: Process | None = field(repr=False)
    _admin: RestClient = field(repr=False)
    _etcd_rest: RestClient = field(repr=False)
    _stopped: bool = field(default=False, repr=False)
    # kube-apiserver's argv as first started (restart_apiserver(extra_flags=) appends to it).
    _apiserver_argv: tuple[str, ...] = field(default=(), repr=False)

    # ---------------------------------------------------------------- lifecycle

    @classmethod
    def start(cls, options: ControlPlaneOptions | None = None) -> ControlPlane:
        """Start etcd, kube-apiserver and kwok and wait until all are ready (see module doc)."""
        opts = options or ControlPlaneOptions()
        t0 = time.monotonic()
        assets = opts.assets_dir or find_assets()
        _sweep_stale_work_dirs(opts.work_root)
        work = Path(tempfile.mkdtemp(prefix=WORK_DIR_PREFIX, dir=opts.work_root))
        (work / OWNER_FILE).write_text(str(os.getpid()))
        started: list[Process] = []
        try:
            plane = cls._start_in(work, assets, opts, started)
        except BaseException:
            # KeyboardInterrupt included: whatever got started goes, then the error goes on.
            for p in reversed(started):
                p.stop(timeout=5)
            if not opts.keep:
                shutil.rmtree(work, ignore_errors=True)
            raise
        _register(plane)
        log.info(
            "envtest.started",
            apiserver=plane.apiserver_url,
            etcd=plane.etcd_url,
            work_dir=str(work),
            seconds=round(time.monotonic() - t0, 2),
        )
        return plane

    @classmethod
    def _start_in(
        cls, work: Path, assets: Path, opts: ControlPlaneOptions, started: list[Process]
    ) -> ControlPlane:
        logs = work / "logs"
        logs.mkdir()
        pki = generate_pki(work / "pki", service_ip=KUBERNETES_SERVICE_IP)
        # Start etcd while nothing else needs the CPU.
        etcd, etcd_port, etcd_peer = _start_etcd(work, assets, opts, started)
        etcd_rest = RestClient("127.0.0.1", etcd_port, timeout=10)

        apiserver, api_port = _start_apiserver(work, assets, opts, pki, etcd_port, started)
        api_url = f"https://127.0.0.1:{api_port}"
        admin_ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
        admin_ctx.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))
        admin = RestClient("127.0.0.1", api_port, ssl_context=admin_ctx)

        admin_kubeconfig = work / "admin.kubeconfig"
        _write_kubeconfig(
            admin_kubeconfig,
            server=api_url,
            ca=pki.ca_cert,
            user="admin",
            user_entry={
                "client-certificate-data": _b64(pki.admin_cert),
                "client-key-data": _b64(pki.admin_key),
            },
        )

        for manifest in opts.manifests:
            _apply_docs(admin, _load_docs(manifest))
        token = _mint_token(admin, opts)
        scheduler_kubeconfig = work / "scheduler.kubeconfig"
        _write_kubeconfig(
            scheduler_kubeconfig,
            server=api_url,
            ca=pki.ca_cert,
            user="scheduler",
            user_entry={"token": token},
        )
        _wait_token_works(api_port, pki.ca_cert, token, opts.startup_timeout)

        kwok: Process | None = None
        kwok_port: int | None = None
        if opts.kwok:
            kwok, kwok_port = _start_kwok(work, assets, opts, admin_kubeconfig, pki, started)

        return cls(
            work_dir=work,
            assets_dir=assets,
            etcd_url=f"http://127.0.0.1:{etcd_port}",
            etcd_port=etcd_port,
            etcd_peer_port=etcd_peer,
            apiserver_url=api_url,
            apiserver_port=api_port,
            kwok_port=kwok_port,
            ca_file=pki.ca_cert,
            admin_kubeconfig=admin_kubeconfig,
            scheduler_kubeconfig=scheduler_kubeconfig,
            admin_cert_file=pki.admin_cert,
            admin_key_file=pki.admin_key,
            scheduler_token=token,
            options=opts,
            _pki=pki,
            _etcd=etcd,
            _apiserver=apiserver,
            _kwok=kwok,
            _admin=admin,
            _etcd_rest=etcd_rest,
            _apiserver_argv=apiserver.argv,
        )

    def stop(self) -> None:
        """Stop kwok, kube-apiserver and etcd (in that order) and remove the work directory.

        Idempotent, and safe to call again after an interrupted call (a second Ctrl-C in
        teardown): stopping an already dead component is a no-op.
        """
        if self._stopped:
            return
        t0 = time.monotonic()
        with contextlib.suppress(Exception):
            self._admin.close()
        for p in (self._kwok, self._apiserver, self._etcd):
            if p is not None:
                p.stop(timeout=10)
        if not self.options.keep:
            shutil.rmtree(self.work_dir, ignore_errors=True)
        self._stopped = True
        _unregister(self)
        log.info("envtest.stopped", seconds=round(time.monotonic() - t0, 2), kept=self.options.keep)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def check_alive(self) -> None:
        """Raise ControlPlaneError if any component has died (with the tail of its log)."""
        for p in (self._etcd, self._apiserver, self._kwok):
            if p is not None and not p.alive():
                raise ControlPlaneError(
                    f"{p.name} is not running (exit code {p.returncode()}); "
                    f"last lines of {p.log_path}:\n{p.tail()}"
                )

    def log_path(self, component: str) -> Path:
        """The log file of "etcd", "kube-apiserver" or "kwok"."""
        return self.work_dir / "logs" / f"{component}.log"

    # ---------------------------------------------------------------- apiserver restarts

    def stop_apiserver(self) -> None:
        """Stop kube-apiserver (graceful, then SIGKILL); etcd and kwok keep running."""
        self._apiserver.stop(timeout=10)
        self._admin.close()

    def start_apiserver(self, *, extra_flags: Sequence[str] | None = None) -> None:
        """Start kube-apiserver again, same port and flags, and wait for /readyz.

        ``extra_flags`` (raw, e.g. "--max-requests-inflight=2") are appended to the flags it
        was first started with, for this run and later restarts, until given again (``()``
        goes back to the original flags); None keeps whatever the last start used.
        """
        if extra_flags is not None:
            self._apiserver.argv = (*self._apiserver_argv, *extra_flags)
        self._apiserver.start()
        _wait_readyz(self._apiserver, self.apiserver_port, self._pki, self.options.startup_timeout)

    def restart_apiserver(
        self, *, downtime: float = 0.0, extra_flags: Sequence[str] | None = None
    ) -> None:
        """Stop kube-apiserver, wait `downtime` seconds, start it again and wait until ready.

        Watches open against it end (clients see the connection close) and its watch cache is
        rebuilt from etcd, so a watch resumed from a resourceVersion older than the restart may
        be answered 410 Gone; see :meth:`etcd_compact` to make that certain.
        """
        t0 = time.monotonic()
        self.stop_apiserver()
        if downtime > 0:
            time.sleep(downtime)
        self.start_apiserver(extra_flags=extra_flags)
        # kwok v0.8.0 does not reliably recover its informers across an apiserver restart
        # (after a compaction its lease and pod caches stayed stale: it then neither renewed
        # leases nor finished pod deletions). Tests after a restart need a working kwok.
        self.restart_kwok()
        log.info("envtest.apiserver.restarted", seconds=round(time.monotonic() - t0, 2))

    def restart_kwok(self) -> None:
        """Restart kwok (same port and flags) and wait until it serves /healthz again."""
        kwok, port = self._kwok, self.kwok_port
        if kwok is None or port is None:
            return
        kwok.stop(timeout=10)
        kwok.start()
        tls = (ssl.create_default_context(cafile=str(self.ca_file))
               if self.options.kwok_kubelet else None)
        rest = RestClient("127.0.0.1", port, timeout=2, ssl_context=tls)

        def healthy() -> bool:
            rest.request("GET", "/healthz", accept="*/*")
            return True

        _wait(kwok, "serving (/healthz)", self.options.startup_timeout, healthy)

    async def arestart_apiserver(
        self, *, downtime: float = 0.0, extra_flags: Sequence[str] | None = None
    ) -> None:
        """restart_apiserver() in a thread, so the caller's event loop keeps running."""
        await asyncio.to_thread(
            lambda: self.restart_apiserver(downtime=downtime, extra_flags=extra_flags)
        )

    # ---------------------------------------------------------------- audit log

    @property
    def audit_log_path(self) -> Path:
        """Where kube-apiserver writes its audit log (only with ControlPlaneOptions.audit)."""
        return self.work_dir / "logs" / "audit.log"

    def audit_records(self) -> list[AuditRecord]:
        """The completed requests in the audit log so far (see .audit); [] without audit."""
        return read_audit_log(self.audit_log_path)

    # ---------------------------------------------------------------- etcd

    def etcd_revision(self) -> int:
        """etcd's current store revision (what kube-apiserver reports as resourceVersion)."""
        resp = self._etcd_rest.request(
            "POST", "/v3/kv/range", {"key": base64.b64encode(b"\0").decode(), "count_only": True}
        )
        return int(resp["header"]["revision"])

    def etcd_compact(self, revision: int | None = None) -> int:
        """Compact etcd's history up to `revision` (default: the current one); return it.

        Uses etcd's gRPC gateway (``POST /v3/kv/compaction``, physical, so the call returns
        once the history is really gone). After this, etcd refuses reads and watches at older
        revisions ("required revision has been compacted"), which kube-apiserver reports as
        410 Gone, but only for requests it passes to etcd: its watch cache (which also keeps
        snapshots for exact-revision lists) still answers for the revisions it holds. To force
        410 for every older resourceVersion, compact, then :meth:`restart_apiserver`: the new
        watch cache starts at the current revision (tests/integration/test_control_plane.py
        shows the recipe).
        """
        rev = revision if revision is not None else self.etcd_revision()
        self._etcd_rest.request(
            "POST", "/v3/kv/compaction", {"revision": str(rev), "physical": True}
        )
        log.info("envtest.etcd.compacted", revision=rev)
        return rev

    async def aetcd_compact(self, revision: int | None = None) -> int:
        return await asyncio.to_thread(self.etcd_compact, revision)

    # ---------------------------------------------------------------- admin chores

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: Mapping[str, str | int | bool] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        """One request to kube-apiserver as admin; the decoded JSON, or ApiError."""
        return self._admin.request(method, path, body, query=query, content_type=content_type)

    def apply(self, source: Path | str | Sequence[Mapping[str, Any]], *,
              dry_run: bool = False) -> None:
        """Server-side apply, as admin, a manifest file, a YAML string or a list of objects
        (``dry_run``: dryRun=All, validated and admitted but not persisted); ApiError names
        what the apiserver refused."""
        if isinstance(source, Path):
            docs = _load_docs(source)
        elif isinstance(source, str):
            docs = [d for d in yaml.safe_load_all(source) if d]
        else:
            docs = [dict(d) for d in source]
        _apply_docs(self._admin, docs, dry_run=dry_run)

    def install_crds(self, paths: Iterable[Path] | None = None, *, timeout: float = 30.0) -> None:
        """Apply CustomResourceDefinition manifests (default: every file in manifests/crds/)
        and wait until each is Established, so the caller can create its objects at once."""
        files = sorted(CRD_DIR.glob("*.yaml")) if paths is None else list(paths)
        names: list[str] = []
        for path in files:
            docs = _load_docs(path)
            _apply_docs(self._admin, docs)
            names += [d["metadata"]["name"] for d in docs
                      if d.get("kind") == "CustomResourceDefinition"]
        for name in names:
            def established(crd: str = name) -> bool:
                obj = self._admin.request(
                    "GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd}")
                return any(c.get("type") == "Established" and c.get("status") == "True"
                           for c in (obj.get("status") or {}).get("conditions") or [])
            _wait(self._apiserver, f"serving CRD {name}", timeout, established)

    def create_nodes(
        self,
        n: int,
        *,
        cpu: str = "32",
        memory: str = "256Gi",
        pods: int | str = 110,
        labels: LabelsArg = None,
        taints: Sequence[Taint] | None = None,
        extended_resources: Mapping[str, str | int] | None = None,
        name_prefix: str = "kwok-node-",
        start_index: int = 0,
        wait_ready: bool = True,
        timeout: float = 60.0,
        concurrency: int = 16,
    ) -> list[str]:
        """Create `n` kwok nodes named f"{name_prefix}{i}" and (by default) wait until Ready.

        `labels` may be a function of the node's index, e.g. to spread nodes over zones.
        Requests go out `concurrency` at a time; 1,000 nodes take a few seconds.
        """
        if n <= 0:
            return []

        def body(i: int) -> dict[str, Any]:
            node_labels = labels(i) if callable(labels) else labels
            return fake_node(
                f"{name_prefix}{i}",
                cpu=cpu,
                memory=memory,
                pods=pods,
                labels=node_labels,
                taints=taints,
                extended_resources=extended_resources,
            )

        t0 = time.monotonic()
        indexes = range(start_index, start_index + n)
        with concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, min(concurrency, n)), thread_name_prefix="envtest-nodes"
        ) as pool:
            created = list(
                pool.map(lambda i: self._admin.request("POST", "/api/v1/nodes", body(i)), indexes)
            )
        names: list[str] = [c["metadata"]["name"] for c in created]
        log.info("envtest.nodes.created", count=n, seconds=round(time.monotonic() - t0, 2))
        if wait_ready:
            self.wait_nodes_ready(names, timeout=timeout)
        return names

    async def acreate_nodes(self, n: int, **kwargs: Any) -> list[str]:
        """create_nodes() in a thread; same arguments."""
        return await asyncio.to_thread(lambda: self.create_nodes(n, **kwargs))

    def wait_nodes_ready(self, names: Iterable[str], *, timeout: float = 60.0) -> None:
        """Wait until every named node has Ready=True (kwok's node-initialize stage)."""
        pending = set(names)
        deadline = time.monotonic() + timeout
        while pending:
            # resourceVersion=0: served from the watch cache, cheap even for thousands of nodes.
            listed = self._admin.request(
                "GET",
                "/api/v1/nodes",
                query={
                    "labelSelector": f"{KWOK_NODE_LABEL}={KWOK_NODE_LABEL_VALUE}",
                    "resourceVersion": "0",
                },
            )
            for node in listed["items"]:
                if node_is_ready(node):
                    pending.discard(node["metadata"]["name"])
            if not pending:
                return
            if time.monotonic() > deadline:
                self.check_alive()
                raise ControlPlaneError(
                    f"{len(pending)} node(s) not Ready after {timeout}s, "
                    f"e.g. {sorted(pending)[:5]}; last lines of kwok's log:\n"
                    f"{self._kwok.tail() if self._kwok else '<no kwok>'}"
                )
            # Each poll lists every kwok node: back off with the count, not to load the
            # apiserver (and kwok) with lists while they are busy making the nodes Ready.
            time.sleep(min(1.0, 0.05 + len(pending) / 4000))

    def delete_nodes(self, names: Iterable[str] | None = None) -> None:
        """Delete the named nodes, or (None) every kwok node."""
        if names is None:
            self._admin.request(
                "DELETE",
                "/api/v1/nodes",
                query={"labelSelector": f"{KWOK_NODE_LABEL}={KWOK_NODE_LABEL_VALUE}"},
            )
            return
        for name in names:
            _ignore_404(self._admin, "DELETE", f"/api/v1/nodes/{name}")

    def create_namespace(
        self, prefix: str = "test-", *, labels: Mapping[str, str] | None = None
    ) -> str:
        """Create a namespace named `prefix` + a random suffix; return its name."""
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"generateName": prefix, "labels": dict(labels or {})},
        }
        created = self._admin.request("POST", "/api/v1/namespaces", body)
        name: str = created["metadata"]["name"]
        return name

    def delete_namespace(self, name: str) -> None:
        """Delete a namespace and everything in it, now (the namespace controller's work).

        Every namespaced resource that supports deletecollection is emptied with grace period
        0 (pods go at once, whether kwok runs them or not), finalizers left on what was deleted
        are cleared, then the namespace itself is deleted and finalized.
        """
        for path in self._namespaced_collections():
            try:
                resp = self._admin.request(
                    "DELETE", f"{path.format(ns=name)}", query={"gracePeriodSeconds": 0}
                )
            except ApiError as e:
                if e.status in (404, 405):
                    continue
                raise
            for item in (resp or {}).get("items") or ():
                meta = item.get("metadata", {})
                if meta.get("finalizers"):
                    _ignore_404(
                        self._admin,
                        "PATCH",
                        f"{path.format(ns=name)}/{meta['name']}",
                        {"metadata": {"finalizers": None}},
                        content_type="application/merge-patch+json",
                    )
        _ignore_404(self._admin, "DELETE", f"/api/v1/namespaces/{name}")
        # The `kubernetes` finalizer is the namespace controller's; we just did its work.
        _ignore_404(
            self._admin,
            "PUT",
            f"/api/v1/namespaces/{name}/finalize",
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": name},
                "spec": {"finalizers": []},
            },
        )

    def _namespaced_collections(self) -> list[str]:
        """Path templates ("/api/v1/namespaces/{ns}/pods") of deletable namespaced resources."""
        paths: list[str] = []
        for root in ("/api", "/apis"):
            doc = self._discover(root)
            for group in doc.get("items") or ():
                gname = group.get("metadata", {}).get("name", "")
                versions = group.get("versions") or []
                if not versions:
                    continue
                v = versions[0]  # preferred version first
                prefix = (
                    f"/api/{v['version']}" if root == "/api" else f"/apis/{gname}/{v['version']}"
                )
                for res in v.get("resources") or ():
                    if res.get("scope") == "Namespaced" and "deletecollection" in (
                        res.get("verbs") or ()
                    ):
                        paths.append(f"{prefix}/namespaces/{{ns}}/{res['resource']}")
        return paths

    def _discover(self, root: str) -> dict[str, Any]:
        doc: dict[str, Any] = self._admin.request("GET", root, accept=DISCOVERY_V2)
        return doc

    # ---------------------------------------------------------------- clients

    @contextlib.asynccontextmanager
    async def api_client(self, identity: str = "admin") -> AsyncIterator[ApiClient]:
        """A kubernetes-asyncio ApiClient for "admin" or "scheduler", closed on exit.

        Create it inside the event loop that will use it (aiohttp sessions are loop-bound).
        """
        path = {"admin": self.admin_kubeconfig, "scheduler": self.scheduler_kubeconfig}[identity]
        client = await k8s_config.new_client_from_config(config_file=str(path))
        try:
            yield client
        finally:
            await client.close()

    def add_scheduler_identity(self, name: str) -> SchedulerIdentity:
        """A new ServiceAccount ``name`` holding exactly the shipped scheduler's permissions.

        Creates ServiceAccount ``<scheduler namespace>/<name>``, and for every
        ClusterRoleBinding and RoleBinding (in any namespace) whose subjects include the
        scheduler's ServiceAccount (those of manifests/base/rbac.yaml), a copy named
        ``<binding>-<name>`` with the new account as its only subject; mints a token for it and
        writes ``<work dir>/<name>.kubeconfig``. Returns once the token works. Each scheduler
        replica under its own identity is told apart in
        the audit log (``username``). Idempotent per name.
        """
        opts = self.options
        ns = opts.scheduler_namespace
        sa = {"apiVersion": "v1", "kind": "ServiceAccount",
              "metadata": {"name": name, "namespace": ns}}
        _ignore_409(self._admin, "POST", f"/api/v1/namespaces/{ns}/serviceaccounts", sa)
        shipped = {"kind": "ServiceAccount", "name": opts.scheduler_service_account,
                   "namespace": ns}
        rbac = "/apis/rbac.authorization.k8s.io/v1"
        # RoleBindings of every namespace: the shipped RBAC binds a role in kube-system too.
        for collection in (f"{rbac}/clusterrolebindings", f"{rbac}/rolebindings"):
            for b in self._admin.request("GET", collection).get("items") or ():
                subjects = b.get("subjects") or ()
                if not any(all(s.get(k) == v for k, v in shipped.items()) for s in subjects):
                    continue
                meta = b["metadata"]
                target = (f"{rbac}/namespaces/{meta['namespace']}/rolebindings"
                          if meta.get("namespace") else collection)
                copy = {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": b.get("kind") or (
                        "RoleBinding" if "namespace" in meta else "ClusterRoleBinding"),
                    "metadata": {"name": f"{meta['name']}-{name}",
                                 **({"namespace": meta["namespace"]}
                                    if meta.get("namespace") else {})},
                    "roleRef": b["roleRef"],
                    "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}],
                }
                _ignore_409(self._admin, "POST", target, copy)
        token = _mint_token(self._admin, opts, service_account=name)
        kubeconfig = self.work_dir / f"{name}.kubeconfig"
        _write_kubeconfig(
            kubeconfig, server=self.apiserver_url, ca=self.ca_file, user=name,
            user_entry={"token": token},
        )
        _wait_token_works(self.apiserver_port, self.ca_file, token, opts.startup_timeout)
        return SchedulerIdentity(
            name=name, username=f"system:serviceaccount:{ns}:{name}", kubeconfig=kubeconfig,
            token=token,
        )

    def scheduler_rest(self) -> RestClient:
        """A synchronous client with the scheduler's token (for quick RBAC checks in scripts)."""
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        return RestClient(
            "127.0.0.1", self.apiserver_port, ssl_context=ctx, token=self.scheduler_token
        )

    def env(self) -> dict[str, str]:
        """Environment variables describing this control plane (for subprocesses, local-up)."""
        return {
            "KUBECONFIG": str(self.admin_kubeconfig),
            "PYSCHEDULER_ENVTEST_ADMIN_KUBECONFIG": str(self.admin_kubeconfig),
            "PYSCHEDULER_ENVTEST_SCHEDULER_KUBECONFIG": str(self.scheduler_kubeconfig),
            "PYSCHEDULER_ENVTEST_APISERVER": self.apiserver_url,
            "PYSCHEDULER_ENVTEST_ETCD": self.etcd_url,
            "KUBEBUILDER_ASSETS": str(self.assets_dir),
        }


def start_control_plane(options: ControlPlaneOptions | None = None) -> ControlPlane:
    """Shorthand for ControlPlane.start()."""
    return ControlPlane.start(options)


# -------------------------------------------------------------------- component start-up


def _ignore_404(
    rest: RestClient,
    method: str,
    path: str,
    body: Any = None,
    *,
    content_type: str = "application/json",
) -> None:
    """A request whose target may already be gone (deleting twice is fine)."""
    try:
        rest.request(method, path, body, content_type=content_type)
    except ApiError as e:
        if e.status != 404:
            raise


def _ignore_409(rest: RestClient, method: str, path: str, body: Any) -> None:
    """A create whose object may already exist (creating twice is fine)."""
    try:
        rest.request(method, path, body)
    except ApiError as e:
        if e.status != 409:
            raise


def _wait(
    proc: Process, what: str, timeout: float, probe: Callable[[], bool], interval: float = 0.1
) -> None:
    """Poll `probe` until True; fail fast if `proc` dies, with its log's tail either way."""
    deadline = time.monotonic() + timeout
    last_error = ""
    while True:
        if not proc.alive():
            raise ControlPlaneError(
                f"{proc.name} exited with code {proc.returncode()} before {what}; "
                f"last lines of {proc.log_path}:\n{proc.tail()}"
            )
        try:
            if probe():
                return
        except (OSError, http.client.HTTPException, ApiError, ValueError) as e:
            last_error = f"{type(e).__name__}: {e}"
        if time.monotonic() > deadline:
            raise ControlPlaneError(
                f"{proc.name} not {what} after {timeout}s "
                f"(last probe error: {last_error or 'none'}); "
                f"last lines of {proc.log_path}:\n{proc.tail()}"
            )
        time.sleep(interval)


def _start_with_retry(
    started: list[Process], launch: Callable[[], tuple[Process, Callable[[], None]]]
) -> Process:
    """Launch a component and wait for it; on a lost port race, try again on new ports."""
    for attempt in range(3):
        proc, wait_ready = launch()
        started.append(proc)
        try:
            wait_ready()
            return proc
        except ControlPlaneError:
            proc.stop(timeout=5)
            started.remove(proc)
            if attempt < 2 and "address already in use" in proc.tail(200):
                log.warning("envtest.port_race", component=proc.name, attempt=attempt)
                continue
            raise
    raise AssertionError("unreachable")


def _start_etcd(
    work: Path, assets: Path, opts: ControlPlaneOptions, started: list[Process]
) -> tuple[Process, int, int]:
    ports: dict[str, int] = {}

    def launch() -> tuple[Process, Callable[[], None]]:
        client, peer = _free_port(), _free_port()
        ports.update(client=client, peer=peer)
        data = work / "etcd"
        shutil.rmtree(data, ignore_errors=True)
        args = {
            "name": "envtest",
            "data-dir": str(data),
            "listen-client-urls": f"http://127.0.0.1:{client}",
            "advertise-client-urls": f"http://127.0.0.1:{client}",
            # Explicit peer URLs: the default (:2380) would collide between control planes.
            "listen-peer-urls": f"http://127.0.0.1:{peer}",
            "initial-advertise-peer-urls": f"http://127.0.0.1:{peer}",
            "initial-cluster": f"envtest=http://127.0.0.1:{peer}",
            "initial-cluster-state": "new",
            # Throwaway data: no fsync makes every write several times faster.
            "unsafe-no-fsync": "true",
            "log-level": "warn",
            **opts.etcd_args,
        }
        proc = spawn("etcd", [str(assets / "etcd"), *_flags(args)], work / "logs" / "etcd.log")
        rest = RestClient("127.0.0.1", client, timeout=2)

        def healthy() -> bool:
            return bool(rest.request("GET", "/health").get("health") == "true")

        return proc, lambda: _wait(proc, "healthy", opts.startup_timeout, healthy)

    proc = _start_with_retry(started, launch)
    return proc, ports["client"], ports["peer"]


def _wait_readyz(proc: Process, port: int, pki: Pki, timeout: float) -> None:
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    ctx.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))

    def ready() -> bool:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=ctx)
        try:
            conn.request("GET", "/readyz")
            resp = conn.getresponse()
            resp.read()
            return resp.status == 200
        finally:
            conn.close()

    _wait(proc, "ready (/readyz)", timeout, ready, interval=0.2)


def _start_apiserver(
    work: Path,
    assets: Path,
    opts: ControlPlaneOptions,
    pki: Pki,
    etcd_port: int,
    started: list[Process],
) -> tuple[Process, int]:
    ports: dict[str, int] = {}

    def launch() -> tuple[Process, Callable[[], None]]:
        port = _free_port()
        ports["api"] = port
        args = {
            "etcd-servers": f"http://127.0.0.1:{etcd_port}",
            "bind-address": "127.0.0.1",
            "advertise-address": "127.0.0.1",
            "secure-port": str(port),
            "cert-dir": str(work / "pki"),
            "tls-cert-file": str(pki.serving_cert),
            "tls-private-key-file": str(pki.serving_key),
            "client-ca-file": str(pki.ca_cert),
            "service-account-key-file": str(pki.sa_pub),
            "service-account-signing-key-file": str(pki.sa_key),
            "service-account-issuer": SA_ISSUER,
            "service-cluster-ip-range": SERVICE_CLUSTER_IP_RANGE,
            "authorization-mode": "RBAC",
            "anonymous-auth": "false",
            # See the module doc: no controller-manager runs to support these two.
            "disable-admission-plugins": "ServiceAccount,TaintNodesByCondition",
            "allow-privileged": "true",
            # The endpoint reconciler refuses a loopback advertise address; nothing in this
            # "cluster" reaches the API through the `kubernetes` Service anyway.
            "endpoint-reconciler-type": "none",
            # Without it a graceful stop waits for open watches (kwok's, the tests') until its
            # 60 s timeout; with it, watches are ended at once, as a real rollout would.
            "shutdown-watch-termination-grace-period": "2s",
            "v": str(opts.verbosity),
        }
        if opts.audit:
            policy = work / "audit-policy.yaml"
            policy.write_text(
                (opts.audit_policy or DEFAULT_AUDIT_POLICY).replace(
                    "{scheduler_namespace}", opts.scheduler_namespace
                )
            )
            args.update({
                "audit-policy-file": str(policy),
                "audit-log-path": str(work / "logs" / "audit.log"),
                "audit-log-format": "json",
                # Each event is written before the request returns: nothing is lost on stop.
                "audit-log-mode": "blocking",
                "audit-log-maxsize": "0",
                "audit-log-maxbackup": "0",
            })
        if opts.aggregator:
            args.update({
                "requestheader-client-ca-file": str(pki.front_proxy_ca_cert),
                "requestheader-allowed-names": FRONT_PROXY_CLIENT_CN,
                "requestheader-username-headers": "X-Remote-User",
                "requestheader-group-headers": "X-Remote-Group",
                "requestheader-extra-headers-prefix": "X-Remote-Extra-",
                "proxy-client-cert-file": str(pki.front_proxy_client_cert),
                "proxy-client-key-file": str(pki.front_proxy_client_key),
            })
        args.update(opts.apiserver_args)
        proc = spawn(
            "kube-apiserver",
            [str(assets / "kube-apiserver"), *_flags(args), *opts.apiserver_extra_flags],
            work / "logs" / "kube-apiserver.log",
        )
        return proc, lambda: _wait_readyz(proc, port, pki, opts.startup_timeout)

    proc = _start_with_retry(started, launch)
    return proc, ports["api"]


def _start_kwok(
    work: Path,
    assets: Path,
    opts: ControlPlaneOptions,
    admin_kubeconfig: Path,
    pki: Pki,
    started: list[Process],
) -> tuple[Process, int]:
    config = work / "kwok.yaml"
    extra = ("\n---\n" + opts.kwok_extra_config) if opts.kwok_extra_config else ""
    config.write_text(KWOK_CONFIGURATION + "---" + DEFAULT_STAGES_YAML + extra)
    kwok_home = work / "kwok"
    kwok_home.mkdir(exist_ok=True)
    ports: dict[str, int] = {}

    def launch() -> tuple[Process, Callable[[], None]]:
        port = _free_port()
        ports["kwok"] = port
        args = {
            "kubeconfig": str(admin_kubeconfig),
            "config": str(config),
            "manage-nodes-with-annotation-selector": KWOK_NODE_SELECTOR,
            # Selects the heartbeat-with-lease stage's behaviour: kwok renews node Leases.
            "node-lease-duration-seconds": "40",
            "cidr": POD_CIDR,
            "node-ip": "10.1.0.1",
            # Only for /healthz: kwok serves it once its controllers have started.
            "server-address": f"127.0.0.1:{port}",
            # INFO logs a line per node lease renewal: hundreds a second with 5,000 nodes.
            "v": "WARN",
            **opts.kwok_args,
        }
        tls: ssl.SSLContext | None = None
        if opts.kwok_kubelet:
            # Every node's kubelet endpoint is kwok's server: InternalIP 127.0.0.1, its port.
            args.update({"node-ip": "127.0.0.1", "node-port": str(port),
                         "tls-cert-file": str(pki.serving_cert),
                         "tls-private-key-file": str(pki.serving_key)})
            tls = ssl.create_default_context(cafile=str(pki.ca_cert))
        # KWOK_WORKDIR: never pick up a developer's ~/.kwok/kwok.yaml.
        env = {**os.environ, "KWOK_WORKDIR": str(kwok_home)}
        proc = spawn("kwok", [str(assets / "kwok"), *_flags(args)], work / "logs" / "kwok.log", env)
        rest = RestClient("127.0.0.1", port, timeout=2, ssl_context=tls)

        def healthy() -> bool:
            rest.request("GET", "/healthz", accept="*/*")
            return True

        return proc, lambda: _wait(proc, "serving (/healthz)", opts.startup_timeout, healthy)

    proc = _start_with_retry(started, launch)
    return proc, ports["kwok"]


# -------------------------------------------------------------------- manifests and identities


# kwok plays each stage with 4 workers by default: ~110 nodes/s made Ready on this class of
# machine. 16 roughly doubles that for the benchmarks' thousands of nodes and pods.
KWOK_CONFIGURATION = """
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  nodePlayStageParallelism: 16
  podPlayStageParallelism: 16
  nodeLeaseParallelism: 16
"""


def _resolve(
    admin: RestClient, api_version: str, kind: str, cache: dict[str, Any]
) -> tuple[str, bool]:
    """(collection path prefix, namespaced) for apiVersion+kind, from aggregated discovery."""
    group, _, version = api_version.rpartition("/")
    root = "/apis" if group else "/api"
    if root not in cache:
        cache[root] = admin.request("GET", root, accept=DISCOVERY_V2)
    for g in cache[root].get("items") or ():
        if g.get("metadata", {}).get("name", "") != group:
            continue
        for v in g.get("versions") or ():
            if v.get("version") != version:
                continue
            for res in v.get("resources") or ():
                if (res.get("responseKind") or {}).get("kind") == kind:
                    base = f"/api/{version}" if not group else f"/apis/{group}/{version}"
                    return f"{base}/{res['resource']}", res.get("scope") == "Namespaced"
    raise ControlPlaneError(f"the API server does not serve {kind} in {api_version}")


def _apply_docs(admin: RestClient, docs: Sequence[Mapping[str, Any]], *,
                dry_run: bool = False) -> None:
    """Server-side apply each object (create or update), forcing our field ownership; with
    ``dry_run``, the apiserver runs admission and validation and persists nothing."""
    cache: dict[str, Any] = {}
    for doc in docs:
        meta = doc.get("metadata") or {}
        collection, namespaced = _resolve(admin, doc["apiVersion"], doc["kind"], cache)
        if namespaced:
            ns = meta.get("namespace") or "default"
            head, _, plural = collection.rpartition("/")
            path = f"{head}/namespaces/{ns}/{plural}/{meta['name']}"
        else:
            path = f"{collection}/{meta['name']}"
        admin.request(
            "PATCH",
            path,
            json.dumps(doc).encode(),
            query={"fieldManager": FIELD_MANAGER, "force": True,
                   **({"dryRun": "All"} if dry_run else {})},
            content_type="application/apply-patch+yaml",
        )


def _mint_token(
    admin: RestClient, opts: ControlPlaneOptions, *, service_account: str | None = None
) -> str:
    """A TokenRequest for the scheduler's ServiceAccount (what a projected volume would get)."""
    ns, sa = opts.scheduler_namespace, service_account or opts.scheduler_service_account
    resp = admin.request(
        "POST",
        f"/api/v1/namespaces/{ns}/serviceaccounts/{sa}/token",
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": opts.token_expiration_seconds},
        },
    )
    token: str = resp["status"]["token"]
    return token


def _wait_token_works(port: int, ca: Path, token: str, timeout: float) -> None:
    """Wait until the token authenticates and its RBAC is visible to the authorizer.

    RBAC is read through informers, so a binding just created can take a moment to apply.
    """
    ctx = ssl.create_default_context(cafile=str(ca))
    rest = RestClient("127.0.0.1", port, ssl_context=ctx, token=token, timeout=5)
    deadline = time.monotonic() + timeout
    while True:
        try:
            rest.request("GET", "/api/v1/nodes", query={"limit": 1})
            return
        except ApiError as e:
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"the scheduler's token does not work: {e}") from e
        time.sleep(0.05)


# -------------------------------------------------------------------- atexit guard

_planes: set[ControlPlane] = set()
_planes_lock = threading.Lock()


def _register(plane: ControlPlane) -> None:
    with _planes_lock:
        _planes.add(plane)


def _unregister(plane: ControlPlane) -> None:
    with _planes_lock:
        _planes.discard(plane)


@atexit.register
def _stop_all() -> None:
    # Registered after _process's SIGKILL guard, so it runs first (atexit is LIFO): a graceful
    # stop and the work directory removed, then the guard kills anything still left.
    with _planes_lock:
        planes = list(_planes)
    for plane in planes:
        with contextlib.suppress(Exception):
            plane.stop()


__all__ = [
    "ControlPlane",
    "ControlPlaneError",
    "ControlPlaneOptions",
    "SchedulerIdentity",
    "start_control_plane",
]
