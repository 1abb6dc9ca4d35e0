"""Raw HTTP requests through a kubernetes-asyncio ApiClient, without its model layer.

Contract:
- Requests go through ``ApiClient.call_api(..., _preload_content=False)`` so the client's
  configuration (host, TLS, bearer token refresh, proxy, user agent) applies, but the response is
  the raw aiohttp response: no kubernetes-asyncio model object is ever built (DESIGN.md decision 1).
- :func:`request_bytes` returns the whole body of a 2xx answer; :func:`stream_lines` yields the
  body of a 2xx answer line by line (for watch streams) and closes the connection when the
  consumer stops iterating, including on cancellation.
- Every request is counted at this one seam in client-go's ``rest_client_requests_total`` and
  ``rest_client_request_duration_seconds`` (``code`` is "<error>" when no answer came).
- Any non-2xx answer raises the :mod:`pyscheduler.api.errors` class for it, with the server's
  Status and Retry-After; transport failures raise :class:`ApiConnectionError`.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import AsyncGenerator, AsyncIterable, Mapping, Sequence
from contextlib import aclosing
from typing import Any

import aiohttp
from kubernetes_asyncio.client import ApiClient

from pyscheduler.api.errors import ApiConnectionError, error_from_response
from pyscheduler.metrics import REST_CLIENT_REQUEST_DURATION, REST_CLIENT_REQUESTS

# The API server's own JSON; we never ask for protobuf or CBOR (msgspec decodes JSON).
_JSON = "application/json"
_AUTH_SETTINGS = ["BearerToken"]
# Only tokens that are too long for one line are suspicious: etcd caps objects at 1.5 MiB, a
# watch line carries one object plus a small envelope.
MAX_LINE_BYTES = 16 * 1024 * 1024

QueryParams = Sequence[tuple[str, str]]


def _timeout(total: float | None, read: float | None) -> aiohttp.ClientTimeout:
    # connect is bounded so a dead host fails fast; sock_read catches a silent peer.
    return aiohttp.ClientTimeout(total=total, connect=30.0, sock_connect=30.0, sock_read=read)


async def _open(
    api_client: ApiClient,
    method: str,
    path: str,
    query: QueryParams,
    body: Any,
    headers: Mapping[str, str] | None,
    client_timeout: aiohttp.ClientTimeout,
) -> aiohttp.ClientResponse:
    header_params = {"Accept": _JSON, "Content-Type": _JSON}
    if headers:
        header_params.update(headers)
    host = _host(api_client)
    start = time.perf_counter()
    try:
        response: aiohttp.ClientResponse = await api_client.call_api(
            path,
            method,
            query_params=list(query),
            header_params=header_params,
            body=body,
            auth_settings=_AUTH_SETTINGS,
            _preload_content=False,
            _request_timeout=client_timeout,
        )
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        _observe(method, host, "<error>", start)
        raise ApiConnectionError(f"{method} {path}: {exc!r}") from exc
    _observe(method, host, str(response.status), start)
    if not 200 <= response.status <= 299:
        try:
            payload = await response.read()
        except (aiohttp.ClientError, OSError, TimeoutError):
            payload = b""
        finally:
            response.release()
        raise error_from_response(response.status, payload, response.headers.get("Retry-After"))
    return response


def _host(api_client: ApiClient) -> str:
    """The host[:port] requests go to: client-go's ``host`` label."""
    url = api_client.configuration.host or ""
    return urllib.parse.urlsplit(url).netloc or url


_children: dict[tuple[str, str, str], tuple[Any, Any]] = {}


def _observe(method: str, host: str, code: str, start: float) -> None:
    """client-go's rest_client_requests_total{code,method,host} and
    rest_client_request_duration_seconds{verb,host}, until the response headers (a watch's
    duration is the time to open the stream, as client-go's)."""
    key = (code, method, host)
    pair = _children.get(key)
    if pair is None:
        pair = (REST_CLIENT_REQUESTS.labels(code, method, host),
                REST_CLIENT_REQUEST_DURATION.labels(method, host))
        _children[key] = pair
    pair[0].inc()
    pair[1].observe(time.perf_counter() - start)


async def request_bytes(
    api_client: ApiClient,
    method: str,
    path: str,
    *,
    query: QueryParams = (),
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    request_timeout: float | None = 60.0,
    read_timeout: float | None = None,
) -> bytes:
    """Make one request and return the body of its 2xx answer.

    ``body`` is anything ``json.dumps`` accepts: kubernetes-asyncio serializes it for JSON
    content types (pass ``headers={"Content-Type": ...}`` for patch types).
    ``request_timeout`` bounds the whole exchange; ``read_timeout`` bounds each wait for data
    (use it instead for large bodies, such as a full LIST, whose total time grows with size).
    """
    response = await _open(
        api_client, method, path, query, body, headers, _timeout(request_timeout, read_timeout)
    )
    try:
        return await response.read()
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise ApiConnectionError(f"{method} {path}: reading body: {exc!r}") from exc
    finally:
        response.release()


async def stream_lines(
    api_client: ApiClient,
    path: str,
    *,
    query: QueryParams = (),
    total_timeout: float | None = None,
    read_timeout: float | None = None,
) -> AsyncGenerator[bytes, None]:
    """GET ``path`` and yield each non-empty line of the streamed body (watch framing).

    We split the chunks ourselves instead of ``StreamReader.readline``: aiohttp's line reader
    refuses lines above its buffer's high-water mark, and one watch event is one (possibly large)
    line.
    """
    response = await _open(
        api_client, "GET", path, query, None, None, _timeout(total_timeout, read_timeout)
    )
    try:
        async with aclosing(iter_lines(response.content.iter_any())) as lines:
            async for line in lines:
                yield line
    except ValueError as exc:
        raise ApiConnectionError(f"GET {path}: {exc}") from exc
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise ApiConnectionError(f"GET {path}: stream broken: {exc!r}") from exc
    finally:
        # close(), not release(): a half-read watch body must not go back to the pool.
        response.close()


async def iter_lines(
    chunks: AsyncIterable[bytes], max_line: int = MAX_LINE_BYTES
) -> AsyncGenerator[bytes, None]:
    """Re-frame arbitrary chunks into newline-terminated lines; blank lines are skipped.

    A final line without a newline is yielded too. A line longer than ``max_line`` raises
    ValueError (a corrupt or hostile stream must not grow our memory without bound).
    """
    buffer = bytearray()
    async for chunk in chunks:
        buffer += chunk
        start = 0
        while (end := buffer.find(b"\n", start)) != -1:
            if end > start and not buffer[start:end].isspace():
                yield bytes(buffer[start:end])
            start = end + 1
        del buffer[:start]
        if len(buffer) > max_line:
            raise ValueError(f"line exceeds {max_line} bytes")
    if buffer.strip():
        yield bytes(buffer)


__all__ = ["QueryParams", "iter_lines", "request_bytes", "stream_lines"]
