"""The raw API layer's pure parts: error mapping, line framing, decoding, paths, client config.

HTTP itself is exercised against a real kube-apiserver in tests/integration.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from pyscheduler.api.client import USER_AGENT, new_api_client
from pyscheduler.api.errors import (
    ApiConnectionError,
    ApiError,
    ConflictError,
    ForbiddenError,
    GoneError,
    NotFoundError,
    ServerError,
    Status,
    TooManyRequestsError,
    error_from_response,
    error_from_status,
    is_gone,
    is_retriable,
    parse_retry_after,
)
from pyscheduler.api.listwatch import WatchDecoder
from pyscheduler.api.raw import iter_lines
from pyscheduler.api.resources import NODES, PODS, Resource
from pyscheduler.api.types import EventType, ObjectList

from ._informer_fakes import Obj


@pytest.mark.parametrize(
    ("status", "reason", "cls", "retriable"),
    [
        (404, "NotFound", NotFoundError, False),
        (409, "Conflict", ConflictError, False),
        (403, "Forbidden", ForbiddenError, False),
        (410, "Expired", GoneError, False),
        (410, "Gone", GoneError, False),
        (429, "TooManyRequests", TooManyRequestsError, True),
        (500, "InternalError", ServerError, True),
        (503, "ServiceUnavailable", ServerError, True),
        (504, "Timeout", ServerError, True),
        (422, "Invalid", ApiError, False),
    ],
)
def test_error_classification(status: int, reason: str, cls: type, retriable: bool) -> None:
    body = msgspec.json.encode(
        {"kind": "Status", "status": "Failure", "reason": reason, "code": status, "message": "m"}
    )
    error = error_from_response(status, body, None)
    assert type(error) is cls
    assert (error.status, error.reason, error.message) == (status, reason, "m")
    assert is_retriable(error) is retriable
    assert is_gone(error) is (cls is GoneError)


def test_expired_reason_wins_even_without_410_code() -> None:
    # A continue token that expired is reported with reason Expired.
    assert isinstance(error_from_status(Status(reason="Expired")), GoneError)


def test_retry_after_from_header_and_status_details() -> None:
    error = error_from_response(429, b'{"code":429,"reason":"TooManyRequests"}', "3")
    assert error.retry_after == 3.0
    body = b'{"code":429,"reason":"TooManyRequests","details":{"retryAfterSeconds":2}}'
    assert error_from_response(429, body, None).retry_after == 2.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("garbage") is None
    assert parse_retry_after(None) is None


def test_non_status_body_is_kept_as_message() -> None:
    error = error_from_response(502, b"<html>bad gateway</html>", None)
    assert isinstance(error, ServerError)
    assert "bad gateway" in error.message


def test_connection_error_is_retriable_status_zero() -> None:
    error = ApiConnectionError("refused")
    assert error.status == 0 and is_retriable(error)


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def collect(it: AsyncIterator[bytes]) -> list[bytes]:
    return [line async for line in it]


async def test_iter_lines_reframes_arbitrary_chunks() -> None:
    stream = chunks(b'{"a":', b"1}\n{", b'"b":2}\n\n', b"\n", b'{"c":3}')
    assert await collect(iter_lines(stream)) == [b'{"a":1}', b'{"b":2}', b'{"c":3}']


async def test_iter_lines_handles_many_lines_per_chunk_and_large_lines() -> None:
    big = b"x" * 100_000
    stream = chunks(b"1\n2\n3\n" + big[:50_000], big[50_000:] + b"\n")
    assert await collect(iter_lines(stream)) == [b"1", b"2", b"3", big]


async def test_iter_lines_rejects_unbounded_line() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        await collect(iter_lines(chunks(b"x" * 20, b"y" * 20), max_line=30))


def test_resource_paths() -> None:
    assert PODS.collection_path() == "/api/v1/pods"
    assert PODS.collection_path("kube-system") == "/api/v1/namespaces/kube-system/pods"
    assert NODES.collection_path("ignored") == "/api/v1/nodes"
    leases = Resource("coordination.k8s.io/v1", "leases")
    assert leases.collection_path("ns") == "/apis/coordination.k8s.io/v1/namespaces/ns/leases"


def test_watch_decoder_by_event_type_ignores_unknown_fields() -> None:
    decoder = WatchDecoder(Obj)
    added = decoder.decode(
        b'{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p",'
        b'"namespace":"ns","uid":"u","resourceVersion":"12","managedFields":[{"x":1}]},'
        b'"value":3,"spec":{"unknown":true}}}'
    )
    assert added.type is EventType.ADDED
    assert added.object is not None and added.object.value == 3
    assert added.resource_version == "12"

    bookmark = decoder.decode(
        b'{"type":"BOOKMARK","object":{"kind":"Pod","metadata":{"resourceVersion":"99",'
        b'"annotations":{"k8s.io/initial-events-end":"true"}}}}'
    )
    assert (bookmark.type, bookmark.object, bookmark.resource_version) == (
        EventType.BOOKMARK,
        None,
        "99",
    )

    error = decoder.decode(
        b'{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure",'
        b'"message":"too old resource version: 5 (10)","reason":"Expired","code":410}}'
    )
    assert error.type is EventType.ERROR and error.status is not None
    assert isinstance(error_from_status(error.status), GoneError)


def test_watch_decoder_rejects_schema_violations() -> None:
    with pytest.raises(msgspec.ValidationError):
        WatchDecoder(Obj).decode(b'{"type":"ADDED","object":{"metadata":{},"value":"nan"}}')


def test_list_decoding_handles_null_items_and_continue() -> None:
    decoder = msgspec.json.Decoder(ObjectList[Obj])
    decoded = decoder.decode(
        b'{"kind":"PodList","metadata":{"resourceVersion":"7","continue":"tok",'
        b'"remainingItemCount":3},"items":[{"metadata":{"name":"a"}}]}'
    )
    assert decoded.metadata.continue_ == "tok" and decoded.metadata.remaining_item_count == 3
    assert decoded.items is not None and decoded.items[0].metadata.name == "a"
    assert decoder.decode(b'{"metadata":{"resourceVersion":"8"},"items":null}').items is None


KUBECONFIG = """
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: {ca}
users:
- name: u
  user:
    token: secret-token
