"""Continuations: where a bounded list stopped, handed to the caller as an opaque string.

A continuation is base64url JSON of the tool name, the page URL to fetch (an `odata.nextLink`, or the
first page's URL when a page was cut short) and how many items of that page were already returned.
It comes back from an untrusted party (the model), so before use it is checked against this call:
the same tool, a URL on the configured endpoint's scheme, host and port (a forged link must never
receive our credentials), and the same resource path as the arguments give.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from urllib.parse import unquote

import httpx2

from batch_mcp.batch.errors import BatchProtocolError, ContinuationError

__all__ = ["Continuation", "check_link", "origin"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Continuation:
    tool: str
    link: str
    skip: int = 0

    def encode(self) -> str:
        raw = json.dumps({"t": self.tool, "l": self.link, "s": self.skip}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    @classmethod
    def decode(cls, token: str, *, tool: str, endpoint: httpx2.URL, path: str) -> Continuation:
        """Parse and validate a continuation for a call of `tool` whose resource path is `path`."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            data = json.loads(raw)
            found = cls(str(data["t"]), str(data["l"]), int(data.get("s", 0)))
        except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
            raise ContinuationError("the continuation is not one this server issued; list again without it") from None
        if found.tool != tool:
            raise ContinuationError(f"the continuation belongs to {found.tool!r}, not {tool!r}")
        if found.skip < 0:
            raise ContinuationError("the continuation is damaged; list again without it")
        check_link(found.link, endpoint, path, ContinuationError)
        return found


def origin(url: httpx2.URL) -> tuple[str, str, int | None]:
    scheme = url.scheme.lower()
    return scheme, url.host.lower(), url.port or _DEFAULT_PORTS.get(scheme)


def check_link(
    link: str,
    endpoint: httpx2.URL,
    path: str,
    error: type[ContinuationError] | type[BatchProtocolError] = BatchProtocolError,
) -> httpx2.URL:
    """The link as a URL, if it points at the configured endpoint and at `path` under its base path."""
    try:
        url = httpx2.URL(link)
    except (httpx2.InvalidURL, TypeError):
        raise error("a paging link is not a valid URL") from None
    if not url.is_absolute_url:
        url = endpoint.join(url)
    if origin(url) != origin(endpoint):
        there, here = origin(url), origin(endpoint)
        raise error(
            f"a paging link points at {there[0]}://{there[1]}:{there[2]}, not the configured endpoint "
            f"{here[0]}://{here[1]}:{here[2]}; refusing to follow it"
        )
    expected = endpoint.path.rstrip("/") + path
    if unquote(url.path).rstrip("/").lower() != unquote(expected).rstrip("/").lower():
        raise error("the continuation is for another resource than these arguments name")
    return url
