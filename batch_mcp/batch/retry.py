"""When to send a request again, and after how long: a pure policy, modelled on azure-core's
RetryPolicyBase, with the sleep and the clock injected so tests count attempts and waits without waiting.

The client's loop asks the policy after every failed attempt; the policy answers with a delay or
None ("give up") and a reason. What may be repeated depends on what the request does:

- `SAFE` (GET, HEAD, PUT, PATCH, DELETE and the POSTs the catalog marks idempotent): any retryable
  status, any connection failure, a body cut off or malformed.
- `CREATE` (a POST that makes a new pool/job/schedule/task, and add-task-collection): the same,
  because the client resolves a later `*Exists` conflict by reading the entity back.
- `UNSAFE` (other POSTs: reboot, terminate, ...): only when the request cannot have been applied,
  i.e. the connection was never made, or the service said so (408, 429, 503, or any `Retry-After`).

A connection that cannot be made for a reason that will not go away by itself (the host name does
not resolve, the TLS handshake fails, the URL is not http(s)) is not retried at all, and a refused
connection only for `refused_grace` seconds (a server restarting): the decision says why
(`lasting`), so the caller can name the setting to fix instead of waiting out the budget.

Time is bounded twice: `max_attempts`, and a total `budget` across attempts and waits. A server
delay (`Retry-After`, `retry-after-ms`, `x-ms-retry-after-ms`) replaces the computed backoff; when it
would end past the budget the policy gives up at once rather than sleeping in vain.
"""

from __future__ import annotations

import email.utils
import random
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import anyio
import httpx2

from batch_mcp.batch.errors import BatchProtocolError

__all__ = ["Decision", "RetryMode", "RetryPolicy", "RetrySettings", "RetryState"]

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# Replies that prove the service did not apply the request, so even a non-idempotent one may be repeated.
NOT_APPLIED_STATUS = frozenset({408, 429, 503})
# Failures before any byte reached the service.
NOT_SENT_ERRORS: tuple[type[Exception], ...] = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout)
# Failures after the request may have reached the service (a body that cannot be decoded included).
MAYBE_APPLIED_ERRORS: tuple[type[Exception], ...] = (
    httpx2.DecodingError,
    httpx2.ReadTimeout,
    httpx2.WriteTimeout,
    httpx2.ReadError,
    httpx2.WriteError,
    httpx2.RemoteProtocolError,
    httpx2.CloseError,
)


class RetryMode(StrEnum):
    SAFE = "safe"
    CREATE = "create"
    UNSAFE = "unsafe"


@dataclass(frozen=True, slots=True)
class RetrySettings:
    """Defaults follow the official SDK's backoff (factor 0.8) with a shorter cap and an overall budget,
    because an agent waiting on a tool call is better served by a clear error than by a long silence."""

    max_attempts: int = 10
    budget: float = 120.0  # seconds across all attempts and waits
    backoff_factor: float = 0.8
    backoff_max: float = 30.0
    jitter: float = 0.25  # each computed wait is scaled by a random factor in [1 - jitter, 1 + jitter]
    retry_after_max: float = 120.0  # a server delay longer than this is not honoured: give up instead
    refused_grace: float = 2.0  # seconds a refused connection is tried again (a server restarting)
    status_codes: frozenset[int] = RETRYABLE_STATUS
    not_applied_status: frozenset[int] = NOT_APPLIED_STATUS


@dataclass(slots=True)
class RetryState:
    """One logical call's progress: attempts so far, when it must end, and what happened."""

    deadline: float
    started: float = 0.0
    attempt: int = 1
    slept: float = 0.0
    history: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Decision:
    delay: float | None  # None: give up
    reason: str
    lasting: str | None = None  # why the endpoint cannot be reached, when retrying would not change it

    @property
    def retry(self) -> bool:
        return self.delay is not None


