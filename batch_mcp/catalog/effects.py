"""What a call does beyond its guard class, field by field: the effect rules of the catalog.

A tool's guard class (read, write, scale, destructive) says what the call does as a whole. Some
write calls do more depending on what they carry: `job_update` with a `maxWallClockTime` shorter
than the job has existed ends it and kills its tasks; a `commandLine` runs code. Those rules are
data, written in `texts.toml` (by hand, for effects that depend on live state) or derived from the
spec (command lines, pool sizes and autoscale formulas at any depth), and written into each tool's
definition as `effects`. The server's guardrails act on them; the docs' review table lists them.

Each effect names a field by a JSON pointer into the tool's arguments (`*` for every item of an
array), what it does, and the guard that applies:

- `asks`: the user confirms first, with the impact read from live state, when the rule's condition
  holds (`when`, checked against the entity named by `on`; `equals` narrows it to one value);
- `exec`: the value is a command line run by Batch; on the local emulator it falls under the
  execution policy (a sandbox, or the user's confirmation showing it);
- `max_nodes`: a pool size or autoscale formula; `--max-nodes` bounds it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["CONDITIONS", "GUARDS", "SUBJECTS", "Effect", "iter_pointer"]

EffectGuard = Literal["asks", "exec", "max_nodes"]
GUARDS: tuple[str, ...] = ("asks", "exec", "max_nodes")

# The live-state conditions a rule may name, checked by the server before the call:
CONDITIONS: dict[str, str] = {
    "elapsed": "the job has existed (the task has run) longer than the duration given",
    "retention": "the task completed longer ago than the duration given",
    "idle": "the job has no active or running tasks",
    "always": "whenever the field is given",
}
SUBJECTS = ("job", "task")  # what `on` may name; its ids are the tool's own path arguments


@dataclass(frozen=True, slots=True)
class Effect:
    field: str  # JSON pointer into the arguments, `*` for every array item
    effect: str
    guard: EffectGuard
    when: str | None = None
    on: str | None = None
    equals: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Effect:
        return cls(
            field=data["field"],
            effect=data["effect"],
            guard=data["guard"],
            when=data.get("when"),
            on=data.get("on"),
            equals=data.get("equals"),
        )

    def to_json(self) -> dict[str, Any]:
        out = {"field": self.field, "effect": self.effect, "guard": self.guard}
        for key in ("when", "on", "equals"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out

    def values(self, arguments: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
        """(concrete JSON pointer, value) for every place the arguments fill this field."""
        return iter_pointer(arguments, self.field)


def iter_pointer(root: Any, pointer: str) -> Iterator[tuple[str, Any]]:
    """Every value at `pointer` in `root`, where a `*` segment stands for each item of an array."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]

    def walk(node: Any, index: int, path: str) -> Iterator[tuple[str, Any]]:
        if index == len(parts):
            yield path or "/", node
            return
        part = parts[index]
        if part == "*":
            if isinstance(node, list):
                for i, item in enumerate(node):
                    yield from walk(item, index + 1, f"{path}/{i}")
        elif isinstance(node, Mapping) and part in node and node[part] is not None:
            yield from walk(node[part], index + 1, f"{path}/{part}")

    return walk(root, 0, "")
