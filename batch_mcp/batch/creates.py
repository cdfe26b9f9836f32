"""Telling our own create from someone else's.

A create (POST of a new pool, job, schedule, task, certificate) whose first attempt may have reached
the service is sent again with the same client-request-id. If the service then says the entity
already exists, it may be the one our lost attempt made. We read it back with the catalog's matching
GET tool and report success only if it carries what we sent and was made around the time we asked.
The reader is found from the catalog's paths (`POST /jobs` ↔ `GET /jobs/{jobId}`), not per operation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from batch_mcp.catalog import Catalog, ToolDef

__all__ = ["Reader", "created_since", "find_reader", "same_entity"]

CLOCK_SKEW_SECONDS = 300.0
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Reader:
    """The GET tool that reads back what a create tool makes, and where its path arguments come from."""

    tool: ToolDef
    fill: tuple[tuple[str, str, str], ...]  # (reader argument, "arg" | "body", name in that source)

    def arguments(self, create_args: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        for name, source, key in self.fill:
            value = (create_args if source == "arg" else body).get(key)
            if value in (None, ""):
                return None
            out[name] = value
        return out


def find_reader(catalog: Catalog, create: ToolDef) -> Reader | None:
    """`GET <create path>/{xId}` (or `<create path>(k={k},...)`) returning JSON, if the catalog has one."""
    base = create.http.path
    create_wires = {b.wire: name for name, b in create.http.args.items() if b.location == "path"}
    for tool in catalog:
        http = tool.http
        if http.method != "GET" or http.result != "json" or not http.path.startswith(base):
            continue
        rest = http.path[len(base) :]
        single_segment = rest.startswith("/") and _PLACEHOLDER.fullmatch(rest[1:]) is not None
        key_segment = rest.startswith("(") and rest.endswith(")") and "/" not in rest
        if not (single_segment or key_segment):
            continue
        fill = []
        for name, binding in http.args.items():
            if binding.location != "path":
                continue
            wire = binding.wire or name
            if wire in create_wires:
                fill.append((name, "arg", create_wires[wire]))
            elif wire.endswith("Id") and single_segment:
                fill.append((name, "body", "id"))
            else:
                fill.append((name, "body", wire))
        return Reader(tool, tuple(fill))
    return None


def same_entity(sent: Any, found: Any) -> bool:
    """Whether `found` (read back) carries every value in `sent` (what we created). Fields the service
    does not return (passwords, defaults) are ignored; strings compare case-insensitively, durations
    and timestamps by value."""
    if isinstance(sent, Mapping):
        return isinstance(found, Mapping) and all(k not in found or same_entity(v, found[k]) for k, v in sent.items())
    if isinstance(sent, list):
        return isinstance(found, list) and len(sent) == len(found) and all(map(same_entity, sent, found))
    if isinstance(sent, str) and isinstance(found, str):
        if sent.casefold() == found.casefold():
            return True
        return _same_duration(sent, found) or _same_instant(sent, found)
    if isinstance(sent, bool) or isinstance(found, bool):
        return sent is found
    return sent == found


def created_since(found: Mapping[str, Any], started: float) -> bool:
    """True unless the entity's `creationTime` is clearly older than our first attempt."""
    value = found.get("creationTime")
    when = _parse_instant(value) if isinstance(value, str) else None
    return when is None or when.timestamp() >= started - CLOCK_SKEW_SECONDS


def _seconds(text: str) -> float | None:
    match = _DURATION.match(text)
    if not match or text.upper() in ("P", "PT"):
        return None
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def _same_duration(a: str, b: str) -> bool:
    left, right = _seconds(a), _seconds(b)
    return left is not None and left == right


def _parse_instant(text: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _same_instant(a: str, b: str) -> bool:
    if not (a[:1].isdigit() and b[:1].isdigit()):
        return False
    left, right = _parse_instant(a), _parse_instant(b)
    return left is not None and left == right
