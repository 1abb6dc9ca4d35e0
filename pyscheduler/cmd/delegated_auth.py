"""Delegated authentication and authorization for the secure port, as kube-scheduler wires
k8s.io/apiserver's delegating authenticator and authorizer.

Contract:
* Authentication, first that answers wins (upstream's union, then anonymous):
  1. a client certificate the TLS layer verified against the client CA: user = its subject's
     CN, groups = its O values;
  2. ``Authorization: Bearer <token>``: a TokenReview; an invalid token is a 401, never
     anonymous; a TokenReview that fails (apiserver unreachable) is a 401 as well;
  3. no credentials: ``system:anonymous`` in ``system:unauthenticated``, which authorization
     then refuses unless the cluster granted it the path.
  Authenticated users get ``system:authenticated`` (upstream's AuthenticatedGroupAdder).
  TokenReview answers, positive and negative, are cached ``token_ttl`` seconds (upstream
  ``--authentication-token-webhook-cache-ttl``, 10s), keyed by the token's SHA-256.
* Authorization: a path in ``always_allow_paths`` (a trailing ``*`` is a prefix) is served to
  anyone without asking, and, unlike upstream, without authenticating either: health probes
  never wait on the apiserver. A user in ``always_allow_groups`` (system:masters) is allowed.
  Everything else is a SubjectAccessReview with ``nonResourceAttributes`` {path, verb = the
  lower-cased HTTP method}; allowed answers are cached ``allow_ttl`` seconds, denied ones
  ``deny_ttl`` (upstream ``--authorization-webhook-cache-{authorized,unauthorized}-ttl``,
  10s each). A failed review is a 500 and is not cached.
* The reviews are plain POSTs through the scheduler's API client, never through the
  leader-fenced ApiDispatcher: followers serve their metrics too, and a review writes nothing.
* Responses to refused requests are apiserver-style Status objects: 401 ``Unauthorized``,
  403 ``forbidden: User "<name>" cannot <verb> path "<path>"``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import structlog
from aiohttp import web

from pyscheduler.cmd.serving_flags import (
    DEFAULT_ALLOW_TTL,
    DEFAULT_ALWAYS_ALLOW_PATHS,
    DEFAULT_DENY_TTL,
    DEFAULT_TOKEN_TTL,
)

log = structlog.get_logger(__name__)

TOKEN_REVIEW_PATH = "/apis/authentication.k8s.io/v1/tokenreviews"
SUBJECT_ACCESS_REVIEW_PATH = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
# upstream DelegatingAuthenticationOptions / DelegatingAuthorizationOptions defaults.
DEFAULT_ALWAYS_ALLOW_GROUPS = ("system:masters",)
# Enough distinct callers for any scrape setup; bounds memory against a token-spraying client.
CACHE_SIZE = 4096

ANONYMOUS_USER = "system:anonymous"
UNAUTHENTICATED_GROUP = "system:unauthenticated"
AUTHENTICATED_GROUP = "system:authenticated"

# POST path, JSON body -> the answer's body (raises pyscheduler.api.errors.ApiError).
Poster = Callable[[str, Mapping[str, Any]], Awaitable[bytes]]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(slots=True, frozen=True)
class UserInfo:
    """Who made a request (upstream user.Info)."""

    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()


ANONYMOUS = UserInfo(ANONYMOUS_USER, groups=(UNAUTHENTICATED_GROUP,))


class AuthenticationError(Exception):
    """The request carried credentials that did not authenticate (answered 401)."""


class TTLCache(Generic[K, V]):
    """A bounded map whose entries expire; the oldest entry goes first when full."""

    def __init__(self, max_size: int = CACHE_SIZE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._max = max_size
        self._clock = clock
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The live value for ``key``, or None (an expired entry is dropped)."""
        hit = self._items.get(key)
        if hit is None:
            return None
        if hit[0] <= self._clock():
            del self._items[key]
            return None
        return hit[1]

    def put(self, key: K, value: V, ttl: float) -> None:
        """Keep ``value`` for ``ttl`` seconds (not at all if ttl <= 0)."""
        if ttl <= 0:
            return
        self._items.pop(key, None)
        self._items[key] = (self._clock() + ttl, value)
        while len(self._items) > self._max:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


def _with_authenticated(user: UserInfo) -> UserInfo:
    if AUTHENTICATED_GROUP in user.groups or user.name == ANONYMOUS_USER:
        return user
    return UserInfo(user.name, user.uid, (*user.groups, AUTHENTICATED_GROUP), user.extra)


def user_from_peercert(peercert: Mapping[str, Any] | None) -> UserInfo | None:
    """The user a verified client certificate names (``ssl.SSLSocket.getpeercert()`` form)."""
    if not peercert:
        return None
    cn = ""
    orgs: list[str] = []
    for rdn in peercert.get("subject", ()):
        for attr, value in rdn:
            if attr == "commonName":
                cn = value
            elif attr == "organizationName":
                orgs.append(value)
    if not cn:
        return None
    return UserInfo(cn, groups=tuple(orgs))


