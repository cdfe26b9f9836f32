"""Tool results as MCP `CallToolResult`s: structured content for hosts, one compact text for models.

The text is not a second copy of pretty JSON: it is a one-line summary followed by the data as
minified JSON with empty values dropped (lists: one item per line), which is what clients that
forward `content` give the model. Clients that forward `structuredContent` get the exact shape of
the tool's output schema instead; either way the model reads each fact once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import mcp_types as types

from batch_mcp.redaction import redact

TEXT_LIMIT = 60_000  # characters of text content before we cut and say so


def compact(value: Any) -> Any:
    """Drop None, empty strings, empty lists and empty objects, recursively."""
    if isinstance(value, dict):
        out = {k: compact(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        return [compact(v) for v in value]
    return value


def minified(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _cut(text: str) -> str:
    if len(text) <= TEXT_LIMIT:
        return text
    return text[:TEXT_LIMIT] + "\n[cut: reply too long; narrow it with select, filter or max_results]"


def text_result(text: str, *, structured: Mapping[str, Any] | None = None) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(text=_cut(text))],
        structured_content=dict(structured) if structured is not None else None,
    )


def error_result(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=_cut(text))], is_error=True)


def json_result(headline: str, data: Mapping[str, Any]) -> types.CallToolResult:
    safe = redact(dict(data))
    body = minified(compact(safe))
    return text_result(f"{headline}\n{body}" if headline else body, structured=safe)


def list_result(headline: str, shaped: Mapping[str, Any], *, note: str = "") -> types.CallToolResult:
    """`shaped` is {items, summary?, continuation?} as the output schema promises."""
    safe = redact(dict(shaped))
    lines = [headline]
    summary = safe.get("summary")
    if summary:
        partial = "" if summary.get("complete", True) else " (not all matches counted: count_all=true counts them all)"
        lines.append("summary " + minified(summary) + partial)
    items = [minified(compact(item)) for item in safe.get("items", [])]
    tail = []
    if safe.get("continuation"):
        tail.append(f'more: call again with continuation="{safe["continuation"]}"')
    if note:
        tail.append(note)
    if sum(len(line) + 1 for line in [*lines, *items, *tail]) > TEXT_LIMIT:
        return text_result("\n".join(_items_that_fit(lines, items)), structured=safe)
    return text_result("\n".join([*lines, *items, *tail]), structured=safe)


def _items_that_fit(head: list[str], items: list[str]) -> list[str]:
    """A page too long for one reply, cut after the last whole item that fits, with the max_results
    that fits. No continuation: it would page on after the items not shown."""
    budget = TEXT_LIMIT - sum(len(line) + 1 for line in head) - 200
    shown: list[str] = []
    for item in items:
        budget -= len(item) + 1
        if budget < 0:
            break
        shown.append(item)
    if not shown:  # one item alone is too long: cut it, as any other reply
        return [*head, *items[:1]]
    return [
        *head,
        *shown,
        f"[cut: {len(shown)} of {len(items)} items fit in one reply; list again with max_results={len(shown)} "
        "(or select fewer fields), then page on]",
    ]
