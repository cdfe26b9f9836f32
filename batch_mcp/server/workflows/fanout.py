"""Many tasks from one template: `{placeholders}` filled from a range, a list of values, or lines.

A model that wants 10,000 tasks writes one task with placeholders and says what to fill them
with, instead of spelling out every task. Expansion is pure (no Batch calls): `expand` returns
the tasks, and the caller validates each one against the full task model and submits them as if
the model had written them all.

Placeholders are `{name}` or `{name:spec}` (a Python format spec, e.g. `{i:04d}`), anywhere in a
string of the template (ids, command lines, resource files, environment settings, output files):

    {i}       the task's 0-based position
    {value}   the range number, the list value, or the line (its text without the newline)
    {key}     each key of an object value ({"frame": 7, "scene": "a"} gives {frame} and {scene})

`{{` and `}}` are literal braces. A `{word}` that names no parameter is left as it is (so a shell's
`${HOME}` survives) and reported, unless it is so close to a parameter's name (`{valu}`, `{nme}`)
that it can only be a typo: then nothing expands, since thousands of tasks sent with the typo
could not simply be sent again. Placeholders fill strings;
other template values are copied as they are. Only names and a small format spec (fill, align,
sign, zero padding, a width below 100, a precision, a type) are read: no attribute or index
access as in `str.format`, and no width that would blow a task up.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)(?::([^{}]*))?\}")
FORMAT_SPEC = re.compile(r"^(?:[^{}]?[<>^=])?[+\- ]?0?\d{0,2}(?:\.\d{1,2})?[bdefgosxX%]?$")


class TemplateError(ValueError):
    """A template or its parameters that cannot be expanded; the message says what to change."""


@dataclass
class Expansion:
    tasks: list[dict[str, Any]]
    unknown: set[str] = field(default_factory=set)  # `{names}` left as they are
    bare: set[str] = field(default_factory=set)  # those of them not written as a shell's `${name}`


def range_values(spec: Sequence[int]) -> range:
    """`[first, last]` or `[first, last, step]`, both ends included (frame ranges are written so)."""
    if len(spec) not in (2, 3) or not all(isinstance(n, int) and not isinstance(n, bool) for n in spec):
        raise TemplateError("range is [first, last] or [first, last, step], integers")
    first, last = spec[0], spec[1]
    step = spec[2] if len(spec) == 3 else (1 if last >= first else -1)
    if step == 0 or (last - first) * step < 0:
        raise TemplateError(f"range {list(spec)}: the step {step} never gets from {first} to {last}")
    return range(first, last + (1 if step > 0 else -1), step)


def line_values(text: str) -> list[str]:
    """The non-empty lines of a file, without their line ends or surrounding blanks."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def expand(template: Mapping[str, Any], values: Iterable[Any], *, limit: int) -> Expansion:
    """One task per value, at most `limit` (TemplateError beyond it)."""
    out = Expansion([])
    known: set[str] = set()
    for index, value in enumerate(values):
        if index >= limit:
            raise TemplateError(f"more than {limit} tasks; split the parameters across calls")
        names: dict[str, Any] = {"i": index, "value": value}
        if isinstance(value, Mapping):
            for key, item in value.items():
                if key != "i":  # {i} is always the position
                    names[str(key)] = item
        known.update(names)
        out.tasks.append(_fill(template, names, out))
    for name in sorted(out.bare):
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
        if close:
            raise TemplateError(
                f"{{{name}}} names no parameter; did you mean {{{close[0]}}}? (Write {{{{{name}}}}} for "
                "literal braces.)"
            )
    return out


def placeholder_names(template: Any) -> set[str]:
    """Every `{name}` the template uses."""
    found: set[str] = set()
    for text in _strings(template):
        found.update(m.group(1) for m in PLACEHOLDER.finditer(text) if m.group(1))
    return found


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _fill(value: Any, names: Mapping[str, Any], out: Expansion) -> Any:
    if isinstance(value, str):
        return _fill_text(value, names, out)
    if isinstance(value, Mapping):
        return {key: _fill(item, names, out) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, names, out) for item in value]
    return value


def _fill_text(text: str, names: Mapping[str, Any], out: Expansion) -> str:
    def one(match: re.Match[str]) -> str:
        token, name, spec = match.group(0), match.group(1), match.group(2)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        if name not in names:
            out.unknown.add(name)
            if not text[: match.start()].endswith("$"):
                out.bare.add(name)
            return token
        return _formatted(names[name], spec or "", name)

    return PLACEHOLDER.sub(one, text)


def _formatted(value: Any, spec: str, name: str) -> str:
    if not FORMAT_SPEC.match(spec):
        raise TemplateError(f"{{{name}:{spec}}}: use a format like 04d, >8 or .2f (width below 100)")
    if isinstance(value, (Mapping, list)):
        raise TemplateError(f"{{{name}}} is an object or list; name one of its keys instead")
    if value is None or isinstance(value, bool):
        value = "" if value is None else str(value).lower()
    try:
        return format(value, spec)
    except (ValueError, TypeError) as exc:
        raise TemplateError(f"{{{name}:{spec}}} cannot format {value!r}: {exc}") from None
