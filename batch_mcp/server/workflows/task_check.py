"""Checking thousands of tasks against the full task model in a fraction of the time jsonschema
takes task by task, with the same verdicts.

The task model is an object whose properties are checked independently of each other (no
`allOf`, `dependentRequired` or the like at its top level, and no unknown fields). So a task is
valid exactly when its required fields are present, it has no unknown field, and each field's
value is valid against that field's schema. Field values repeat across a batch (the same
resource files, constraints or environment on every task) and the two fields that always differ,
`id` and `commandLine`, only need to be strings; so each distinct (field, value) is checked once
and a plain string field is checked by its type alone. Only a task that fails this is run
through the full validator, which words the problems.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from batch_mcp.catalog.validation import make_validator, validation_errors

# Top-level keywords that keep fields independent; anything else and every task takes the slow path.
INDEPENDENT_KEYWORDS = frozenset(
    {"type", "properties", "required", "additionalProperties", "$defs", "description", "title"}
)
ANNOTATIONS = frozenset({"type", "description", "title"})


class TaskChecker:
    """`problems(task, memo)` is `validation_errors(full validator, task)`, computed fast. `memo` holds
    the verdicts on field values; give each batch its own so that memory ends with the batch."""

    def __init__(self, schema: Mapping[str, Any], field_validators: Mapping[str, Any] | None) -> None:
        self._full = make_validator(schema)
        self._required = tuple(schema.get("required", ()))
        self._fields = field_validators
        props = schema.get("properties", {})
        self._plain_strings = frozenset(
            name for name, prop in props.items() if prop.get("type") == "string" and set(prop) <= ANNOTATIONS
        )

    @classmethod
    def for_schema(cls, schema: Mapping[str, Any]) -> TaskChecker:
        return cls(schema, field_validators(schema))

    def problems(self, task: Any, memo: dict[tuple[str, str], bool]) -> list[str]:
        if self._quick_valid(task, memo):
            return []
        return validation_errors(self._full, task)

    def _quick_valid(self, task: Any, memo: dict[tuple[str, str], bool]) -> bool:
        fields = self._fields
        if fields is None or not isinstance(task, dict):
            return False
        if any(name not in task for name in self._required):
            return False
        for name, value in task.items():
            if name in self._plain_strings:
                if isinstance(value, str):
                    continue
                return False
            validator = fields.get(name)
            if validator is None:
                return False
            key = (name, json.dumps(value, sort_keys=True, separators=(",", ":")))
            valid = memo.get(key)
            if valid is None:
                valid = memo[key] = bool(validator.is_valid(value))
            if not valid:
                return False
        return True


def field_validators(schema: Mapping[str, Any]) -> dict[str, Any] | None:
    """One validator per field, or None when the schema's fields are not independent."""
    if set(schema) - INDEPENDENT_KEYWORDS or schema.get("type") != "object":
        return None
    if schema.get("additionalProperties") is not False:
        return None
    defs = schema.get("$defs")
    out = {}
    for name, prop in schema.get("properties", {}).items():
        if not isinstance(prop, Mapping):
            return None
        out[name] = make_validator({**prop, "$defs": defs} if defs else prop)
    return out
