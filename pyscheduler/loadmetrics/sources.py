"""The two sources of node load: metrics.k8s.io NodeMetrics and a Prometheus instant query.

Contract:
* A source is an object with ``async fetch() -> dict[str, NodeSample]`` (node name -> sample)
  and ``async close()``. ``fetch`` raises ``SourceError`` when the whole answer is unusable
  (transport failure, non-2xx, undecodable body); one bad item is skipped with a log line,
  never fatal.
* ``NodeMetricsSource`` GETs ``/apis/metrics.k8s.io/v1beta1/nodes`` through the scheduler's
  own API client (so the aggregator, TLS and credentials are the scheduler's), decoding only
  name, timestamp, window and usage.
* ``PrometheusSource`` GETs ``<address>/api/v1/query`` once per resource with that resource's
  query, which must answer an instant vector of absolute usage (cores, bytes) with the node
  name in label ``node_label``; the sample's time is the value's timestamp.
"""

from __future__ import annotations

import aiohttp
import msgspec
import structlog
from kubernetes_asyncio.client import ApiClient

from pyscheduler.api.errors import ApiError
from pyscheduler.api.raw import request_bytes
from pyscheduler.loadmetrics.nodemetrics import decode_node_metrics
from pyscheduler.loadmetrics.types import LoadSourceSpec, MetricsSource, NodeSample, SourceError

log = structlog.get_logger(__name__)

NODE_METRICS_PATH = "/apis/metrics.k8s.io/v1beta1/nodes"
PROMETHEUS_QUERY_PATH = "/api/v1/query"


# ---- metrics.k8s.io ----------------------------------------------------------------------

class NodeMetricsSource:
    """metrics-server's NodeMetrics through the API server's aggregator."""

    def __init__(self, client: ApiClient, timeout: float = 10.0) -> None:
        """A source reading through ``client`` (the scheduler's API client)."""
        self._client = client
        self._timeout = timeout

    async def fetch(self) -> dict[str, NodeSample]:
        """GET the NodeMetrics list; SourceError on any API or transport failure."""
        try:
            body = await request_bytes(self._client, "GET", NODE_METRICS_PATH,
                                       request_timeout=self._timeout)
        except ApiError as err:
            raise SourceError(f"GET {NODE_METRICS_PATH}: {err}") from err
        return decode_node_metrics(body)

    async def close(self) -> None:
        """Nothing to release: the API client is the scheduler's."""


# ---- Prometheus --------------------------------------------------------------------------

class _PromSample(msgspec.Struct):
    metric: dict[str, str] = {}
    value: tuple[float, str] = (0.0, "")


class _PromData(msgspec.Struct):
    resultType: str = ""  # the API's field name
    result: list[_PromSample] = []


class _PromAnswer(msgspec.Struct):
    status: str = ""
    data: _PromData = msgspec.field(default_factory=_PromData)
    error: str = ""


_PROM_DECODER = msgspec.json.Decoder(_PromAnswer)


def decode_prometheus_vector(body: bytes, node_label: str) -> dict[str, tuple[float, float]]:
    """An instant-query answer as node -> (value, timestamp); SourceError if it is not a
    successful vector. Samples without the node label or with a non-finite value are left
    out (NaN would poison every score using it)."""
    try:
        answer = _PROM_DECODER.decode(body)
    except msgspec.DecodeError as err:
        raise SourceError(f"undecodable Prometheus answer: {err}") from err
    if answer.status != "success":
        raise SourceError(f"Prometheus query failed: {answer.error or answer.status}")
    if answer.data.resultType != "vector":
        raise SourceError(f"Prometheus query answered a {answer.data.resultType!r}, "
                          f"not an instant vector")
    out: dict[str, tuple[float, float]] = {}
    for s in answer.data.result:
        node = s.metric.get(node_label)
        if not node:
            continue
        try:
            v = float(s.value[1])
        except ValueError:
            continue
        if v != v or v in (float("inf"), float("-inf")):
            continue
        out[node] = (v, float(s.value[0]))
    return out


class PrometheusSource:
    """One instant query per resource against the Prometheus HTTP API."""

    def __init__(self, spec: LoadSourceSpec, timeout: float = 10.0) -> None:
        """A source for ``spec``'s address, token, TLS choice and queries."""
        self._spec = spec
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            headers = {"Authorization": f"Bearer {self._spec.token}"} if self._spec.token else {}
            connector = aiohttp.TCPConnector(ssl=not self._spec.insecure_skip_verify)
            self._session = aiohttp.ClientSession(headers=headers, connector=connector,
                                                  timeout=self._timeout)
        return self._session

    async def _query(self, query: str) -> dict[str, tuple[float, float]]:
        url = self._spec.address.rstrip("/") + PROMETHEUS_QUERY_PATH
        try:
            async with self._open().get(url, params={"query": query}) as resp:
                body = await resp.read()
                if resp.status // 100 != 2 and resp.status not in (400, 422):
                    raise SourceError(f"GET {url}: HTTP {resp.status}")
        except (aiohttp.ClientError, OSError, TimeoutError) as err:
            raise SourceError(f"GET {url}: {err!r}") from err
        # 400/422 carry Prometheus's own error body ("bad_data"), which says more.
        return decode_prometheus_vector(body, self._spec.node_label)

    async def fetch(self) -> dict[str, NodeSample]:
        """Both queries; a node gets the resources its labels appear with."""
        cpu = await self._query(self._spec.cpu_query)
        mem = await self._query(self._spec.memory_query)
        out: dict[str, NodeSample] = {}
        for node in cpu.keys() | mem.keys():
            c, m = cpu.get(node), mem.get(node)
            ts = min(t for _, t in (x for x in (c, m) if x is not None))
            out[node] = NodeSample(
                cpu_milli=c[0] * 1000.0 if c is not None else None,
                memory_bytes=m[0] if m is not None else None,
                timestamp=ts,
            )
        return out

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def new_source(spec: LoadSourceSpec, client: ApiClient | None) -> MetricsSource | None:
    """The source ``spec`` names; None for metrics.k8s.io without an API client (offline)."""
    if spec.provider == "Prometheus":
        return PrometheusSource(spec)
    if client is None:
        return None
    return NodeMetricsSource(client)


