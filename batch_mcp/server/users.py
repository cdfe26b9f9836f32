"""Who a request is for: the signed-in Entra ID user behind it, when the server runs with
`--http-auth entra` (None over stdio and with the shared static token).

The user comes from the request's verified access token (the SDK keeps it in a context variable,
copied into every handler). Work done later for a user, such as a subscription's watcher polling
Batch, runs inside `acting_as(user)`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken

if TYPE_CHECKING:  # the Batch client loads with the backend, not at start-up
    from batch_mcp.batch.obo import UserAssertion

_acting: ContextVar[User | None] = ContextVar("batch_mcp_acting_user", default=None)


@dataclass(frozen=True)
class User:
    oid: str  # the user's object id in the tenant
    tid: str
    name: str | None
    username: str | None  # sign-in name (preferred_username / upn)
    token: str = field(repr=False)  # their access token to this server: the on-behalf-of assertion
    expires_at: float = 0.0

    @property
    def key(self) -> str:
        """Stable across the user's tokens and clients: what per-user state is keyed by."""
        return f"{self.tid}/{self.oid}"

    @property
    def display(self) -> str:
        return self.name or self.username or self.oid

    def assertion(self) -> UserAssertion:
        from batch_mcp.batch.obo import UserAssertion

        return UserAssertion(self.key, self.display, self.token, self.expires_at)

    def audit(self) -> dict[str, Any]:
        """What the audit log records about the user."""
        entry: dict[str, Any] = {"oid": self.oid, "tid": self.tid}
        if self.name:
            entry["name"] = self.name
        if self.username:
            entry["username"] = self.username
        return entry

    @classmethod
    def from_access_token(cls, access: AccessToken) -> User | None:
        claims = access.claims or {}
        oid, tid = claims.get("oid"), claims.get("tid")
        if not isinstance(oid, str) or not isinstance(tid, str):
            return None  # not an Entra ID token (the static token has no claims)
        username = claims.get("preferred_username") or claims.get("upn") or claims.get("unique_name")
        name = claims.get("name")
        return cls(
            oid=oid,
            tid=tid,
            name=name if isinstance(name, str) else None,
            username=username if isinstance(username, str) else None,
            token=access.token,
            expires_at=float(access.expires_at or 0),
        )


def current_user() -> User | None:
    acting = _acting.get()
    if acting is not None:
        return acting
    access = get_access_token()
    return User.from_access_token(access) if access is not None else None


def current_assertion() -> UserAssertion | None:
    """The on-behalf-of source: the current user's token, if any."""
    user = current_user()
    return user.assertion() if user is not None else None


def current_user_key() -> str | None:
    user = current_user()
    return user.key if user is not None else None


@contextmanager
def acting_as(user: User | None) -> Iterator[None]:
    reset = _acting.set(user)
    try:
        yield
    finally:
        _acting.reset(reset)
