"""Continuations: where a bounded list stopped, handed to the caller as an opaque string.

A continuation names the page to fetch (an `odata.nextLink`, or the first page's URL when a page was
cut short) and how many items of that page were already returned. It holds only what the call
cannot rebuild: the tool name, a short digest of the resource path, the skip count and the page's
query string, base64url-encoded (a model reads and repeats it, so every character costs). It comes
back from an untrusted party (the model), so before use it is checked against this call: the same
tool and the same resource path as the arguments give; the URL is then rebuilt on the configured
endpoint, so a forged continuation can never send our credentials anywhere else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
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
        url = httpx2.URL(self.link)
        raw = f"{self.tool}|{_path_tag(url.path)}|{self.skip}|{url.query.decode('ascii')}"
        return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode("ascii")

    @classmethod
    def decode(cls, token: str, *, tool: str, endpoint: httpx2.URL, path: str) -> Continuation:
        """Parse and validate a continuation for a call of `tool` whose resource path is `path`."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
            found_tool, tag, skip, query = raw.split("|", 3)
            found_skip = int(skip)
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise ContinuationError("the continuation is not one this server issued; list again without it") from None
        if found_tool != tool:
            raise ContinuationError(f"the continuation belongs to {found_tool!r}, not {tool!r}")
        if found_skip < 0 or any(c in query for c in "#\r\n"):
            raise ContinuationError("the continuation is damaged; list again without it")
        full_path = endpoint.path.rstrip("/") + path
        if tag != _path_tag(full_path):
            raise ContinuationError("the continuation is for another resource than these arguments name")
        link = str(endpoint.copy_with(path=full_path, query=query.encode("ascii") or None))
        check_link(link, endpoint, path, ContinuationError)
        return cls(found_tool, link, found_skip)


def _path_tag(path: str) -> str:
    """A short digest of a resource path, compared as `check_link` compares paths."""
    return hashlib.sha256(unquote(path).rstrip("/").lower().encode()).hexdigest()[:8]


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