class RetryPolicy:
    def __init__(
        self,
        settings: RetrySettings | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings or RetrySettings()
        self._sleep = sleep
        self.clock = clock
        self._rand = rand

    @classmethod
    def no_retries(cls, **kwargs: object) -> RetryPolicy:
        return cls(RetrySettings(max_attempts=1), **kwargs)  # type: ignore[arg-type]

    def start(self) -> RetryState:
        now = self.clock()
        return RetryState(deadline=now + self.settings.budget, started=now)

    def remaining(self, state: RetryState) -> float:
        return state.deadline - self.clock()

    # -- decisions ------------------------------------------------------------------------------

    def on_status(self, state: RetryState, status: int, headers: Mapping[str, str], mode: RetryMode) -> Decision:
        """After an error reply. Any reply with a server delay is retryable, as in azure-core."""
        server_delay = retry_after(headers)
        if status not in self.settings.status_codes and server_delay is None:
            return Decision(None, f"HTTP {status} is not retryable")
        if mode is RetryMode.UNSAFE and status not in self.settings.not_applied_status and server_delay is None:
            return Decision(None, f"HTTP {status} may mean the request was applied; not repeating it")
        return self._next(state, f"HTTP {status}", server_delay)

    def on_error(self, state: RetryState, error: Exception, mode: RetryMode) -> Decision:
        """After a transport failure, or a body that was cut off or could not be parsed."""
        name = type(error).__name__
        lasting = lasting_failure(error)
        if lasting is not None:
            refused, why = lasting
            if refused and self.clock() - state.started < self.settings.refused_grace:
                return self._next(state, name, None, until=state.started + self.settings.refused_grace)
            return Decision(None, why, lasting=why)
        if isinstance(error, NOT_SENT_ERRORS):
            return self._next(state, name, None)
        if isinstance(error, (*MAYBE_APPLIED_ERRORS, BatchProtocolError)):
            if mode is RetryMode.UNSAFE:
                return Decision(None, f"{name} after the request may have reached the service; not repeating it")
            return self._next(state, name, None)
        return Decision(None, f"{name} is not retryable")

    def _next(self, state: RetryState, what: str, server_delay: float | None, until: float | None = None) -> Decision:
        settings = self.settings
        if state.attempt >= settings.max_attempts:
            return Decision(None, f"{what}; gave up after {state.attempt} attempts")
        if server_delay is not None and server_delay > settings.retry_after_max:
            asked = f"the service asked to wait {server_delay:.0f} s"
            return Decision(None, f"{what}; {asked}, longer than this server waits")
        delay = server_delay if server_delay is not None else self.backoff(state.attempt)
        if self.clock() + delay >= state.deadline:
            return Decision(None, f"{what}; the {settings.budget:g} s retry budget would run out")
        if until is not None and self.clock() + delay >= until:
            delay = max(0.0, until - self.clock())  # one last try at the end of the grace period
        return Decision(delay, f"{what}; retrying in {delay:.2f} s")

    def backoff(self, attempt: int) -> float:
        """Exponential backoff for the wait after attempt `attempt` (1-based), with jitter."""
        settings = self.settings
        base = min(settings.backoff_max, settings.backoff_factor * (2 ** (attempt - 1)))
        spread = settings.jitter * (2 * self._rand() - 1)
        return max(0.0, base * (1 + spread))

    async def sleep(self, seconds: float) -> None:
        await self._sleep(seconds)

    async def wait(self, state: RetryState, decision: Decision) -> None:
        """Sleep for the decided delay and count the next attempt."""
        assert decision.delay is not None
        state.history.append(decision.reason)
        state.slept += decision.delay
        state.attempt += 1
        await self._sleep(decision.delay)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """The server's requested delay in seconds: `retry-after-ms` / `x-ms-retry-after-ms` (milliseconds)
    first, as azure-core does, then `Retry-After` (seconds or an HTTP date)."""
    if not isinstance(headers, httpx2.Headers):
        headers = {name.lower(): value for name, value in headers.items()}
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        value = headers.get(name)
        if value:
            try:
                return max(0.0, float(value) / 1000)
            except ValueError:
                pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def lasting_failure(error: BaseException) -> tuple[bool, str] | None:
    """Why a connection could not be made, when retrying will not change it: `(refused, why)`, where
    `refused` marks a refused connection (worth a short grace), else None. Reads the causes under
    httpx2's error (a socket, TLS or URL error, possibly inside an exception group)."""
    if isinstance(error, httpx2.UnsupportedProtocol | httpx2.InvalidURL):
        return False, "it is not an http:// or https:// URL"
    for cause in _causes(error):
        if isinstance(cause, socket.gaierror) and cause.errno in _NO_SUCH_HOST:
            return False, "its host name does not resolve (DNS: no such host)"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return False, f"its TLS certificate is not trusted ({cause.verify_message or cause.reason})"
        if isinstance(cause, ssl.SSLError):
            if cause.reason == "WRONG_VERSION_NUMBER":
                return False, "it does not speak TLS (a plain HTTP server, e.g. a local emulator: use http://)"
            return False, f"the TLS handshake failed ({cause.reason or cause})"
        if isinstance(cause, ConnectionRefusedError | FileNotFoundError):
            return True, "nothing accepts connections there (connection refused)"
    return None


_NO_SUCH_HOST = {socket.EAI_NONAME, socket.EAI_FAIL, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}


def _causes(error: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    pending = [error]
    while pending and len(found) < 32:
        current = pending.pop()
        if any(current is seen for seen in found):
            continue
        found.append(current)
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return found
