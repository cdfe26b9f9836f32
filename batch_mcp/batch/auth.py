"""How requests prove who sends them: Shared Key, Microsoft Entra ID, or nothing (the local emulator).

Both are `httpx2.Auth` flows, so the client's retry loop, which sits above auth, gets a fresh
signature (a new `ocp-date`) or a fresh token on every attempt. Secrets are registered with
`redaction` the moment they are known, and no repr, log line or error here contains one.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import importlib.util
import time
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any, Literal, Protocol

import anyio
import httpx2

from batch_mcp import sharedkey
from batch_mcp.batch.errors import BatchAuthError
from batch_mcp.redaction import redact_text, register_secret

__all__ = [
    "BATCH_SCOPE",
    "EntraIdAuth",
    "NoAuthInfo",
    "SharedKeyAuth",
    "describe_auth",
    "make_auth",
]

# The double slash is what the service and the official SDK use.
BATCH_SCOPE = "https://batch.core.windows.net//.default"
REFRESH_WINDOW_SECONDS = 300.0
SHARED_KEY_HINT = (
    "Set AZURE_BATCH_ACCOUNT to the account name and AZURE_BATCH_ACCESS_KEY to one of its access keys "
    "(Azure portal: Batch account > Keys)"
)
ENTRA_HINT = (
    "Sign in with `az login`, or configure a managed identity or AZURE_TENANT_ID/AZURE_CLIENT_ID with a "
    "client secret or federated token; the identity needs a Batch data-plane role on the account. "
    "Alternatively set AZURE_BATCH_ACCESS_KEY to use Shared Key"
)
NO_AUTH_HINT = (
    "No credential is configured: set AZURE_BATCH_ACCESS_KEY (with AZURE_BATCH_ACCOUNT) for Shared Key, "
    "or choose Microsoft Entra ID authentication"
)

CredentialKind = Literal["default", "cli", "managed_identity", "environment", "workload_identity"]


class AsyncTokenCredential(Protocol):
    async def get_token(self, *scopes: str, **kwargs: Any) -> Any: ...


def _http_date() -> str:
    return email.utils.formatdate(usegmt=True)


class SharedKeyAuth(httpx2.Auth):
    """Signs each request with the account key (the body must be read: Content-Length is signed)."""

    requires_request_body = True

    def __init__(self, account: str, key: str, *, now: Callable[[], str] = _http_date) -> None:
        if not account:
            raise BatchAuthError("Shared Key", SHARED_KEY_HINT, "no account name is configured")
        try:
            decoded = base64.b64decode(key, validate=True)
        except (binascii.Error, ValueError, TypeError):
            decoded = b""
        register_secret(key)
        if not decoded:
            raise BatchAuthError(
                f"Shared Key for account {account!r}", SHARED_KEY_HINT, "the access key is not valid base64"
            )
        self.account = account
        self._key = key
        self._now = now
        self.credential_name = f"Shared Key for account {account!r}"
        self.hint = SHARED_KEY_HINT

    def __repr__(self) -> str:
        return f"SharedKeyAuth(account={self.account!r})"

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        if "ocp-date" not in request.headers:
            request.headers["ocp-date"] = self._now()
        request.headers["Authorization"] = sharedkey.authorization(
            request.method, str(request.url), request.headers, self.account, self._key
        )
        yield request


class EntraIdAuth(httpx2.Auth):
    """A bearer token from an async azure-identity credential, fetched under a lock, cached, refreshed
    `refresh_window` seconds before it expires, and re-fetched once if the service answers 401."""

    def __init__(
        self,
        credential: AsyncTokenCredential,
        scope: str = BATCH_SCOPE,
        *,
        name: str | None = None,
        owns_credential: bool = False,
        refresh_window: float = REFRESH_WINDOW_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._credential = credential
        self._scope = scope
        self._owns = owns_credential
        self._refresh_window = refresh_window
        self._clock = clock
        self._lock = anyio.Lock()
        self._token: str | None = None
        self._expires_on = 0.0
        self.credential_name = f"Microsoft Entra ID ({name or type(credential).__name__})"
        self.hint = ENTRA_HINT
        self.fetches = 0  # how many tokens were requested, for tests and diagnostics

    def __repr__(self) -> str:
        return f"EntraIdAuth(credential={type(self._credential).__name__}, scope={self._scope!r})"

    def sync_auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        raise RuntimeError("EntraIdAuth works with httpx2.AsyncClient only")

    async def async_auth_flow(self, request: httpx2.Request) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        if request.url.scheme != "https":
            raise BatchAuthError(
                self.credential_name,
                "Use an https:// endpoint for Microsoft Entra ID",
                "refusing to send a bearer token over plain HTTP",
            )
        token = await self._get_token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            token = await self._get_token(stale=token)
            request.headers["Authorization"] = f"Bearer {token}"
            yield request

    async def _get_token(self, stale: str | None = None) -> str:
        async with self._lock:
            if stale is not None and self._token == stale:
                self._token = None  # the service refused it: fetch a new one, once
            if self._token is not None and self._clock() < self._expires_on - self._refresh_window:
                return self._token
            try:
                access = await self._credential.get_token(self._scope)
            except Exception as exc:  # azure-identity raises several unrelated types
                raise BatchAuthError(self.credential_name, self.hint, _explain(exc)) from None
            self.fetches += 1
            register_secret(access.token)
            self._token = token = access.token
            self._expires_on = float(access.expires_on)
            return token

    async def aclose(self) -> None:
        if self._owns:
            close = getattr(self._credential, "close", None)
            if close is not None:
                await close()


def _explain(exc: BaseException) -> str:
    """The credential's own explanation (azure-identity lists what it tried), on one line and bounded."""
    text = " ".join(redact_text(str(exc)).split()) or type(exc).__name__
    return text if len(text) <= 500 else text[:500].rsplit(" ", 1)[0] + " …"


