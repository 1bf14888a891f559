"""The request engine behind QlikClient: auth, rate limits, retries, size limits, logging, error mapping.

One `httpx.AsyncClient` per QlikClient; its transport is the seam where tests (respx) and the embedded
emulator plug in.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import httpx

from qdi_mcp.clock import Clock

from .auth import Auth, AuthContext
from .endpoints import ENDPOINTS, Endpoint
from .errors import (
    OutcomeUnknownError,
    QdiApiError,
    ResponseTooLargeError,
    TransportError,
    error_from_response,
    format_message,
)
from .ratelimit import TierLimiter
from .retry import (
    FailureKind,
    RetryPolicy,
    classify_transport_failure,
    is_idempotent,
    parse_retry_after,
    should_retry_failure,
    should_retry_status,
    transport_failure_cause,
)
from .traces import note_change, note_change_sent

JSON = "application/json"
OCTET_STREAM = "application/octet-stream"
# a JSON answer of this API is a few KiB; the cap only stops a runaway or hostile body
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
# of an error body we only show an excerpt, so there is no point reading much of it
ERROR_BODY_BYTES = 64 * 1024

logger = logging.getLogger("qdi_mcp.api")


@dataclass(frozen=True)
class Timeouts:
    """Seconds allowed for connecting, reading, writing, waiting for a pooled connection, and for one whole
    request: httpx's limits apply per phase, so a server trickling bytes could otherwise hold a request (and
    a wait's deadline) forever."""

    connect: float = 5.0
    read: float = 30.0
    write: float = 30.0
    pool: float = 5.0
    total: float = 120.0

    def to_httpx(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.write, pool=self.pool)


@dataclass(frozen=True)
class ApiResponse:
    """A successful answer, fully read."""

    method: str
    path: str
    status: int
    headers: httpx.Headers
    content: bytes


