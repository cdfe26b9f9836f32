"""Argument validation against a tool's full schema, with errors a model can act on.

Every message names the JSON path of the bad field, what was expected and what was given, so the
model can correct the call on its next turn. Values of secret-looking fields are never echoed.
"""

from __future__ import annotations

import difflib
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from batch_mcp.catalog.durations import is_duration
from batch_mcp.redaction import is_secret_field, redact_text

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
MAX_ERRORS = 5

_format_checker = FormatChecker(formats=())


@_format_checker.checks("date-time")
def _is_datetime(value: object) -> bool:
    return not isinstance(value, str) or bool(_RFC3339.match(value))


@_format_checker.checks("duration")
def _is_duration(value: object) -> bool:
    return is_duration(value)


@_format_checker.checks("uuid", raises=ValueError)
def _is_uuid(value: object) -> bool:
    if isinstance(value, str):
        uuid.UUID(value)
    return True


def make_validator(schema: Mapping[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=_format_checker)


def json_path(parts: Iterable[Any]) -> str:
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _shown(value: Any, field: str | None) -> str:
    if field and is_secret_field(field):
        return "(hidden)"
    text = redact_text(repr(value))
    return text if len(text) <= 60 else text[:57] + "..."


_TYPE_NAMES = {
    "object": "an object",
    "array": "an array",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def _expected(error: ValidationError) -> str:
    v: Any = error.validator
    want: Any = error.validator_value
    if v == "type":
        kinds = want if isinstance(want, list) else [want]
        return " or ".join(_TYPE_NAMES.get(k, str(k)) for k in kinds)
    if v == "enum":
        return "one of " + ", ".join(repr(x) for x in want)
    if v == "format":
        return {
            "date-time": "an ISO 8601 date-time like 2026-01-31T12:00:00Z",
            "duration": "an ISO 8601 duration like PT30M",
        }.get(want, f"format {want}")
    words = {
        "minimum": ">= {}",
        "maximum": "<= {}",
        "minLength": "at least {} character(s)",
        "maxLength": "at most {} characters",
        "minItems": "at least {} item(s)",
        "maxItems": "at most {} items",
        "pattern": "text matching {}",
    }
    if v in words:
        return words[v].format(want)
    return f"{v} {want}"


def describe(error: ValidationError) -> str:
    """One line: `$.path: expected ..., got ...` (or the missing/unknown field)."""
    path = list(error.absolute_path)
    field = next((p for p in reversed(path) if isinstance(p, str)), None)
    if error.validator == "required":
        required: Any = error.validator_value
        missing = [name for name in required if name not in (error.instance or {})]
        return f"{json_path([*path, missing[0]])}: required field is missing"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        schema: Any = error.schema
        allowed = list((schema.get("properties") or {}).keys())
        extra = sorted(set(error.instance) - set(allowed))
        parts = []
        for name in extra:
            close = difflib.get_close_matches(name, allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            parts.append(f"{json_path([*path, name])}: unknown field{hint}")
        if allowed:
            parts.append(f"allowed here: {', '.join(allowed)}")
        return "; ".join(parts)
    return f"{json_path(path)}: expected {_expected(error)}, got {_shown(error.instance, field)}"


def validation_errors(validator: Draft202012Validator, arguments: Mapping[str, Any]) -> list[str]:
    """Readable problems with `arguments`, most specific first, at most MAX_ERRORS."""
    errors = sorted(validator.iter_errors(arguments), key=lambda e: (list(e.absolute_path), e.validator))
    return [describe(e) for e in errors[:MAX_ERRORS]]