class NoAuthInfo:
    """What an authentication error says when no credential was configured."""

    credential_name = "no credential"
    hint = NO_AUTH_HINT


def describe_auth(auth: httpx2.Auth | None) -> tuple[str, str]:
    """(which credential, what to set) for an authentication error."""
    source = auth if auth is not None else NoAuthInfo
    return (
        getattr(source, "credential_name", type(source).__name__),
        getattr(source, "hint", NO_AUTH_HINT),
    )


def _identity_transport() -> dict[str, Any]:
    """azure-identity's async credentials default to aiohttp, which we do not ship; use requests instead."""
    if importlib.util.find_spec("aiohttp") is not None:
        return {}
    from azure.core.pipeline.transport import AsyncioRequestsTransport

    return {"transport": AsyncioRequestsTransport()}


def make_credential(kind: CredentialKind) -> AsyncTokenCredential:
    """An async azure-identity credential by short name."""
    from azure.identity import aio

    try:
        if kind == "cli":
            return aio.AzureCliCredential()
        factories: dict[str, Callable[..., Any]] = {
            "default": aio.DefaultAzureCredential,
            "managed_identity": aio.ManagedIdentityCredential,
            "environment": aio.EnvironmentCredential,
            "workload_identity": aio.WorkloadIdentityCredential,
        }
        if kind not in factories:
            raise BatchAuthError(
                f"Microsoft Entra ID ({kind})",
                "Choose one of default, cli, managed_identity, environment, workload_identity",
                "unknown credential kind",
            )
        return factories[kind](**_identity_transport())
    except BatchAuthError:
        raise
    except Exception as exc:  # missing settings are reported as ValueError by azure-identity
        raise BatchAuthError(f"Microsoft Entra ID ({kind})", ENTRA_HINT, _explain(exc)) from None


def make_auth(
    kind: Literal["shared_key", "entra", "none"],
    *,
    account: str | None = None,
    key: str | None = None,
    credential: CredentialKind | AsyncTokenCredential | None = None,
    scope: str = BATCH_SCOPE,
) -> httpx2.Auth | None:
    """The auth for a kind of credential, from plain settings values."""
    if kind == "none":
        return None
    if kind == "shared_key":
        if not key:
            raise BatchAuthError("Shared Key", SHARED_KEY_HINT, "no access key is configured")
        return SharedKeyAuth(account or "", key)
    if kind == "entra":
        if credential is None or isinstance(credential, str):
            return EntraIdAuth(make_credential(credential or "default"), scope, owns_credential=True)
        return EntraIdAuth(credential, scope)
    raise ValueError(f"unknown auth kind {kind!r}; expected shared_key, entra or none")
