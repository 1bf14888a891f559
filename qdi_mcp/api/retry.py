"""When and how long to wait before repeating a request.

Reads (GET) are repeated on throttling, gateway errors and network failures. Writes (POST/PUT) are
repeated only when the service certainly never saw them (the connection was never made) or when it
explicitly refused them with 429; repeating a write that may have landed could start a task twice.
"""

from __future__ import annotations

import random
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import Enum

import httpx

READ_RETRY_STATUSES = frozenset({429, 502, 503, 504})
WRITE_RETRY_STATUSES = frozenset({429})


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds for repeating a request: attempts in all, back-off growth, and total time spent."""

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_total: float = 30.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_total < 0:
            raise ValueError("retry delays and max_total must not be negative")

    def backoff(self, retry_number: int, rng: random.Random | None = None) -> float:
        """Delay before retry `retry_number` (1 for the first retry): exponential, capped, jittered."""
        delay = min(self.max_delay, self.base_delay * 2 ** max(retry_number - 1, 0))
        if self.jitter:
            # keep at least half the delay so retries from many clients spread out without bunching at 0
            delay = (rng or random).uniform(delay / 2, delay)
        return delay


class FailureKind(Enum):
    """What a transport failure tells us about whether the service saw the request."""

    NOT_SENT = "not_sent"  # the service certainly never received it
    MAYBE_SENT = "maybe_sent"  # it may have been received and acted upon
    FATAL = "fatal"  # a local problem that repeating cannot fix


def classify_transport_failure(exc: httpx.HTTPError) -> FailureKind:
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return FailureKind.NOT_SENT
    # A body that cannot be decoded arrived after the headers: the service certainly saw the request.
    if isinstance(exc, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError | httpx.DecodingError):
        return FailureKind.MAYBE_SENT
    return FailureKind.FATAL


# What a person can act on when the tenant could not be reached. The exception's own text is never shown (some embed
# the URL); it is only matched, for causes that arrive without a typed exception behind them.
CAUSE_REFUSED = "connection refused"
CAUSE_DNS = "DNS lookup failed"
CAUSE_TLS = "TLS handshake failed"
CAUSE_TIMEOUT = "timed out"
CAUSE_RESET = "connection reset or closed early"
CAUSE_NETWORK = "network error"
_CAUSE_WORDS = (
    (CAUSE_TLS, ("certificate verify failed", "ssl", "tls")),
    (CAUSE_DNS, ("name or service not known", "nodename nor servname", "getaddrinfo", "name resolution", "no address")),
    (CAUSE_REFUSED, ("connection refused", "actively refused")),
)


def transport_failure_cause(exc: httpx.HTTPError) -> str:
    """The cause of a transport failure in a person's words: refused, DNS, TLS, timeout, reset, or network error."""
    if isinstance(exc, httpx.TimeoutException):
        return CAUSE_TIMEOUT
    for link in _cause_chain(exc):
        # SSLError is an OSError too: it must be told apart before the generic OS errors.
        if isinstance(link, ssl.SSLError):
            return CAUSE_TLS
        if isinstance(link, socket.gaierror):
            return CAUSE_DNS
        if isinstance(link, ConnectionRefusedError):
            return CAUSE_REFUSED
        if isinstance(link, TimeoutError):
            return CAUSE_TIMEOUT
        if isinstance(link, ConnectionResetError | ConnectionAbortedError | BrokenPipeError):
            return CAUSE_RESET
    text = " ".join(str(link).lower() for link in _cause_chain(exc))
    for cause, words in _CAUSE_WORDS:
        if any(word in text for word in words):
            return cause
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return CAUSE_RESET
    return CAUSE_NETWORK


def _cause_chain(exc: BaseException) -> Iterator[BaseException]:
    # httpx wraps httpcore's error, which wraps the socket's: the useful type is at the bottom.
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


def is_idempotent(method: str) -> bool:
    return method.upper() in {"GET", "HEAD", "OPTIONS"}


def should_retry_status(method: str, status: int) -> bool:
    statuses = READ_RETRY_STATUSES if is_idempotent(method) else WRITE_RETRY_STATUSES
    return status in statuses


def should_retry_failure(method: str, kind: FailureKind) -> bool:
    if kind is FailureKind.NOT_SENT:
        return True
    return kind is FailureKind.MAYBE_SENT and is_idempotent(method)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if absent or bad."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if seconds == seconds else None  # NaN is not a delay
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)