contexts:
- name: ctx
  context: {{cluster: c, user: u}}
current-context: ctx
"""


async def test_new_api_client_from_kubeconfig_has_own_configuration(tmp_path: Path) -> None:
    from kubernetes_asyncio.client import Configuration

    ca = base64.b64encode(_SELF_SIGNED_CA).decode()
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG.format(ca=ca))
    before = Configuration.get_default_copy().host
    client = await new_api_client(path)
    try:
        assert client.configuration.host == "https://127.0.0.1:6443"
        assert client.configuration.api_key["BearerToken"] == "Bearer secret-token"
        assert client.user_agent == USER_AGENT
        # The library-wide default was not touched.
        assert Configuration.get_default_copy().host == before
    finally:
        await client.close()


def _make_ca() -> bytes:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-ca")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


_SELF_SIGNED_CA = _make_ca()


def test_list_decoder_pauses_gc_only_while_decoding() -> None:
    import gc

    from pyscheduler.api.listwatch import ListDecoder

    decoder = ListDecoder(Obj)
    body = b'{"metadata":{"resourceVersion":"3"},"items":[{"metadata":{"name":"a"}}]}'
    assert gc.isenabled()
    items, meta = decoder.decode(body)
    assert [o.metadata.name for o in items] == ["a"] and meta.resource_version == "3"
    assert gc.isenabled()
    gc.disable()
    try:
        decoder.decode(body)
        assert not gc.isenabled()  # a caller's choice is left alone
    finally:
        gc.enable()
    with pytest.raises(msgspec.ValidationError):
        decoder.decode(b'{"items":[{"metadata":{"name":1}}]}')
    assert gc.isenabled()
