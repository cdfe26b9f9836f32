"""The Batch Shared Key signature, computed the same way by the client that signs and the
emulator that verifies.

The string to sign is, in order: the verb; the values of eleven standard headers (an empty
line when absent, and `0` for a missing Content-Length on anything but GET and HEAD); every
`ocp-*` header as `name:value`, sorted; `/<account><path as sent>`; then each query parameter,
sorted by name, as `\\n<name>:<decoded value>` (first value only, empty values skipped).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import parse_qs, urlsplit

SIGNED_HEADERS = (
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
)


def string_to_sign(method: str, url: str, headers: Mapping[str, str], account: str) -> str:
    """`url` may be absolute or just path and query; `headers` as sent (any case)."""
    parts = urlsplit(url)
    present = {name.lower(): value for name, value in headers.items() if value}
    if method.upper() not in ("GET", "HEAD"):
        present.setdefault("content-length", "0")
    lines = [method.upper()]
    lines.extend(present.get(name, "") for name in SIGNED_HEADERS)
    text = "\n".join(lines) + "\n"
    text += "".join(
        f"{name}:{value}\n"
        for name, value in sorted((name, value) for name, value in present.items() if name.startswith("ocp-"))
    )
    text += f"/{account}{parts.path}"
    query = parse_qs(parts.query, keep_blank_values=True)
    for name in sorted(query):
        value = query[name][0]
        if value:
            text += f"\n{name}:{value}"
    return text


def sign(key: str, text: str) -> str:
    """Base64 HMAC-SHA256 of `text` with the base64-encoded account key."""
    digest = hmac.new(base64.b64decode(key), text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def authorization(method: str, url: str, headers: Mapping[str, str], account: str, key: str) -> str:
    """The Authorization header value for a request."""
    return f"SharedKey {account}:{sign(key, string_to_sign(method, url, headers, account))}"


def verify(method: str, url: str, headers: Mapping[str, str], account: str, keys: list[str]) -> bool:
    """True when the request's Authorization header matches any of the account's keys."""
    given = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    prefix = f"SharedKey {account}:"
    if not given.startswith(prefix):
        return False
    unsigned = {k: v for k, v in headers.items() if k.lower() != "authorization"}
    text = string_to_sign(method, url, unsigned, account)
    return any(hmac.compare_digest(given[len(prefix) :], sign(key, text)) for key in keys)