class ApiSession:
    def __init__(
        self,
        *,
        tenant_url: str,
        http: httpx.AsyncClient,
        auth: Auth,
        retry: RetryPolicy,
        limiter: TierLimiter,
        clock: Clock,
        rng: random.Random | None = None,
        total_timeout: float = Timeouts.total,
    ) -> None:
        self.tenant_url = tenant_url
        self.total_timeout = total_timeout
        self.http = http
        self.auth = auth
        self.retry = retry
        self.limiter = limiter
        self.clock = clock
        self._rng = rng or random.Random()
        self._auth_context = AuthContext(http=http, tenant_url=tenant_url, clock=clock)

    def redact(self, text: str) -> str:
        for secret in self.auth.secrets():
            if secret:
                text = text.replace(secret, "***")
        return text

    async def call(
        self,
        operation: str,
        *,
        path_params: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        files: Mapping[str, Any] | None = None,
        accept: str = JSON,
        max_body: int = DEFAULT_MAX_BODY_BYTES,
    ) -> ApiResponse:
        endpoint = ENDPOINTS[operation]
        # render first: a bad id fails here, before any request is sent or any rate budget spent
        path = endpoint.render(**(path_params or {}))
        query = {key: value for key, value in (params or {}).items() if value is not None}
        started = self.clock.monotonic()
        attempt = 0
        reauthenticated = False
        while True:
            attempt += 1
            await self.limiter.acquire(endpoint.tier)
            authorization = await self.auth.authorization(self._auth_context)
            request = self.http.build_request(
                endpoint.method,
                self.tenant_url + path,
                params=query or None,
                json=json,
                files=files,
                headers={"Authorization": authorization, "Accept": accept},
            )
            sent_at = self.clock.monotonic()
            if endpoint.changes_tenant:
                note_change_sent()
            try:
                try:
                    status, headers, content = await self._exchange(request, endpoint, path, max_body)
                finally:
                    # The request reached Qlik some time before now: a shared window counts it from now.
                    await self.limiter.answered(endpoint.tier)
            except httpx.HTTPError as exc:
                self._log(endpoint.method, path, type(exc).__name__, sent_at, attempt)
                kind = classify_transport_failure(exc)
                if should_retry_failure(endpoint.retries_as, kind):
                    delay = self.retry.backoff(attempt, self._rng)
                    if self._may_retry(attempt, started, delay):
                        await self._pause(endpoint.method, path, type(exc).__name__, delay, attempt)
                        continue
                raise self._failure_error(exc, kind, endpoint.method, path, endpoint.retries_as) from exc
            self._log(endpoint.method, path, status, sent_at, attempt)

            if status == 401 and self.auth.refreshable and not reauthenticated:
                # the token may have been revoked or expired early: fetch a new one and try exactly once more
                self.auth.invalidate(authorization)
                reauthenticated = True
                attempt -= 1
                continue
            if 200 <= status < 300:
                if endpoint.changes_tenant:
                    note_change(headers)
                return ApiResponse(endpoint.method, path, status, headers, content)

            retry_after = parse_retry_after(headers.get("Retry-After"))
            if status == 429 and retry_after is not None:
                await self.limiter.block(endpoint.tier, retry_after)
            if should_retry_status(endpoint.retries_as, status):
                delay = retry_after if retry_after is not None else self.retry.backoff(attempt, self._rng)
                if self._may_retry(attempt, started, delay):
                    await self._pause(endpoint.method, path, str(status), delay, attempt)
                    continue
            raise error_from_response(
                method=endpoint.method,
                path=path,
                status=status,
                body=content,
                retry_after=retry_after,
                redact=self.redact,
                outcome_unknown=status >= 500 and not is_idempotent(endpoint.retries_as),
                # A write is only ever repeated after a 429; if the repeat conflicts, the first may have landed.
                retried_write=attempt > 1 and not is_idempotent(endpoint.retries_as),
            )

    async def _exchange(
        self, request: httpx.Request, endpoint: Endpoint, path: str, max_body: int
    ) -> tuple[int, httpx.Headers, bytes]:
        try:
            with anyio.fail_after(self.total_timeout):
                response = await self.http.send(request, stream=True)
                try:
                    if response.is_success:
                        content = await _read_within(response, max_body, endpoint.method, path)
                    else:
                        content = await _read_prefix(response, ERROR_BODY_BYTES)
                finally:
                    await response.aclose()
        except TimeoutError:
            # Classified like any read timeout: the request may have been received.
            raise httpx.ReadTimeout(f"no complete answer within {self.total_timeout:g} s", request=request) from None
        return response.status_code, response.headers, content

    def _may_retry(self, attempt: int, started: float, delay: float) -> bool:
        if attempt >= self.retry.max_attempts:
            return False
        return self.clock.monotonic() - started + delay <= self.retry.max_total

    async def _pause(self, method: str, path: str, reason: str, delay: float, attempt: int) -> None:
        logger.info(
            "retrying %s %s after %s in %.2f s (attempt %d of %d)",
            method,
            path,
            reason,
            delay,
            attempt + 1,
            self.retry.max_attempts,
        )
        await self.clock.sleep(delay)

    def _failure_error(
        self, exc: httpx.HTTPError, kind: FailureKind, method: str, path: str, retries_as: str
    ) -> QdiApiError:
        # only the exception's type and its classified cause are reported: some httpx messages embed the URL
        reason = transport_failure_cause(exc)
        cause = f"{reason}: {type(exc).__name__}"
        if kind is FailureKind.MAYBE_SENT and not is_idempotent(retries_as):
            explanation = (
                f"no complete answer ({cause}); the outcome is unknown: the request may have reached "
                "Qlik Cloud and been applied, check the current state before retrying"
            )
            return OutcomeUnknownError(format_message(method, path, None, explanation, None), method=method, path=path)
        if kind is FailureKind.NOT_SENT:
            explanation = f"could not connect to the tenant ({cause}); the request was not sent"
        elif kind is FailureKind.MAYBE_SENT:
            explanation = f"no complete answer from the tenant ({cause})"
        else:
            explanation = f"the request failed ({cause})"
        return TransportError(
            format_message(method, path, None, explanation, None),
            method=method,
            path=path,
            retryable=kind is not FailureKind.FATAL,
            cause=reason,
            tenant=self.tenant_url,
        )

    def _log(self, method: str, path: str, outcome: int | str, sent_at: float, attempt: int) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            elapsed_ms = (self.clock.monotonic() - sent_at) * 1000
            logger.debug("%s %s -> %s in %.1f ms (attempt %d)", method, path, outcome, elapsed_ms, attempt)


async def _read_within(response: httpx.Response, limit: int, method: str, path: str) -> bytes:
    """The whole body, or ResponseTooLargeError as soon as it passes `limit` bytes."""
    declared = response.headers.get("Content-Length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(response.status_code, limit, method, path)
    chunks: list[bytes] = []
    received = 0
    async for chunk in response.aiter_bytes():
        received += len(chunk)
        if received > limit:
            raise _too_large(response.status_code, limit, method, path)
        chunks.append(chunk)
    return b"".join(chunks)


async def _read_prefix(response: httpx.Response, limit: int) -> bytes:
    chunks: list[bytes] = []
    received = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        received += len(chunk)
        if received >= limit:
            break
    return b"".join(chunks)[:limit]


def _too_large(status: int, limit: int, method: str, path: str) -> ResponseTooLargeError:
    explanation = f"the answer is larger than the {limit}-byte limit, reading stopped"
    return ResponseTooLargeError(
        format_message(method, path, status, explanation, None), status=status, method=method, path=path
    )
