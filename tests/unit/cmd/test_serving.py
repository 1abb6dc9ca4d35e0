"""The secure port's pieces on in-memory objects: durations, the decision caches, the
delegated authenticator and authorizer behind aiohttp, the TLS context, and which listeners the
flags start. The real apiserver's TokenReview and SubjectAccessReview answers are exercised by
tests/integration/test_secure_serving.py."""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography import x509

from envtest._pki import generate_pki
from pyscheduler.cmd.certs import server_ssl_context
from pyscheduler.cmd.delegated_auth import (
    SUBJECT_ACCESS_REVIEW_PATH,
    TOKEN_REVIEW_PATH,
    AuthenticationError,
    DelegatingAuth,
    SubjectAccessReviewAuthorizer,
    TokenReviewAuthenticator,
    TTLCache,
    UserInfo,
    user_from_peercert,
)
from pyscheduler.cmd.server import (
    Endpoints,
    Listener,
    Serving,
    start_serving,
)
from pyscheduler.cmd.serving_flags import DEFAULT_SECURE_PORT, add_serving_flags, parse_duration

READER = "reader-token"
NOBODY = "nobody-token"


class Apiserver:
    """Answers TokenReviews and SubjectAccessReviews like the apiserver would; counts them."""

    def __init__(self, allowed: Mapping[tuple[str, str], bool] | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.allowed = dict(allowed or {("reader", "/metrics"): True})
        self.fail = False

    async def post(self, path: str, body: Mapping[str, Any]) -> bytes:
        self.calls.append((path, dict(body)))
        if self.fail:
            raise ConnectionError("apiserver unreachable")
        spec = body["spec"]
        if path == TOKEN_REVIEW_PATH:
            users = {READER: "reader", NOBODY: "nobody"}
            if spec["token"] not in users:
                return json.dumps({"status": {"authenticated": False,
                                              "error": "invalid bearer token"}}).encode()
            user = {"username": users[spec["token"]], "uid": "u1",
                    "groups": ["system:serviceaccounts", "system:authenticated"]}
            return json.dumps({"status": {"authenticated": True, "user": user}}).encode()
        assert path == SUBJECT_ACCESS_REVIEW_PATH
        attrs = spec["nonResourceAttributes"]
        ok = attrs["verb"] == "get" and self.allowed.get((spec["user"], attrs["path"]), False)
        return json.dumps({"status": {"allowed": ok}}).encode()

    def count(self, path: str) -> int:
        return sum(1 for p, _ in self.calls if p == path)


def _auth(api: Apiserver) -> DelegatingAuth:
    return DelegatingAuth(TokenReviewAuthenticator(api.post),
                          SubjectAccessReviewAuthorizer(api.post))


@pytest.fixture
async def served() -> AsyncIterator[tuple[TestClient[Any, Any], Apiserver]]:
    api = Apiserver()
    app = Endpoints(lambda: True, lambda: {"nodes": {}}).app(_auth(api))
    async with TestClient(TestServer(app)) as client:
        yield client, api


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(("text", "seconds"), [
    ("10s", 10.0), ("1m30s", 90.0), ("500ms", 0.5), ("2h", 7200.0), ("0", 0.0), ("1.5", 1.5)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10x", "s", "1m 2s", "-1s"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration(text)


def test_ttl_cache_expires_and_is_bounded() -> None:
    now = [0.0]
    cache: TTLCache[str, int] = TTLCache(max_size=2, clock=lambda: now[0])
    cache.put("a", 1, 10)
    cache.put("zero", 9, 0)  # a zero TTL caches nothing
    assert cache.get("a") == 1 and cache.get("zero") is None
    now[0] = 10.0
    assert cache.get("a") is None
    for k in "xyz":
        cache.put(k, 1, 10)
    assert len(cache) == 2 and cache.get("x") is None  # the oldest went first


async def test_token_reviews_are_cached_both_ways_but_failures_are_not() -> None:
    api = Apiserver()
    tokens = TokenReviewAuthenticator(api.post)
    user = await tokens.authenticate(READER)
    assert user == UserInfo("reader", "u1", ("system:serviceaccounts", "system:authenticated"))
    await tokens.authenticate(READER)
    for _ in range(2):
        with pytest.raises(AuthenticationError, match="invalid bearer token"):
            await tokens.authenticate("forged")
    assert api.count(TOKEN_REVIEW_PATH) == 2
    api.fail = True
    for _ in range(2):
        with pytest.raises(AuthenticationError, match="token review failed"):
            await tokens.authenticate("new")
    assert api.count(TOKEN_REVIEW_PATH) == 4


async def test_subject_access_reviews_ask_for_the_path_and_verb_and_are_cached() -> None:
    api = Apiserver()
    authz = SubjectAccessReviewAuthorizer(api.post)
    reader = UserInfo("reader", "u1", ("system:authenticated",), (("k", ("v",)),))
    assert (await authz.authorize(reader, "/metrics", "get")).allowed
    assert (await authz.authorize(reader, "/metrics", "get")).allowed
    assert not (await authz.authorize(reader, "/debug/cache", "get")).allowed
    assert not (await authz.authorize(reader, "/debug/cache", "get")).allowed
    assert api.count(SUBJECT_ACCESS_REVIEW_PATH) == 2
    spec = api.calls[0][1]["spec"]
    assert spec == {"user": "reader", "uid": "u1", "groups": ["system:authenticated"],
                    "extra": {"k": ["v"]},
                    "nonResourceAttributes": {"path": "/metrics", "verb": "get"}}


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/livez"])
async def test_health_paths_are_open_and_ask_nothing(
        served: tuple[TestClient[Any, Any], Apiserver], path: str) -> None:
    client, api = served
    for headers in ({}, _bearer("forged")):
        resp = await client.get(path, headers=headers)
        assert resp.status == 200
    assert api.calls == []


async def test_anonymous_metrics_is_refused_without_data(
        served: tuple[TestClient[Any, Any], Apiserver]) -> None:
    client, api = served
    resp = await client.get("/metrics")
    assert resp.status == 403
    body = await resp.json()
    assert body["reason"] == "Forbidden"
    assert body["message"] == 'forbidden: User "system:anonymous" cannot get path "/metrics"'
    sar = api.calls[-1][1]["spec"]
    assert (sar["user"], sar["groups"]) == ("system:anonymous", ["system:unauthenticated"])


async def test_tokens_decide_metrics_and_debug(
        served: tuple[TestClient[Any, Any], Apiserver]) -> None:
    client, _ = served
    resp = await client.get("/metrics", headers=_bearer(READER))
    assert resp.status == 200
    assert "# TYPE" in await resp.text()
    assert (await client.get("/debug/cache", headers=_bearer(READER))).status == 403
    assert (await client.get("/metrics", headers=_bearer(NOBODY))).status == 403
    resp = await client.get("/metrics", headers=_bearer("forged"))
    assert resp.status == 401
    assert "# TYPE" not in await resp.text()


async def test_system_masters_skip_the_review_and_a_failed_review_is_500() -> None:
    api = Apiserver()
    auth = _auth(api)
    app = Endpoints(lambda: True).app(auth)
    async with TestClient(TestServer(app)) as client:
        api.fail = True
        resp = await client.get("/metrics", headers=_bearer(READER))
        assert resp.status == 401  # the TokenReview itself failed
        api.fail = False
        await auth.tokens.authenticate(READER)  # now cached
        api.fail = True
        assert (await client.get("/metrics", headers=_bearer(READER))).status == 500
    masters = DelegatingAuth(auth.tokens, auth.authorizer, always_allow_paths=("/debug/*",))
    assert masters.always_allowed("/debug/cache") and not masters.always_allowed("/metrics")


def test_user_from_a_verified_client_certificate() -> None:
    peercert = {"subject": ((("countryName", "US"),), (("organizationName", "system:masters"),),
                            (("organizationName", "ops"),), (("commonName", "admin"),))}
    assert user_from_peercert(peercert) == UserInfo("admin", groups=("system:masters", "ops"))
    assert user_from_peercert(None) is None
    assert user_from_peercert({"subject": ((("organizationName", "x"),),)}) is None


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_serving_flags(p)
    return p.parse_args(argv)


def test_defaults_serve_https_on_10259_and_nothing_plain() -> None:
    args = _args()
    assert (args.secure_port, args.bind_address) == (DEFAULT_SECURE_PORT, "0.0.0.0")
    assert args.bind_address_insecure is None and args.metrics_bind_address is None
    assert args.authorization_always_allow_paths == "/healthz,/readyz,/livez"
    assert args.authentication_token_webhook_cache_ttl == 10.0


async def test_listeners_follow_the_flags(tmp_path: Path) -> None:
    serving = await start_serving(_args("--secure-port", "0"), None,  # type: ignore[arg-type]
                                  ready=lambda: True, debug=None)
    assert serving.ports == {}
    await serving.stop()

    args = _args("--secure-port", "0", "--metrics-bind-address", "127.0.0.1:0")
    serving = await start_serving(args, None, ready=lambda: True,  # type: ignore[arg-type]
                                  debug=None)
    try:
        assert set(serving.ports) == {"insecure"}
        async with aiohttp.ClientSession() as s, s.get(
                f"http://127.0.0.1:{serving.ports['insecure']}/metrics") as resp:
            assert resp.status == 200  # plain HTTP: local use, no authentication
    finally:
        await serving.stop()


async def test_secure_port_serves_tls_and_verifies_client_certificates(tmp_path: Path) -> None:
    pki = generate_pki(tmp_path, service_ip="10.96.0.1")
    api = Apiserver()
    serving = Serving()
    # Listener directly: through the flags, --secure-port 0 means "no HTTPS", not "any port".
    ctx = server_ssl_context(client_ca=pki.ca_cert.read_text())
    port = await serving.add("secure", Endpoints(lambda: False), Listener(
        "127.0.0.1", 0, ctx, _auth(api)))
    try:
        anonymous = ssl.create_default_context()
        anonymous.check_hostname = False
        anonymous.verify_mode = ssl.CERT_NONE
        admin = ssl.create_default_context()
        admin.check_hostname = False
        admin.verify_mode = ssl.CERT_NONE
        admin.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))
        url = f"https://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{url}/readyz", ssl=anonymous) as resp:
                assert resp.status == 503
            async with s.get(f"{url}/metrics", ssl=anonymous) as resp:
                assert resp.status == 403
            # The admin certificate (O=system:masters): no TokenReview, no SubjectAccessReview.
            calls = len(api.calls)
            async with s.get(f"{url}/metrics", ssl=admin) as resp:
                assert resp.status == 200
            assert len(api.calls) == calls
            with pytest.raises(aiohttp.ClientError):
                async with s.get(f"http://127.0.0.1:{port}/metrics") as resp:
                    await resp.read()
        pem = await asyncio.to_thread(ssl.get_server_certificate, ("127.0.0.1", port))
        served = x509.load_pem_x509_certificate(pem.encode())
        names = served.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert "localhost" in names.get_values_for_type(x509.DNSName)
    finally:
        await serving.stop()
