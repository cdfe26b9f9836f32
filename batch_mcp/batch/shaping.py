"""Wire responses → the result shapes the catalog's output schemas promise.

Shared by the client (which produces them), the server (which returns them) and the catalog
tests (which check every spec example against the output schemas through these functions).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_DIGITS = re.compile(r"^-?[0-9]{1,19}$")



def _size(value: str) -> int:
    """A byte count: digits only (a size of "-5", "1e3" or "lots" is not one, and is left out)."""
    text = value.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        raise ValueError(f"not a file size: {value[:20]!r}")
    return int(text)


FILE_PROPERTY_HEADERS = {
    "content-length": ("contentLength", _size),
    "content-type": ("contentType", str),
    "ocp-creation-time": ("creationTime", str),
    "last-modified": ("lastModified", str),
    "ocp-batch-file-isdirectory": ("isDirectory", lambda v: str(v).lower() == "true"),
    "ocp-batch-file-url": ("url", str),
    "ocp-batch-file-mode": ("fileMode", str),
}
# Response headers worth reporting for calls that return no body (creates, 202/204 actions).
REPORTED_HEADERS = {
    "etag": "eTag",
    "last-modified": "lastModified",
    "dataserviceid": "dataServiceId",
    "location": "location",
    "request-id": "requestId",
}


def int64_numbers(value: Any, fields: frozenset[str]) -> Any:
    """`value` with every string of digits under one of `fields` (the catalog's 64-bit integer fields,
    which the service may send as strings) turned into a number, at any depth."""
    if not fields:
        return value
    if isinstance(value, dict):
        return {
            k: int(v) if k in fields and isinstance(v, str) and _DIGITS.match(v) else int64_numbers(v, fields)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [int64_numbers(v, fields) for v in value]
    return value


def strip_odata(body: Any) -> Any:
    """Drop OData bookkeeping keys (`odata.metadata`, `odata.nextLink`, ...) at the top level."""
    if isinstance(body, dict):
        return {k: v for k, v in body.items() if not k.startswith("odata.")}
    return body


def file_properties(headers: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    lowered = {k.lower(): v for k, v in headers.items()}
    for header, (name, convert) in FILE_PROPERTY_HEADERS.items():
        if header in lowered:
            try:
                out[name] = convert(lowered[header])
            except ValueError:  # a header no service sends: not a property we can state
                continue
    return out


def reported_headers(headers: Mapping[str, str]) -> dict[str, str]:
    lowered = {k.lower(): v for k, v in headers.items()}
    return {name: lowered[h] for h, name in REPORTED_HEADERS.items() if h in lowered}


def list_result(
    items: list[Any], continuation: str | None = None, summary: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"items": items}
    if summary:
        out["summary"] = dict(summary)
    if continuation:
        out["continuation"] = continuation
    return out


def content_range(headers: Mapping[str, str]) -> tuple[int, int, int | None] | None:
    """(first byte, last byte, total size or None) from `Content-Range: bytes a-b/total`."""
    value = next((v for k, v in headers.items() if k.lower() == "content-range"), None)
    if not value:
        return None
    unit, _, rest = value.strip().partition(" ")
    span, _, total = rest.partition("/")
    first, _, last = span.partition("-")
    if unit.lower() != "bytes":
        return None
    try:
        return int(first), int(last), (int(total) if total.strip() not in ("", "*") else None)
    except ValueError:
        return None


def stream_properties(headers: Mapping[str, str], *, ranged: bool = False) -> dict[str, Any]:
    """File properties of a content reply: `contentLength` is this reply's length; `rangeStart`,
    `rangeEnd` and `fileSize` appear when the service states the range. For a reply to an unranged
    request the file size is the content length."""
    out = file_properties(headers)
    span = content_range(headers)
    if span is not None:
        out["rangeStart"], out["rangeEnd"] = span[0], span[1]
        if span[2] is not None:
            out["fileSize"] = span[2]
    elif not ranged and "contentLength" in out:
        out["fileSize"] = out["contentLength"]
    return out
