"""Azure Batch's half of Entra ID, for the tests: a gate in front of the emulator.

It accepts only Batch tokens from the test identity provider (audience https://batch.core.windows.net/,
issued to the MCP server's app registration through on-behalf-of), applies a role per user
(`reader`: GET and HEAD; `contributor`: everything; no role: nothing), answers 401/403 with
Batch's error envelope, and records every request it saw, with the user it was for, so a test
can assert what reached Batch and as whom.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

import jwt
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.entra.provider import BATCH_RESOURCE, IdentityProvider

READS = ("GET", "HEAD")


@dataclass(frozen=True)
class Seen:
    oid: str | None
    method: str
    path: str
    status: int


class BatchGate:
    def __init__(self, provider: IdentityProvider, app: ASGIApp, roles: dict[str, str]) -> None:
        self.provider = provider
        self.app = app
        self.roles = roles
        self._lock = threading.Lock()
        self.seen: list[Seen] = []

    def reset(self) -> None:
        with self._lock:
            self.seen.clear()

    def by(self, oid: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.oid == oid]

    def snapshot(self) -> list[Seen]:
        with self._lock:
            return list(self.seen)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        token = _bearer(scope)
        oid: str | None = None
        status = 0

        async def record(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            if token is None:
                await _error(401, "AuthenticationFailed", "The request has no Authorization header.")(
                    scope, receive, record
                )
                return
            try:
                claims = self.provider.decode(token, audience=BATCH_RESOURCE)
            except (jwt.PyJWTError, StopIteration):
                await _error(401, "AuthenticationFailed", "The access token is not valid for Batch.")(
                    scope, receive, record
                )
                return
            oid = claims.get("oid")
            if claims.get("appid") != self.provider.client_id or claims.get("iss") != self.provider.v1_issuer:
                await _error(401, "AuthenticationFailed", "The access token was not issued to this tenant's app.")(
                    scope, receive, record
                )
                return
            role = self.roles.get(oid or "")
            if role is None or (role == "reader" and method not in READS):
                await _error(403, "AuthorizationFailure", "This request is not authorized to perform this operation.")(
                    scope, receive, record
                )
                return
            await self.app(scope, receive, record)
        finally:
            with self._lock:
                self.seen.append(Seen(oid, method, path, status))


def _bearer(scope: Scope) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == b"authorization":
            text = value.decode("latin-1")
            if text.lower().startswith("bearer "):
                return text[7:]
    return None


def _error(status: int, code: str, message: str) -> Any:
    body = json.dumps(
        {
            "odata.metadata": "https://test.batch.azure.com/$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element",
            "code": code,
            "message": {"lang": "en-US", "value": message},
        }
    ).encode()

    async def respond(scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json;odata=minimalmetadata"), (b"request-id", b"gate")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return respond