class TokenReviewAuthenticator:
    """Bearer tokens checked with the TokenReview API, answers cached (see module contract)."""

    def __init__(self, post: Poster, ttl: float = DEFAULT_TOKEN_TTL,
                 audiences: Sequence[str] = (), cache: TTLCache[str, UserInfo | str] | None = None
                 ) -> None:
        self._post = post
        self._ttl = ttl
        self._audiences = list(audiences)
        # A UserInfo, or the reason the token was refused.
        self._cache: TTLCache[str, UserInfo | str] = cache if cache is not None else TTLCache()

    async def authenticate(self, token: str) -> UserInfo:
        """The token's user; AuthenticationError if it is invalid or cannot be checked."""
        key = hashlib.sha256(token.encode()).hexdigest()
        cached = self._cache.get(key)
        if cached is None:
            cached = await self._review(token)
            self._cache.put(key, cached, self._ttl)
        if isinstance(cached, str):
            raise AuthenticationError(cached)
        return cached

    async def _review(self, token: str) -> UserInfo | str:
        spec: dict[str, Any] = {"token": token}
        if self._audiences:
            spec["audiences"] = self._audiences
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec}
        try:
            raw = await self._post(TOKEN_REVIEW_PATH, body)
        except Exception as err:  # never cached: the next request asks again
            log.warning("token review failed", error=repr(err))
            raise AuthenticationError(f"token review failed: {err}") from err
        status = json.loads(raw).get("status") or {}
        if not status.get("authenticated"):
            return str(status.get("error") or "token not authenticated")
        u = status.get("user") or {}
        extra = tuple(sorted((k, tuple(v or ())) for k, v in (u.get("extra") or {}).items()))
        return UserInfo(u.get("username", ""), u.get("uid", ""), tuple(u.get("groups") or ()),
                        extra)


@dataclass(slots=True, frozen=True)
class Decision:
    """An authorization answer and the reason the reviewer gave."""

    allowed: bool
    reason: str = ""


class SubjectAccessReviewAuthorizer:
    """Non-resource paths checked with the SubjectAccessReview API (see module contract)."""

    def __init__(self, post: Poster, allow_ttl: float = DEFAULT_ALLOW_TTL,
                 deny_ttl: float = DEFAULT_DENY_TTL) -> None:
        self._post = post
        self._allow_ttl = allow_ttl
        self._deny_ttl = deny_ttl
        self._cache: TTLCache[tuple[UserInfo, str, str], Decision] = TTLCache()

    async def authorize(self, user: UserInfo, path: str, verb: str) -> Decision:
        """Whether ``user`` may ``verb`` the non-resource ``path``; raises if the review fails."""
        key = (user, path, verb)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        spec: dict[str, Any] = {
            "user": user.name,
            "groups": list(user.groups),
            "nonResourceAttributes": {"path": path, "verb": verb},
        }
        if user.uid:
            spec["uid"] = user.uid
        if user.extra:
            spec["extra"] = {k: list(v) for k, v in user.extra}
        raw = await self._post(SUBJECT_ACCESS_REVIEW_PATH, {
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": spec,
        })
        status = json.loads(raw).get("status") or {}
        decision = Decision(bool(status.get("allowed")) and not status.get("denied"),
                            str(status.get("reason") or ""))
        self._cache.put(key, decision, self._allow_ttl if decision.allowed else self._deny_ttl)
        return decision


def status_response(code: int, reason: str, message: str) -> web.Response:
    """An apiserver-style Status body with ``code``."""
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "details": {}, "code": code}
    return web.json_response(body, status=code)


@dataclass(slots=True)
class DelegatingAuth:
    """The secure port's gate: authenticate, then authorize (see module contract)."""

    tokens: TokenReviewAuthenticator
    authorizer: SubjectAccessReviewAuthorizer
    always_allow_paths: Sequence[str] = DEFAULT_ALWAYS_ALLOW_PATHS
    always_allow_groups: Sequence[str] = DEFAULT_ALWAYS_ALLOW_GROUPS
    _exact: frozenset[str] = field(init=False)
    _prefixes: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        self._exact = frozenset(p for p in self.always_allow_paths if not p.endswith("*"))
        self._prefixes = tuple(p[:-1] for p in self.always_allow_paths if p.endswith("*"))

    def always_allowed(self, path: str) -> bool:
        """Whether ``path`` is served to anyone (upstream's always-allow paths)."""
        return path in self._exact or path.startswith(self._prefixes)

    async def authenticate(self, request: web.Request) -> UserInfo:
        """The request's user (see module contract); AuthenticationError for bad credentials."""
        transport = request.transport
        cert_user = user_from_peercert(
            transport.get_extra_info("peercert") if transport is not None else None)
        if cert_user is not None:
            return _with_authenticated(cert_user)
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() == "bearer" and token:
            return _with_authenticated(await self.tokens.authenticate(token))
        return ANONYMOUS

    async def check(self, request: web.Request) -> web.Response | None:
        """None if ``request`` may be served, else the 401/403/500 answer to send."""
        path = request.path
        if self.always_allowed(path):
            return None
        try:
            user = await self.authenticate(request)
        except AuthenticationError as err:
            log.info("unauthorized request", path=path, reason=str(err))
            return status_response(401, "Unauthorized", "Unauthorized")
        if any(g in self.always_allow_groups for g in user.groups):
            return None
        verb = request.method.lower()
        try:
            decision = await self.authorizer.authorize(user, path, verb)
        except Exception as err:
            log.warning("subject access review failed", path=path, user=user.name,
                        error=repr(err))
            return status_response(500, "InternalError",
                                   f"Internal Server Error: \"{path}\": {err}")
        if decision.allowed:
            return None
        message = f'forbidden: User "{user.name}" cannot {verb} path "{path}"'
        if decision.reason:
            message += f": {decision.reason}"
        return status_response(403, "Forbidden", message)

    @web.middleware
    async def middleware(self, request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                         ) -> web.StreamResponse:
        """aiohttp middleware running :meth:`check` before every handler."""
        refused = await self.check(request)
        if refused is not None:
            return refused
        return await handler(request)
