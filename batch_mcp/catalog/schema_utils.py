"""Small JSON Schema helpers shared by the generator and the run-time loader."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def iter_refs(schema: Any) -> Iterator[str]:
    """Names of the `#/$defs/<name>` references anywhere in a schema."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            yield ref.removeprefix("#/$defs/")
        for value in schema.values():
            yield from iter_refs(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from iter_refs(value)


def escape_token(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def set_at_pointer(root: dict[str, Any], pointer: str, value: Any) -> None:
    """Replace the node at a JSON pointer (RFC 6901)."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    node: Any = root
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = value


def node_at_pointer(root: dict[str, Any], pointer: str) -> Any:
    """The node at a JSON pointer (RFC 6901)."""
    node: Any = root
    for part in pointer.split("/")[1:]:
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node
