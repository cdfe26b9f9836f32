"""Shared Key verification for the emulator, when an account name and key are configured.

Without a key every request is accepted (like a local dev service); with one, each request must
carry `Authorization: SharedKey <account>:<signature>` computed over the request as sent, and a
bad or missing signature gets the service's 403 AuthenticationFailed. Nothing secret is echoed.

The signed date (`ocp-date`, else `Date`) must be within 15 minutes of the emulator's clock, as
the service requires, so a request captured once cannot be replayed later.
"""

from __future__ import annotations

import datetime
import email.utils
import time

from starlette.requests import Request

from batch_mcp import sharedkey
from batch_mcp.emulator import errors
from batch_mcp.emulator.config import EmulatorConfig


def verify_request(config: EmulatorConfig, request: Request) -> None:
    keys = config.keys
    if not keys:
        return
    headers = dict(request.headers.items())
    given = headers.get("authorization", "")
    if not given:
        raise errors.authentication_failed("The request carries no Authorization header.")
    if not given.startswith("SharedKey "):
        raise errors.authentication_failed("The emulator accepts Shared Key authorization only.")
    account = given[len("SharedKey ") :].split(":", 1)[0]
    if account not in keys:
        raise errors.authentication_failed("The account name in the Authorization header is not this account's.")
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    url = raw_path.decode("latin-1")
    if request.url.query:
        url += "?" + request.url.query
    if not sharedkey.verify(request.method, url, headers, account, [keys[account]]):
        raise errors.authentication_failed(
            "The MAC signature found in the HTTP request is not the same as any computed signature."
        )
    check_date(headers.get("ocp-date") or headers.get("date") or "")


MAX_CLOCK_SKEW = 15 * 60  # seconds a signed request's date may differ from the emulator's clock


def check_date(text: str, now: float | None = None) -> None:
    """The signed date must be present and no more than 15 minutes off."""
    if not text:
        raise errors.authentication_failed("The request carries no ocp-date or Date header.")
    try:
        stamp = email.utils.parsedate_to_datetime(text)
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=datetime.UTC)
        sent = stamp.timestamp()
    except (TypeError, ValueError, OverflowError, IndexError):
        raise errors.authentication_failed("The request date is not an RFC 1123 date.") from None
    skew = abs((time.time() if now is None else now) - sent)
    if skew > MAX_CLOCK_SKEW:
        raise errors.authentication_failed(
            "The request date is more than 15 minutes away from the service's time; sign each request anew."
        )
