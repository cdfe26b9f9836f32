"""Shared Key verification for the emulator, when an account name and key are configured.

Without a key every request is accepted (like a local dev service); with one, each request must
carry `Authorization: SharedKey <account>:<signature>` computed over the request as sent, and a
bad or missing signature gets the service's 403 AuthenticationFailed. Nothing secret is echoed.
"""

from __future__ import annotations

from starlette.requests import Request

from batch_mcp import sharedkey
from batch_mcp.emulator import errors
from batch_mcp.emulator.config import EmulatorConfig


def verify_request(config: EmulatorConfig, request: Request) -> None:
    if not config.verifies_shared_key:
        return
    assert config.account_name and config.account_key
    headers = dict(request.headers.items())
    given = headers.get("authorization", "")
    if not given:
        raise errors.authentication_failed("The request carries no Authorization header.")
    if not given.startswith("SharedKey "):
        raise errors.authentication_failed("The emulator accepts Shared Key authorization only.")
    if not given.startswith(f"SharedKey {config.account_name}:"):
        raise errors.authentication_failed("The account name in the Authorization header is not this account's.")
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    url = raw_path.decode("latin-1")
    if request.url.query:
        url += "?" + request.url.query
    if not sharedkey.verify(request.method, url, headers, config.account_name, [config.account_key]):
        raise errors.authentication_failed(
            "The MAC signature found in the HTTP request is not the same as any computed signature."
        )
