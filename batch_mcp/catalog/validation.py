"""Argument validation against a tool's full schema, with errors a model can act on.

Every message names the JSON path of the bad field, what was expected and what was given, so the
model can correct the call on its next turn. Values of secret-looking fields are never echoed.
"""

from __future__ import annotations

import difflib
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from batch_mcp.catalog.bounds import MAX_DEPTH, MAX_STRING, PATTERN_TEXTS
from batch_mcp.catalog.durations import is_duration
from batch_mcp.redaction import is_secret_field, is_secret_name, redact_text

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
MAX_ERRORS = 5
MAX_UNKNOWN_SHOWN = 10  # unknown fields named in one error (10,000 of them would be 60 KB)

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
    # strings quoted as before ('x'); anything else as the JSON the caller wrote (null, true, {...})
    shown = (
        repr(value)
        if isinstance(value, str)
        else json.dumps(value, ensure_ascii=False, default=repr, separators=(",", ":"))
    )
    text = redact_text(shown)
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
    if v == "pattern" and want in PATTERN_TEXTS:
        return PATTERN_TEXTS[want]
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


def describe(error: ValidationError, arguments: Any = None) -> str:
    """One line: `$.path: expected ..., got ...` (or the missing/unknown field). The value is not
    shown when it sits in a secret field or a name/value entry named like a secret (`DB_PASSWORD`)."""
    path = list(error.absolute_path)
    field = next((p for p in reversed(path) if isinstance(p, str)), None)
    if field == "value" and _in_secret_pair(arguments, path):
        field = "password"  # shown as (hidden)
    if error.validator == "required":
        return f"{json_path([*path, _missing_field(error)])}: required field is missing"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        schema: Any = error.schema
        allowed = list((schema.get("properties") or {}).keys())
        extra = sorted(set(error.instance) - set(allowed))
        guesses = {name: difflib.get_close_matches(name, allowed, n=1) for name in extra}
        extra.sort(key=lambda name: not guesses[name])  # likely typos first: they are what to fix
        parts = []
        for name in extra[:MAX_UNKNOWN_SHOWN]:
            close = guesses[name]
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            parts.append(f"{json_path([*path, name])}: unknown field{hint}")
        if len(extra) > MAX_UNKNOWN_SHOWN:
            parts.append(f"and {len(extra) - MAX_UNKNOWN_SHOWN:,} more unknown fields")
        if allowed:
            parts.append(f"allowed here: {', '.join(allowed)}")
        elif not path:
            parts.append("this tool takes no arguments")
        return "; ".join(parts)
    if error.validator == "maxLength" and isinstance(error.instance, str):
        return f"{json_path(path)}: expected {_expected(error)}, got {len(error.instance):,}"
    return f"{json_path(path)}: expected {_expected(error)}, got {_shown(error.instance, field)}"


def _missing_field(error: ValidationError) -> str:
    """The one field a `required` error is about (jsonschema reports each missing field separately)."""
    found = re.match(r"^'(.+)' is a required property$", error.message)
    if found:
        return found.group(1)
    required: Any = error.validator_value  # set on every raised error
    missing = [name for name in required if name not in (error.instance or {})]
    return missing[0] if missing else "?"


def validation_errors(validator: Draft202012Validator, arguments: Mapping[str, Any]) -> list[str]:
    """Readable problems with `arguments`, most specific first, each once, at most MAX_ERRORS. The
    rules for every string come first (and alone when broken: a 50,000-level nesting never reaches the
    schema validator's recursion)."""
    broken = universal_problems(arguments)
    if broken:
        return broken[:MAX_ERRORS]
    errors = sorted(validator.iter_errors(arguments), key=lambda e: (list(e.absolute_path), e.validator))
    best: dict[str, tuple[int, str]] = {}  # one line per field: the rule that says most about it
    for error in errors:
        line = describe(error, arguments)
        where = line.split(": ", 1)[0]
        rank = _RULE_RANK.get(str(error.validator), len(_RULE_RANK))
        if where not in best or rank < best[where][0]:
            best[where] = (rank, line)
    return [line for _, line in best.values()][:MAX_ERRORS]


# Rules in the order that tells a caller most about a bad value: its type, its allowed values, its
# shape (an id pattern says the length too), then bounds.
_RULE_RANK = {"type": 0, "enum": 1, "const": 1, "pattern": 2, "format": 2}


def _in_secret_pair(arguments: Any, path: list[Any]) -> bool:
    """Whether `path` ends at the `value` of a `{name, value}` entry whose name says secret."""
    node = arguments
    for part in path[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return False
    label = node.get("name", node.get("key")) if isinstance(node, Mapping) else None
    return isinstance(label, str) and is_secret_name(label)


def universal_problems(arguments: Any) -> list[str]:
    """What breaks the rules for any value anywhere (see `bounds.py`): NUL characters, strings over
    MAX_STRING characters, nesting deeper than MAX_DEPTH. Iterative, so no input can exhaust the stack."""
    problems: list[str] = []
    pending: list[tuple[Any, tuple[Any, ...]]] = [(arguments, ())]
    while pending and len(problems) < MAX_ERRORS:
        value, path = pending.pop()
        if len(path) > MAX_DEPTH:
            problems.append(f"{json_path(path)}: nested deeper than {MAX_DEPTH} levels")
            continue
        if isinstance(value, str):
            if "\x00" in value:
                problems.append(f"{json_path(path)}: NUL characters are not allowed")
            elif len(value) > MAX_STRING:
                problems.append(f"{json_path(path)}: expected at most {MAX_STRING:,} characters, got {len(value):,}")
        elif isinstance(value, Mapping):
            for key, item in value.items():
                if isinstance(key, str) and "\x00" in key:
                    problems.append(f"{json_path(path)}: a field name contains a NUL character")
                pending.append((item, (*path, key)))
        elif isinstance(value, list):
            pending.extend((item, (*path, index)) for index, item in enumerate(value))
    return sorted(problems)
