"""Hypothesis strategies that draw values valid under a catalog tool's full validation schema.

Only the JSON Schema the catalog generator writes is understood: `$ref` into `$defs`, `type`,
`enum`, `format` (date-time, duration, uuid), numeric and length bounds, `pattern`, `items`,
`properties`/`required`. Sizes stay small so a property test of a few hundred requests runs in
seconds. Strings are a mix of plain identifiers (so ids meet existing entities and pass the
service's id rules) and arbitrary text (so the emulator also meets what it does not expect).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

MAX_DEPTH = 6
INT32 = (-(2**31), 2**31 - 1)

IDENTIFIERS = st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True)
TEXT = st.text(max_size=16)


def durations() -> st.SearchStrategy[str]:
    """ISO 8601 durations in designator form, including years, months, weeks and fractions."""

    def build(parts: tuple[int | None, ...], fraction: int | None) -> str:
        years, months, weeks, days, hours, minutes, seconds = parts
        date = "".join(f"{v}{u}" for v, u in ((years, "Y"), (months, "M"), (weeks, "W"), (days, "D")) if v is not None)
        time = "".join(f"{v}{u}" for v, u in ((hours, "H"), (minutes, "M")) if v is not None)
        if seconds is not None:
            time += f"{seconds}.{fraction}S" if fraction is not None else f"{seconds}S"
        if not date and not time:
            time = "0S"
        return "P" + date + (f"T{time}" if time else "")

    small = st.none() | st.integers(0, 400)
    return st.builds(
        build, st.tuples(small, small, small, small, small, small, small), st.none() | st.integers(0, 9999)
    )


def date_times() -> st.SearchStrategy[str]:
    moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
    return moments.map(lambda m: m.isoformat().replace("+00:00", "Z"))


class SchemaStrategies:
    """Strategies for one tool schema, resolving `$ref`s against its `$defs`."""

    def __init__(self, schema: dict[str, Any], overrides: dict[str, Any] | None = None) -> None:
        """`overrides` replace top-level properties: a strategy, or a function of the drawn one."""
        self.defs = schema.get("$defs", {})
        self.schema = schema
        self.overrides = overrides or {}

    def arguments(self) -> st.SearchStrategy[dict[str, Any]]:
        return self.of(self.schema, 0, top=True)

    def of(self, schema: dict[str, Any], depth: int, *, top: bool = False) -> st.SearchStrategy[Any]:
        if "$ref" in schema:
            return self.of(self.defs[schema["$ref"].rsplit("/", 1)[-1]], depth)
        if "enum" in schema:
            return st.sampled_from(schema["enum"])
        kind = schema.get("type")
        if isinstance(kind, list):
            return st.one_of(*(self.of({**schema, "type": k}, depth) for k in kind))
        if kind == "object" or (kind is None and "properties" in schema):
            return self.object(schema, depth, top=top)
        if kind == "array":
            items = self.of(schema.get("items", {}), depth + 1)
            low = schema.get("minItems", 0)
            high = min(schema.get("maxItems", 3), max(low, 3 if depth < MAX_DEPTH else low))
            return st.lists(items, min_size=low, max_size=high)
        if kind == "string":
            return self.string(schema)
        if kind == "integer":
            low, high = schema.get("minimum", INT32[0]), schema.get("maximum", INT32[1])
            return st.integers(low, high)
        if kind == "number":
            return st.floats(schema.get("minimum"), schema.get("maximum"), allow_nan=False, allow_infinity=False)
        if kind == "boolean":
            return st.booleans()
        return st.none() | st.booleans() | st.integers() | TEXT

    def string(self, schema: dict[str, Any]) -> st.SearchStrategy[str]:
        fmt = schema.get("format")
        if fmt == "duration":
            return durations()
        if fmt == "date-time":
            return date_times()
        if fmt == "uuid":
            return st.uuids().map(str)
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True)
        low = schema.get("minLength", 0)
        high = min(schema.get("maxLength", 64), 64)
        words = (IDENTIFIERS | TEXT).filter(lambda s: low <= len(s) <= high)
        return words if low <= 12 else st.text(min_size=low, max_size=max(low, high))

    def object(self, schema: dict[str, Any], depth: int, *, top: bool) -> st.SearchStrategy[dict[str, Any]]:
        properties = schema.get("properties", {})
        required = set(schema.get("required", []))

        def field(name: str, sub: dict[str, Any]) -> st.SearchStrategy[Any]:
            override = self.overrides.get(name) if top else None
            if callable(override):  # given the drawn strategy, returns the one to use
                return override(self.of(sub, depth + 1))
            return override if override is not None else self.of(sub, depth + 1)

        needed = {n: field(n, s) for n, s in properties.items() if n in required}
        optional = {n: field(n, s) for n, s in properties.items() if n not in required}
        if depth >= MAX_DEPTH:
            optional = {}
        return st.fixed_dictionaries(needed, optional=optional)
