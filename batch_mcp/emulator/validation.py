"""Request bodies checked against the spec's request models, answered with the service's codes.

The schemas come from the committed catalog (each tool's full validation schema, whose body
fields are the request model's), so the emulator needs no spec at run time. Versions without a
catalog of their own are checked against the 2024 models without strictness about unknown fields
(their field names are checked against the version table instead), and versions newer than it
without its enum lists, which they extended.
"""

from __future__ import annotations

import copy
import math
import re
from functools import cache
from typing import Any, cast

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from batch_mcp.catalog import load_catalog
from batch_mcp.catalog.validation import describe, make_validator
from batch_mcp.emulator import errors
from batch_mcp.redaction import is_secret_field


def _loosen(node: Any, enums: bool = True) -> Any:
    if isinstance(node, dict):
        return {
            k: _loosen(v, enums)
            for k, v in node.items()
            if not (k == "additionalProperties" and v is False) and (enums or k != "enum" or not isinstance(v, list))
        }
    if isinstance(node, list):
        return [_loosen(v, enums) for v in node]
    return node


@cache
def body_validator(
    catalog_version: str, tool_name: str, strict: bool, enums: bool = True, absent: frozenset[str] = frozenset()
) -> Draft202012Validator:
    """The tool's full argument schema cut down to its body fields: the request model, with every
    collapsed subtree expanded to its full, strict definition. Fields in `absent` (which the
    request's version does not have) are not required."""
    catalog = load_catalog(catalog_version)
    tool = catalog[tool_name]
    body_fields = {name for name, binding in tool.http.args.items() if binding.location == "body"}
    schema = copy.deepcopy(catalog.validation_schema(tool_name))
    schema["properties"] = {k: v for k, v in schema.get("properties", {}).items() if k in body_fields}
    schema["required"] = [r for r in schema.get("required", []) if r in body_fields and r not in absent]
    if not schema["required"]:
        del schema["required"]
    return make_validator(schema if strict else _loosen(schema, enums))


def _property_path(error: ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path if isinstance(p, str)]
    return parts[-1] if parts else ""


def to_batch_error(error: ValidationError) -> errors.BatchError:
    if error.validator == "required":
        required: Any = error.validator_value  # set on every raised error
        missing = [n for n in required if n not in (error.instance or {})]
        return errors.missing_property(missing[0] if missing else "")
    if error.validator == "additionalProperties":
        return errors.invalid_body(describe(error))
    name = _property_path(error)
    value = "(hidden)" if is_secret_field(name) else error.instance
    if isinstance(value, dict | list):
        value = type(value).__name__
    elif value is None:
        value = "null"
    return errors.invalid_property(name, value, describe(error))


def drop_nulls(value: Any) -> Any:
    """Properties sent as `null`, taken out: the service reads `"startTask": null` as a start task
    left out (clients that serialise unset fields send it so). Nulls inside lists stay, to be
    refused. Changes `value` in place; returns it."""
    if isinstance(value, dict):
        for key in [k for k, v in value.items() if v is None]:
            del value[key]
        for item in value.values():
            drop_nulls(item)
    elif isinstance(value, list):
        for item in value:
            drop_nulls(item)
    return value


_INTEGER_TEXT = re.compile(r"^[+-]?\d{1,18}$")


def coerce_scalars(schema: Any, value: Any, defs: dict[str, Any]) -> Any:
    """Numbers and booleans sent as JSON strings, read as the service's JSON reader reads them: the
    Azure CLI sends `"targetDedicatedNodes": "1"`, and the service accepts it. Only whole numbers
    for integers, numbers for numbers and true/false for booleans are turned; anything else is left
    for validation to refuse. Changes `value` in place where it can; returns the result."""
    while isinstance(schema, dict) and "$ref" in schema:
        schema = defs.get(schema["$ref"].rsplit("/", 1)[-1], {})
    if not isinstance(schema, dict):
        return value
    kind = schema.get("type")
    if isinstance(value, str):
        text = value.strip()
        if kind == "integer" and _INTEGER_TEXT.match(text):
            return int(text)
        if kind == "number":
            try:
                number = float(text)
            except ValueError:
                return value
            return number if math.isfinite(number) else value
        if kind == "boolean" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        return value
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        for key, item in value.items():
            if key in properties:
                value[key] = coerce_scalars(properties[key], item, defs)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        value[:] = [coerce_scalars(schema["items"], item, defs) for item in value]
    return value


def validate_body(
    catalog_version: str,
    tool_name: str,
    body: Any,
    *,
    strict: bool = True,
    enums: bool = True,
    absent: frozenset[str] = frozenset(),
) -> None:
    """Raise the service's 400 for the first problem with `body` (after dropping properties sent
    as null and reading numbers and booleans sent as strings, as the service does: `body` may be
    changed in place)."""
    if not isinstance(body, dict):
        raise errors.invalid_body("The request body must be a JSON object.")
    drop_nulls(body)
    validator = body_validator(catalog_version, tool_name, strict, enums, absent)
    schema = cast(dict[str, Any], validator.schema)  # ours is always an object schema, never a boolean one
    coerce_scalars(schema, body, schema.get("$defs", {}))
    problems = sorted(validator.iter_errors(body), key=lambda e: (e.validator != "required", list(e.absolute_path)))
    if problems:
        raise to_batch_error(problems[0])
