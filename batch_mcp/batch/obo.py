"""Calling Batch as the signed-in user: Microsoft Entra ID's on-behalf-of flow, one user per request.

The server receives each user's access token for itself; `OnBehalfOfAuth` exchanges it (through
azure-identity's `OnBehalfOfCredential` and the server's app registration) for a Batch token in
that user's name, so Batch's own role assignments decide what each user may do. The user's token
itself never goes to Batch.

Which user a request is for comes from `source`, asked on every request (the server reads it
from the request's authorization). Per user, the Batch token is cached until shortly before it
expires; the credential is kept for the newest token the user has presented, and its refresh
token lets a long-lived subscription keep polling after the user's own token has expired. A
request with no user fails closed: this auth never falls back to the server's own identity.
At most `max_users` users are remembered (least recently used first out).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
import httpx2

from batch_mcp.batch.auth import BATCH_SCOPE, REFRESH_WINDOW_SECONDS, AsyncTokenCredential, _explain
from batch_mcp.batch.errors import BatchAuthError

__all__ = ["CredentialFactory", "OnBehalfOfAuth", "UserAssertion", "obo_credential_factory"]

logger = logging.getLogger(__name__)

MAX_USERS = 1000
NO_USER_HINT = "Sign in to the MCP server with Microsoft Entra ID; every Batch call is made as the signed-in user"
OBO_HINT = (
    "The server's app registration needs the Azure Batch delegated permission user_impersonation with admin "
    "consent, and its client secret or certificate must be current; the user may need to sign in again"
)


@dataclass(frozen=True)
class UserAssertion:
    """A signed-in user's access token to this server: what on-behalf-of exchanges for a Batch token."""

    key: str  # stable per user across tokens: "<tenant id>/<object id>"
    display: str  # for messages: the user's name or sign-in name
    token: str = field(repr=False)
    expires_at: float = 0.0


class CredentialFactory(Protocol):
    def __call__(self, assertion: str) -> AsyncTokenCredential: ...


@dataclass(eq=False)
class _UserTokens:
    lock: anyio.Lock = field(default_factory=anyio.Lock)
    assertion: UserAssertion | None = None
    credential: Any = None
    token: str | None = field(default=None, repr=False)
    expires_on: float = 0.0


class OnBehalfOfAuth(httpx2.Auth):
    def __init__(
        self,
        credentials: CredentialFactory,
        source: Callable[[], UserAssertion | None],
        *,
        scope: str = BATCH_SCOPE,
        max_users: int = MAX_USERS,
        refresh_window: float = REFRESH_WINDOW_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._credentials = credentials
        self._source = source
        self._scope = scope
        self._max_users = max_users
        self._refresh_window = refresh_window
        self._clock = clock
        self._users: OrderedDict[str, _UserTokens] = OrderedDict()
        self._retired: list[Any] = []  # credentials of evicted users, closed on the next exchange
        self.exchanges = 0  # tokens obtained from Entra ID, for tests and the bench
        self.credential_name = "Microsoft Entra ID on behalf of the signed-in user"
        self.hint = OBO_HINT

    def __repr__(self) -> str:
        return f"OnBehalfOfAuth(scope={self._scope!r}, users={len(self._users)})"

    def sync_auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        raise RuntimeError("OnBehalfOfAuth works with httpx2.AsyncClient only")

    async def async_auth_flow(self, request: httpx2.Request) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        if request.url.scheme != "https":
            raise BatchAuthError(
                self.credential_name,
                "Use an https:// endpoint for Microsoft Entra ID",
                "refusing to send a bearer token over plain HTTP",
            )
        user = self._source()
        if user is None:
            raise BatchAuthError(self.credential_name, NO_USER_HINT, "this request has no signed-in user")
        token = await self._token_for(user)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:  # revoked or rotated early: one fresh exchange, then Batch's answer stands
            token = await self._token_for(user, stale=token)
            request.headers["Authorization"] = f"Bearer {token}"
            yield request

    def cached_users(self) -> int:
        return len(self._users)

    async def _token_for(self, user: UserAssertion, stale: str | None = None) -> str:
        slot = self._slot(user.key)
        async with slot.lock:
            self._adopt(slot, user)
            if stale is not None and slot.token == stale:
                slot.token = None
            if slot.token is not None and self._clock() < slot.expires_on - self._refresh_window:
                return slot.token
            if slot.credential is None:
                assert slot.assertion is not None
                slot.credential = self._credentials(slot.assertion.token)
            try:
                access = await slot.credential.get_token(self._scope)
            except Exception as exc:  # azure-identity raises several unrelated types
                raise BatchAuthError(
                    f"Microsoft Entra ID on behalf of {user.display}", OBO_HINT, _explain(exc)
                ) from None
            self.exchanges += 1
            token: str = access.token
            slot.token, slot.expires_on = token, float(access.expires_on)
            await self._close_retired()
            return token

    def _slot(self, key: str) -> _UserTokens:
        slot = self._users.get(key)
        if slot is None:
            slot = self._users[key] = _UserTokens()
            while len(self._users) > self._max_users:
                _, evicted = self._users.popitem(last=False)
                if evicted.credential is not None and not evicted.lock.locked():  # an exchange in flight keeps it
                    self._retired.append(evicted.credential)
        else:
            self._users.move_to_end(key)
        return slot

    def _adopt(self, slot: _UserTokens, user: UserAssertion) -> None:
        """Keep the credential of the newest token the user presented (a watcher may hold an older one)."""
        held = slot.assertion
        if held is not None and (held.token == user.token or held.expires_at >= user.expires_at):
            return
        slot.assertion = user
        if slot.credential is not None:
            self._retired.append(slot.credential)
            slot.credential = None

    async def _close_retired(self) -> None:
        retired, self._retired = self._retired, []
        for credential in retired:
            close = getattr(credential, "close", None)
            if close is not None:
                try:
                    await close()
                except Exception as exc:  # closing must never fail a call
                    logger.debug("closing an on-behalf-of credential failed: %s", exc)

    async def aclose(self) -> None:
        for slot in self._users.values():
            if slot.credential is not None:
                self._retired.append(slot.credential)
        self._users.clear()
        await self._close_retired()


def obo_credential_factory(
    *,
    tenant_id: str,
    client_id: str,
    client_secret: str | None = None,
    client_certificate: bytes | None = None,
    authority: str | None = None,
    **options: Any,
) -> CredentialFactory:
    """`OnBehalfOfCredential`s for the server's app registration, one per user token.

    `options` go to the credential (and its HTTP pipeline); without a `transport`, one that needs no
    aiohttp is used (azure-identity's async default)."""
    from azure.identity.aio import OnBehalfOfCredential

    from batch_mcp.batch.auth import _identity_transport

    def make(assertion: str) -> AsyncTokenCredential:
        extra = dict(options)
        if "transport" not in extra:
            extra.update(_identity_transport())
        if authority:
            extra["authority"] = authority
        secret: dict[str, Any] = (
            {"client_certificate": client_certificate} if client_certificate else {"client_secret": client_secret}
        )
        return OnBehalfOfCredential(tenant_id, client_id, user_assertion=assertion, **secret, **extra)

    return make
