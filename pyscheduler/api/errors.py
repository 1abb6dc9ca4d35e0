"""Errors raised by the raw API layer, classified the way client-go's apierrors classifies them.

Contract:
- Every failure of a request made through :mod:`pyscheduler.api.raw` surfaces as an
  :class:`ApiError` (or a subclass); transport failures (connection refused or reset, TLS,
  timeouts, a stream cut mid-body) are :class:`ApiConnectionError` with ``status == 0``. Nothing
  from aiohttp or kubernetes-asyncio leaks to callers, so the informer and writer layers only
  ever branch on this hierarchy.
- The subclass is chosen from the HTTP status *and* the Status reason in the body, because the
  API server reports an expired continue token or a compacted resourceVersion as 410 with reason
  "Expired" or "Gone" (both mean: the resourceVersion you asked for is no longer available, relist).
- ``retriable`` says whether repeating the same request unchanged later may succeed (429, 5xx,
  transport errors). ``retry_after`` is the server's Retry-After hint in seconds, when given.
"""

from __future__ import annotations

import email.utils
import time

import msgspec


class StatusDetails(msgspec.Struct, rename="camel", omit_defaults=True, gc=False):
    name: str = ""
    kind: str = ""
    retry_after_seconds: int = 0


class Status(msgspec.Struct, rename="camel", omit_defaults=True, gc=False):
    """metav1.Status, as found in error bodies and in watch ERROR events (partial schema)."""

    status: str = ""
    message: str = ""
    reason: str = ""
    code: int = 0
    details: StatusDetails | None = None


_status_decoder = msgspec.json.Decoder(Status)


class ApiError(Exception):
    """A request to kube-apiserver failed. ``status`` is the HTTP code (0 for transport errors)."""

    retriable: bool = False

    def __init__(
        self,
        status: int,
        reason: str = "",
        message: str = "",
        *,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status} {reason}: {message}" if reason or message else str(status))
        self.status = status
        self.reason = reason
        self.message = message
        self.retry_after = retry_after


class BadRequestError(ApiError):
    """400."""


class UnauthorizedError(ApiError):
    """401."""


class ForbiddenError(ApiError):
    """403."""


class NotFoundError(ApiError):
    """404: the object (or the namespace, or the resource type) does not exist."""


class ConflictError(ApiError):
    """409: a resourceVersion precondition failed, or the object already exists."""


class GoneError(ApiError):
    """410 Gone / reason Expired: the requested resourceVersion or continue token was compacted."""


class TooManyRequestsError(ApiError):
    """429: API priority and fairness (or max-in-flight) rejected the request."""

    retriable = True


class ServerError(ApiError):
    """5xx (including 504 timeouts): the server failed; the same request may succeed later."""

    retriable = True


class ApiConnectionError(ApiError):
    """The request never got an HTTP answer, or its body stream broke (status 0)."""

    retriable = True

    def __init__(self, message: str) -> None:
        super().__init__(0, "ConnectionError", message)


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    410: GoneError,
    429: TooManyRequestsError,
}


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Retry-After is either delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def error_from_status(
    status: Status, *, http_status: int = 0, retry_after: float | None = None
) -> ApiError:
    """Build the right ApiError subclass from a decoded metav1.Status."""
    code = status.code or http_status
    if retry_after is None and status.details is not None and status.details.retry_after_seconds:
        retry_after = float(status.details.retry_after_seconds)
    cls: type[ApiError]
    if status.reason in ("Expired", "Gone") or code == 410:
        cls = GoneError
    elif code >= 500:
        cls = ServerError
    else:
        cls = _BY_STATUS.get(code, ApiError)
    return cls(code, status.reason, status.message, retry_after=retry_after)


def error_from_response(http_status: int, body: bytes, retry_after_header: str | None) -> ApiError:
    """Classify a non-2xx answer; the body is a Status when the API server produced it."""
    try:
        status = _status_decoder.decode(body) if body else Status()
    except msgspec.DecodeError:
        # Not a Status (a proxy's HTML page, a truncated body): keep a short excerpt.
        status = Status(message=body[:200].decode("utf-8", "replace"))
    return error_from_status(
        status, http_status=http_status, retry_after=parse_retry_after(retry_after_header)
    )


def is_retriable(exc: BaseException) -> bool:
    """True when the same request may succeed if repeated later."""
    return isinstance(exc, ApiError) and exc.retriable


def is_gone(exc: BaseException) -> bool:
    """True for 410 Gone / Expired: the caller must relist from a fresh resourceVersion."""
    return isinstance(exc, GoneError)
