"""The `WWW-Authenticate` header of a refused request, as the MCP authorization spec words it.

The SDK's bearer middleware refuses with `error="invalid_token"` and the metadata URL alone.
This wrapper restates the challenge per RFC 6750 and the MCP spec: a request without a token gets
no error code; every challenge names the scope to ask for (`scope=`) and the protected resource
metadata (`resource_metadata=`); an invalid token's description says what was wrong with it
(expired, another audience, ...), never anything about the token's content.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from batch_mcp.server.entra.tokens import rejection


class BearerChallenge:
    def __init__(self, app: ASGIApp, *, resource_metadata: str, scope: str) -> None:
        self.app = app
        self.resource_metadata = resource_metadata
        self.scope = scope

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rejection.set(None)
        has_token = any(
            key.lower() == b"authorization" and value[:7].lower() == b"bearer "
            for key, value in scope.get("headers", ())
        )

        async def challenge(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in (401, 403):
                headers = list(message.get("headers", []))
                if any(key.lower() == b"www-authenticate" for key, _ in headers):
                    value = self._header(message["status"], has_token)
                    headers = [(k, v) for k, v in headers if k.lower() != b"www-authenticate"]
                    headers.append((b"www-authenticate", value.encode("latin-1", "replace")))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, challenge)

    def _header(self, status: int, has_token: bool) -> str:
        parts: list[tuple[str, Any]] = []
        if status == 403:
            parts += [("error", "insufficient_scope"), ("error_description", f"the token lacks the scope {self.scope}")]
        elif has_token:
            parts += [("error", "invalid_token"), ("error_description", rejection.get() or "the token is not valid")]
        parts += [("scope", self.scope), ("resource_metadata", self.resource_metadata)]
        return "Bearer " + ", ".join(f'{name}="{_quoted(str(value))}"' for name, value in parts)


def _quoted(text: str) -> str:
    return "".join(ch for ch in text if ch.isprintable() and ch not in '"\\')
