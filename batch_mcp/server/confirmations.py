"""Confirmation request states for 2026-07-28 clients: each one answers one question once.

The server asks a 2026-07-28 client for confirmation with an `InputRequiredResult`; the client
answers by calling the same tool again with the user's answer and the request state it was given.
The SDK's `RequestStateBoundary` seals that state and binds it to the exact tool, arguments,
principal and a time to live, but a sealed state stays valid until it expires: replayed, the same
"yes" would delete a job re-created under the same id. So each state carries a random id, and the
first call that presents it claims the id in a `UsedStates` record; every later presentation is
refused, whatever the answer and whatever happened in between.

`UsedStates` is deliberately small: a deployment with several replicas behind one endpoint
replaces `InMemoryUsedStates` with a shared store (one row per claimed id, kept until it expires)
and gives every replica the same request-state keys.
"""

from __future__ import annotations

import heapq
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

__all__ = ["PREFIX", "ConfirmState", "InMemoryUsedStates", "UsedStates"]

PREFIX = "batch-mcp/confirm/v2/"
MAX_RECORDED = 100_000  # claimed ids kept at once; beyond it, new claims fail closed until some expire


class UsedStates(Protocol):
    """The record of confirmation states already presented."""

    def claim(self, state_id: str, expires_at: float) -> bool:
        """True the first time `state_id` is claimed before `expires_at` (a Unix time); False when
        it was claimed before, has expired, or cannot be recorded. Must be atomic across callers."""
        ...


class InMemoryUsedStates:
    """`UsedStates` for one server process. Ids are forgotten once their state has expired, since
    an expired state is refused anyway, so memory is bounded by the rate of confirmations."""

    def __init__(self, *, clock: Callable[[], float] = time.time, limit: int = MAX_RECORDED) -> None:
        self._clock = clock
        self._limit = limit
        self._used: set[str] = set()
        self._expiries: list[tuple[float, str]] = []  # a heap, soonest expiry first
        self._lock = threading.Lock()

    def claim(self, state_id: str, expires_at: float) -> bool:
        now = self._clock()
        if not expires_at > now:
            return False
        with self._lock:
            self._forget_expired(now)
            if state_id in self._used or len(self._used) >= self._limit:
                return False
            self._used.add(state_id)
            heapq.heappush(self._expiries, (expires_at, state_id))
            return True

    def _forget_expired(self, now: float) -> None:
        while self._expiries and self._expiries[0][0] <= now:
            _, state_id = heapq.heappop(self._expiries)
            self._used.discard(state_id)

    def __len__(self) -> int:
        return len(self._used)


@dataclass(frozen=True)
class ConfirmState:
    """The plaintext inside a sealed request state: a random id, when it stops being valid, and
    `bound`, a digest of what the question showed that the answer must still be about when the call
    comes back (the command lines a template was filled with: a file may change in between)."""

    state_id: str
    expires_at: float
    bound: str = ""

    @classmethod
    def new(cls, ttl: float, *, bound: str = "", clock: Callable[[], float] = time.time) -> ConfirmState:
        return cls(secrets.token_urlsafe(18), clock() + ttl, bound)

    def encode(self) -> str:
        return f"{PREFIX}{self.state_id}/{self.expires_at:.3f}" + (f"/{self.bound}" if self.bound else "")

    @classmethod
    def parse(cls, text: str | None) -> ConfirmState | None:
        if not text or not text.startswith(PREFIX):
            return None
        state_id, _, rest = text.removeprefix(PREFIX).partition("/")
        expiry, _, bound = rest.partition("/")
        try:
            expires_at = float(expiry)
        except ValueError:
            return None
        if not state_id or expires_at != expires_at:  # NaN
            return None
        return cls(state_id, expires_at, bound)
