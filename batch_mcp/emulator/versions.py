"""Every published Batch API version, from the table in `api_versions.json`.

The table (derived from each version's published definition by `scripts/derive_api_versions.py`)
says which operations each version has, which query parameters they take, which model each request
and response is, and which fields every model has in which versions. From it, per version:

- `has(method, path)`: whether the operation exists (retired and future ones do not);
- `shape(label, body)`: a response as that version shows it: fields the version does not have
  are left out, renamed fields carry the version's name (`maxTasksPerNode` before 2020-09-01.12.0),
  and 64-bit integers are JSON strings, as the service writes them;
- `accept(label, body)`: a request body in the emulator's one, current form, after refusing fields
  the version does not have.

Plans are computed once per (model, version) and applied by walking only the fields they name, so
the newest versions, whose plans are nearly empty, cost almost nothing per response.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from batch_mcp.emulator import errors

TABLE: Mapping[str, Any] = json.loads((Path(__file__).parent / "api_versions.json").read_text(encoding="utf-8"))
VERSIONS: tuple[str, ...] = tuple(TABLE["versions"])
LATEST = VERSIONS[-1]
INDEX = {v: i for i, v in enumerate(VERSIONS)}

# Fields that changed name between versions: current name → older name (same model, same meaning).
RENAMED = {"taskSlotsPerNode": "maxTasksPerNode"}
OLD_NAMES = {old: new for new, old in RENAMED.items()}

DROP = "drop"
STRING = "string"


def _in(runs: list[Any], index: int) -> bool:
    """Whether a run list (`[[first, last], ...]`, last None = still present) covers a version."""
    for run in runs:
        if isinstance(run, list) and INDEX[run[0]] <= index and (run[1] is None or index <= INDEX[run[1]]):
            return True
    return False


def _field(spec: Any) -> tuple[list[Any] | None, str | None]:
    """A table field entry → (its runs, or None for "wherever its model is"; the model it holds)."""
    if spec == 1:
        return None, None
    if isinstance(spec, str):
        return None, spec
    target = spec[-1] if isinstance(spec[-1], str) else None
    return [r for r in spec if isinstance(r, list)], target


class ApiVersion:
    """One API version: its operations, and how its requests and responses are shaped."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.index = INDEX[name]
        self.is_latest = name == LATEST
        self._fields: dict[str, dict[str, str | None]] = {}

    def __repr__(self) -> str:
        return f"ApiVersion({self.name!r})"

    def has(self, method: str, path: str) -> bool:
        runs = TABLE["operations"].get(f"{method} {path}")
        return runs is not None and _in(runs, self.index)

    def root(self, method: str, path: str, role: str = "response") -> str | None:
        """The label of the operation's request or response model in this version."""
        entry = TABLE["roots"].get(f"{method} {path}", {}).get(role)
        if isinstance(entry, dict):
            return next((label for label, runs in entry.items() if _in(runs, self.index)), None)
        return entry

    def fields(self, label: str) -> dict[str, str | None]:
        """The fields a model has in this version, each with the model it holds (or None)."""
        known = self._fields.get(label)
        if known is None:
            known = {}
            for name, spec in TABLE["models"].get(label, {}).items():
                runs, target = _field(spec)
                if runs is None or _in(runs, self.index):
                    known[name] = target
            self._fields[label] = known
        return known

    def missing(self, label: str | None) -> frozenset[str]:
        """The fields other versions give a model that this version does not have."""
        if label is None:
            return frozenset()
        return frozenset(TABLE["models"].get(label, {})).difference(self.fields(label))

    def query_parameters(self, method: str, path: str) -> set[str]:
        params = TABLE["query"].get(f"{method} {path}", {})
        return {q for q, runs in params.items() if runs == 1 or _in(runs, self.index)}

    # -- responses ------------------------------------------------------------------------------

    def plan(self, label: str) -> dict[str, Any]:
        return _response_plan(self.name, label)

    def shape(self, label: str | None, body: Any) -> Any:
        """`body` (a model or a list of them) as this version shows it; the input is not changed."""
        if label is None:
            return body
        plan = self.plan(label)
        return apply(plan, body) if plan else body

    # -- requests -------------------------------------------------------------------------------

    def accept(self, label: str | None, body: Any) -> Any:
        """A request body with this version's names turned into the current ones; a field this
        version does not have is refused as the service refuses unknown properties."""
        if label is None or not isinstance(body, dict):
            return body
        return _accept(self, label, body, "")


@cache
def get(name: str) -> ApiVersion | None:
    return ApiVersion(name) if name in INDEX else None


@cache
def _response_plan(version: str, label: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """{field: DROP | STRING | (RENAME, older name) | sub-plan} for one model in one version."""
    v = get(version)
    assert v is not None
    int64 = set(TABLE["int64"].get(label, ()))
    plan: dict[str, Any] = {}
    present = v.fields(label)
    for name, spec in TABLE["models"].get(label, {}).items():
        _, target = _field(spec)
        if name not in present:
            old = RENAMED.get(name)
            plan[name] = ("rename", old) if old in present else DROP
        elif name in int64:
            plan[name] = STRING
        elif target and target not in seen:
            sub = _response_plan(version, target, (*seen, label))
            if sub:
                plan[name] = sub
    return plan


def apply(plan: dict[str, Any], value: Any) -> Any:
    """Apply a response plan; what it does not change is returned as is (never copied or mutated)."""
    if isinstance(value, list):
        items = [apply(plan, item) for item in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if not isinstance(value, dict):
        return value
    # look up the fewer of the two: most plans name more fields than a body has, or far fewer
    names = [k for k in value if k in plan] if len(value) < len(plan) else [k for k in plan if k in value]
    out = value
    for name in names:
        action = plan[name]
        item = value[name]
        if action is DROP:
            new, key = None, None
        elif action is STRING:
            if type(item) is not int:
                continue
            new, key = str(item), name
        elif type(action) is tuple:
            new, key = item, action[1]
        else:
            new, key = apply(action, item), name
            if new is item:
                continue
        if out is value:
            out = dict(value)
        if key != name:
            del out[name]
        if key is not None:
            out[key] = new
    return out


def _accept(v: ApiVersion, label: str, body: dict[str, Any], prefix: str) -> dict[str, Any]:
    present = v.fields(label)
    out: dict[str, Any] = {}
    for name, value in body.items():
        if name not in present:
            raise errors.invalid_body(
                f"The property '{prefix}{name}' does not exist in api-version {v.name}"
                + (" (it exists in other versions)." if name in TABLE["models"].get(label, {}) else ".")
            )
        target = present[name]
        if target and isinstance(value, dict):
            value = _accept(v, target, value, f"{prefix}{name}.")
        elif target and isinstance(value, list):
            value = [_accept(v, target, x, f"{prefix}{name}.") if isinstance(x, dict) else x for x in value]
        out[OLD_NAMES.get(name, name)] = value
    return out
