"""A tool's effect rules (see `batch_mcp.catalog.effects`): derived from the spec, or read from the texts.

Derived rules need no review per tool: every field whose name ends in `commandLine` (task, start
task, job manager, preparation and release tasks, multi-instance coordination, at any depth) runs
code; every `targetDedicatedNodes`, `targetLowPriorityNodes` and `autoScaleFormula` sizes a pool.
Rules that depend on live state come from `texts.toml`, where each names its field by a dotted
path that must exist in the operation's request body.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from batch_mcp.catalog.effects import CONDITIONS, SUBJECTS, Effect
from batch_mcp.catalog.generator.spec import Operation, Spec

SIZE_FIELDS = {
    "targetDedicatedNodes": "sets a pool's dedicated node count",
    "targetLowPriorityNodes": "sets a pool's spot node count",
    "autoScaleFormula": "sizes a pool by formula",
}
RUNS = "runs a command line on a node (on the local emulator: on this computer)"


class EffectError(ValueError):
    """A texts.toml effect rule that does not fit the spec."""


def body_fields(spec: Spec, model: str) -> Iterator[tuple[str, str]]:
    """(JSON pointer, property name) of every writable field reachable from a body model, arrays as `*`."""

    def walk(schema: Mapping[str, Any], path: str, trail: tuple[str, ...]) -> Iterator[tuple[str, str]]:
        if "$ref" in schema:
            name, target = spec.definition(schema["$ref"])
            if name not in trail:
                yield from walk(target, path, (*trail, name))
            return
        for part in schema.get("allOf", ()):
            yield from walk(part, path, trail)
        for name, prop in (schema.get("properties") or {}).items():
            if prop.get("readOnly"):
                continue
            pointer = f"{path}/{name}"
            yield pointer, name
            yield from walk(prop, pointer, trail)
        if schema.get("type") == "array" and isinstance(schema.get("items"), Mapping):
            yield from walk(schema["items"], f"{path}/*", trail)

    _, root = spec.definition(model)
    yield from walk(root, "", (model,))


def derived_effects(spec: Spec, op: Operation) -> list[Effect]:
    if not op.body_model:
        return []
    out: list[Effect] = []
    for pointer, name in body_fields(spec, op.body_model):
        if name.lower().endswith("commandline"):
            out.append(Effect(field=pointer, effect=RUNS, guard="exec"))
        elif name in SIZE_FIELDS:
            out.append(Effect(field=pointer, effect=SIZE_FIELDS[name], guard="max_nodes"))
    return sorted(set(out), key=lambda e: (e.guard, e.field))


def text_effects(spec: Spec, op: Operation, entries: list[Mapping[str, Any]]) -> list[Effect]:
    """The hand-written rules of one operation, checked against its body."""
    known = {pointer for pointer, _ in body_fields(spec, op.body_model)} if op.body_model else set()
    out: list[Effect] = []
    for entry in entries:
        unknown = set(entry) - {"field", "effect", "when", "on", "equals"}
        if unknown:
            raise EffectError(f"{op.key}: unknown effect keys {sorted(unknown)}")
        pointer = "/" + entry["field"].replace(".", "/")
        if pointer not in known:
            raise EffectError(f"{op.key}: effect field {entry['field']!r} is not in the request body")
        when = entry.get("when", "always")
        if when not in CONDITIONS:
            raise EffectError(f"{op.key}: unknown condition {when!r} (one of {', '.join(CONDITIONS)})")
        on = entry.get("on")
        if when != "always" and on not in SUBJECTS:
            raise EffectError(f"{op.key}: condition {when!r} needs `on` = {' or '.join(SUBJECTS)}")
        out.append(
            Effect(
                field=pointer,
                effect=entry["effect"],
                guard="asks",
                when=when,
                on=on,
                equals=entry.get("equals"),
            )
        )
    return out
