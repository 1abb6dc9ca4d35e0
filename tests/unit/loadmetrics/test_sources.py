"""Decoding what metrics-server and Prometheus answer (bodies in their documented shapes)."""

from __future__ import annotations

import json

import pytest

from pyscheduler.config._decode import parse_duration
from pyscheduler.loadmetrics.nodemetrics import decode_node_metrics, node_metrics_object, sample_of
from pyscheduler.loadmetrics.sources import SourceError, decode_prometheus_vector
from pyscheduler.loadmetrics.types import NodeSample
from pyscheduler.model.meta import rfc3339_seconds


def test_node_metrics_list_decodes_usage_in_absolute_units() -> None:
    body = json.dumps({
        "kind": "NodeMetricsList", "apiVersion": "metrics.k8s.io/v1beta1",
        "items": [
            {"metadata": {"name": "n1"}, "timestamp": "2026-12-04T01:00:00Z",
             "window": "20.5s", "usage": {"cpu": "1500000000n", "memory": "2Gi"}},
            {"metadata": {"name": "n2"}, "timestamp": "2026-12-04T01:00:01.123456789Z",
             "window": "1m0s", "usage": {"cpu": "250m"}},
            {"metadata": {"name": "bad"}, "timestamp": "yesterday", "usage": {"cpu": "1"}},
        ],
    }).encode()
    out = decode_node_metrics(body)
    assert set(out) == {"n1", "n2"}  # the unparsable item is skipped, not fatal
    assert out["n1"].cpu_milli == 1500.0
    assert out["n1"].memory_bytes == 2 * 1024**3
    assert out["n1"].window == 20.5
    assert out["n1"].timestamp == rfc3339_seconds("2026-12-04T01:00:00+00:00")
    assert out["n2"].memory_bytes is None
    assert out["n2"].window == 60.0
    assert out["n2"].timestamp - out["n1"].timestamp == pytest.approx(1.123456, abs=1e-6)


def test_node_metrics_garbage_is_a_source_error() -> None:
    with pytest.raises(SourceError):
        decode_node_metrics(b"<html>")


@pytest.mark.parametrize(("text", "seconds"), [
    ("10s", 10.0), ("1m0.5s", 60.5), ("250ms", 0.25), ("1h2m", 3720.0), ("0", 0.0)])
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


def test_bad_go_duration() -> None:
    with pytest.raises(ValueError):
        parse_duration("10 s")


def test_prometheus_vector() -> None:
    body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"node": "n1"}, "value": [1700000000.5, "0.75"]},
        {"metric": {"instance": "x"}, "value": [1700000000.5, "1"]},
        {"metric": {"node": "n2"}, "value": [1700000000.5, "NaN"]},
    ]}}).encode()
    assert decode_prometheus_vector(body, "node") == {"n1": (0.75, 1700000000.5)}


@pytest.mark.parametrize("body", [
    {"status": "error", "errorType": "bad_data", "error": "parse error"},
    {"status": "success", "data": {"resultType": "matrix", "result": []}},
])
def test_prometheus_errors(body: dict[str, object]) -> None:
    with pytest.raises(SourceError):
        decode_prometheus_vector(json.dumps(body).encode(), "node")


async def test_prometheus_samples_carry_the_answers_own_timestamps() -> None:
    """The sample time is the value pair's [unix_time, ...], never the time of the poll:
    an instant query evaluates at its own time, and a lagging Prometheus must age out."""
    from aiohttp import web

    from pyscheduler.loadmetrics.sources import PrometheusSource
    from pyscheduler.loadmetrics.types import PROMETHEUS, LoadSourceSpec

    answers = {"cpu_q": [{"metric": {"node": "n1"}, "value": [1700000000.5, "0.25"]},
                         {"metric": {"node": "n2"}, "value": [1700000007.0, "1"]}],
               "mem_q": [{"metric": {"node": "n1"}, "value": [1700000003.0, "1048576"]}]}

    async def query(request: web.Request) -> web.Response:
        return web.json_response({"status": "success", "data": {
            "resultType": "vector", "result": answers[request.query["query"]]}})

    app = web.Application()
    app.router.add_get("/api/v1/query", query)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    src = PrometheusSource(LoadSourceSpec(provider=PROMETHEUS, address=f"http://127.0.0.1:{port}",
                                          cpu_query="cpu_q", memory_query="mem_q"))
    try:
        out = await src.fetch()
    finally:
        await src.close()
        await runner.cleanup()
    # A node's sample is as old as its older resource.
    assert out["n1"].timestamp == 1700000000.5
    assert out["n1"].cpu_milli == 250.0 and out["n1"].memory_bytes == 1048576.0
    assert out["n2"].timestamp == 1700000007.0 and out["n2"].memory_bytes is None


def test_a_node_metrics_object_reads_back_to_its_sample() -> None:
    sample = NodeSample(cpu_milli=1234.567891, memory_bytes=2.5 * 2**30,
                        timestamp=1796346000.123456, window=20.5)
    doc = node_metrics_object("n1", sample)
    assert doc["usage"] == {"cpu": "1234567891n", "memory": "2684354560"}
    assert doc["timestamp"] == "2026-12-04T01:00:00.123456Z" and doc["window"] == "20.5s"
    back = sample_of(doc)
    assert back.cpu_milli == pytest.approx(sample.cpu_milli, abs=1e-6)
    assert back.memory_bytes == sample.memory_bytes and back.window == 20.5
    assert back.timestamp == pytest.approx(sample.timestamp, abs=1e-6)


@pytest.mark.parametrize(("doc", "field"), [
    ({"timestamp": "noon", "usage": {}}, "timestamp"),
    ({"timestamp": "2026-12-04T01:00:00Z", "window": "long", "usage": {}}, "window"),
    ({"timestamp": "2026-12-04T01:00:00Z", "usage": {"cpu": "lots"}}, "usage.cpu"),
])
def test_a_bad_node_metrics_object_names_the_field(doc: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}: "):
        sample_of(doc)
