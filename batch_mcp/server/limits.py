"""`--max-nodes N`: no pool that a call creates or changes can target more than N nodes.

Fixed sizes are checked before anything is sent (dedicated plus spot, in any object of the
arguments: a pool, an auto-pool specification inside a job or a job schedule, ...). An autoscale
formula's result is unknown until Batch evaluates it, so the bound is enforced where Batch applies
it: every formula the server sends gets two statements appended that clamp the two targets to N,
marked with a comment so that anyone reading the pool sees why:

    <the formula>
    /* batch-mcp --max-nodes 3 */ $TargetDedicatedNodes = min($TargetDedicatedNodes, 3); ...

A formula that could skip its last statements (one that calls `stop()`, or leaves a comment or a
string open) cannot be bounded that way and is refused, as is one with no room left for the clamp.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

FORMULA_FIELD = "autoScaleFormula"
SIZE_FIELDS = ("targetDedicatedNodes", "targetLowPriorityNodes")
MAX_FORMULA_CHARS = 8192  # the service's AutoScaleFormulaTooLong limit
MAX_STATEMENTS = 100

_MARK = "/* batch-mcp --max-nodes {n} */"
_CLAMP = (
    "$TargetDedicatedNodes = min($TargetDedicatedNodes, {n}); "
    "$TargetLowPriorityNodes = min($TargetLowPriorityNodes, {n} - max(0, $TargetDedicatedNodes));"
)
_OLD_CLAMP = re.compile(
    r"\n;?/\* batch-mcp --max-nodes (\d+) \*/ \$TargetDedicatedNodes = min\(\$TargetDedicatedNodes, \1\); "
    r"\$TargetLowPriorityNodes = min\(\$TargetLowPriorityNodes, \1 - max\(0, \$TargetDedicatedNodes\)\);\Z"
)
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+|//[^\n]*|/\*.*?\*/)
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<str>"[^"\n]*"|'[^'\n]*')
  | (?P<name>\$?[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>&&|\|\||==|!=|<=|>=|[-+*/!?:<>=(),;.])
    """,
    re.VERBOSE | re.DOTALL,
)


class Unboundable(ValueError):
    """A formula the clamp cannot be relied on for; the message says why, for the model."""


def clamp_formula(formula: str, max_nodes: int) -> str:
    """`formula` with the --max-nodes clamp appended (an earlier clamp of ours is replaced)."""
    base = _OLD_CLAMP.sub("", formula)
    tokens = _significant_tokens(base)
    statements = sum(1 for kind, text in tokens if kind == "op" and text == ";")
    if tokens and tokens[-1] != ("op", ";"):
        statements += 1
    for index, (kind, text) in enumerate(tokens):
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if kind == "name" and text.lower() == "stop" and following == ("op", "("):
            raise Unboundable(
                "the formula calls stop(), which would skip the --max-nodes bound appended to it; "
                "express the condition with ?: instead"
            )
    separator = "\n" if not tokens or tokens[-1] == ("op", ";") else "\n;"
    clamped = base + separator + _MARK.format(n=max_nodes) + " " + _CLAMP.format(n=max_nodes)
    if len(clamped) > MAX_FORMULA_CHARS or statements + 2 > MAX_STATEMENTS:
        raise Unboundable(
            f"the formula leaves no room for the --max-nodes bound (at most {MAX_FORMULA_CHARS} characters and "
            f"{MAX_STATEMENTS} statements in all, the bound included); shorten it"
        )
    return clamped


def _significant_tokens(formula: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(formula):
        if formula.startswith("/*", pos) and formula.find("*/", pos + 2) < 0:
            raise Unboundable(f"the formula opens a comment at position {pos} that is never closed")
        match = _TOKEN.match(formula, pos)
        if match is None:
            what = "a comment or a string that is never closed" if formula[pos] in "/\"'" else repr(formula[pos])
            raise Unboundable(f"the formula has {what} at position {pos}, so a bound appended to it might not apply")
        if match.lastgroup != "ws":
            tokens.append((match.lastgroup or "", match.group(0)))
        pos = match.end()
    return tokens


def target_sizes(args: Any) -> list[int]:
    """Every fixed pool size (dedicated + spot) anywhere in the arguments, e.g. in an auto pool."""
    found: list[int] = []
    if isinstance(args, Mapping):
        if any(name in args for name in SIZE_FIELDS):
            found.append(sum(_count(args.get(name)) for name in SIZE_FIELDS))
        for value in args.values():
            found.extend(target_sizes(value))
    elif isinstance(args, list):
        for value in args:
            found.extend(target_sizes(value))
    return found


def _count(value: Any) -> int:
    """A size as Batch reads it: JSON Schema's "integer" also lets 5.0 and 5e0 through."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    return int(value) if math.isfinite(value) else 1 << 62


def formula_holders(args: Any, path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(JSON pointer, object) of every object in the arguments that carries an autoscale formula."""
    if isinstance(args, Mapping):
        if isinstance(args.get(FORMULA_FIELD), str):
            yield path, args
        for key, value in args.items():
            yield from formula_holders(value, f"{path}/{key}")
    elif isinstance(args, list):
        for index, value in enumerate(args):
            yield from formula_holders(value, f"{path}/{index}")


@dataclass
class Bounded:
    """The arguments to send (formulas clamped), what was changed, or why the call is refused."""

    args: dict[str, Any]
    clamped: dict[str, str] = field(default_factory=dict)  # JSON pointer of the formula → sent formula
    refusal: str | None = None


def bound(tool: str, args: Mapping[str, Any], max_nodes: int) -> Bounded:
    too_big = [n for n in target_sizes(args) if n > max_nodes]
    if too_big:
        return Bounded(
            dict(args),
            refusal=f"{tool} asks for {max(too_big)} nodes; this server allows at most {max_nodes} (--max-nodes).",
        )
    out = _copy(args)
    clamped: dict[str, str] = {}
    for path, holder in list(formula_holders(out)):
        try:
            sent = clamp_formula(holder[FORMULA_FIELD], max_nodes)
        except Unboundable as exc:
            where = f"{path}/{FORMULA_FIELD}" if path else FORMULA_FIELD
            return Bounded(
                dict(args), refusal=f"{tool}: {where}: {exc} (this server runs with --max-nodes {max_nodes})."
            )
        holder[FORMULA_FIELD] = sent  # type: ignore[index]
        clamped[f"{path}/{FORMULA_FIELD}"] = sent
    return Bounded(out, clamped)


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
