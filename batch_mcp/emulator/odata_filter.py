"""Compile the OData `$filter` subset that Batch users write into fast Python predicates.

List operations page through thousands of entities with the same filter text, so a filter is parsed
once (a hand-written tokenizer and recursive-descent parser), turned into plain closures, and cached.

Supported: `eq ne gt lt ge le`; `and`, `or`, `not` and parentheses (`not` binds looser than a
comparison, so `not state eq 'active'` means `not (state eq 'active')`; `and` binds tighter than
`or`); `startswith`, `endswith` and `substringof` (OData v3 argument order: needle first); literals:
single-quoted strings with `''` for a quote, integers, decimals, `true`, `false`, `null`,
`datetime'...'` (and `datetimeoffset'...'`); field paths with `/` for nesting
(`executionInfo/exitCode`). Keywords and function names are matched case-insensitively; field names
exactly, as they appear on the wire.

Semantics, chosen to match what Batch users rely on:
- A missing field (or a path through a missing or non-object value) is null: `eq null` is true,
  `ne <non-null>` is true, ordering comparisons are false.
- Strings compare case-insensitively (Batch states are lower-case and IDs are case-insensitive, while
  users type `'Active'`); ordering comparisons on strings use the same case-folded order, and so do
  the string functions.
- A date-time literal, or a quoted string that looks like an ISO 8601 date-time, compares against
  date-time fields as instants (entity values may be ISO strings, with or without fractional
  seconds and `Z`, or `datetime` objects; a missing offset means UTC).
- Values of different kinds (a number against a string, a boolean against a number) are unequal
  and unordered: `eq` and ordering comparisons are false, `ne` is true.

Everything else (arithmetic, other functions, lambdas such as `any`/`all`, unknown tokens) raises
`FilterError`, whose text names the construct and its 0-based character position.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["FilterError", "compile_filter", "field_paths"]

Predicate = Callable[[Mapping[str, Any]], bool]
Getter = Callable[[Mapping[str, Any]], Any]

MAX_DEPTH = 100


class FilterError(ValueError):
    """Malformed or unsupported $filter; str(e) says what and where (the emulator answers 400 with it)."""

    def __init__(self, reason: str, position: int) -> None:
        super().__init__(f"{reason} at position {position}")
        self.reason = reason
        self.position = position


# ---------------------------------------------------------------------------------------------
# Tokens

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<typed>[A-Za-z]+)'(?P<typed_body>(?:[^']|'')*)'
  | (?P<string>'(?:[^']|'')*')
  | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?[LlMmDdFf]?)(?![A-Za-z0-9_])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<punct>[(),])
    """,
    re.VERBOSE,
)

_COMPARISONS = frozenset({"eq", "ne", "gt", "lt", "ge", "le"})
_ARITHMETIC = frozenset({"add", "sub", "mul", "div", "mod", "divby"})
_OTHER_OPERATORS = frozenset({"has", "in"})
_FUNCTIONS = {"startswith": 2, "endswith": 2, "substringof": 2}
_UNSUPPORTED_FUNCTIONS = frozenset(
    {
        "contains",
        "tolower",
        "toupper",
        "trim",
        "length",
        "indexof",
        "substring",
        "concat",
        "replace",
        "year",
        "month",
        "day",
        "hour",
        "minute",
        "second",
        "date",
        "time",
        "now",
        "round",
        "floor",
        "ceiling",
        "isof",
        "cast",
        "matchespattern",
    }
)
_DATETIME_PREFIXES = frozenset({"datetime", "datetimeoffset"})


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "string" | "number" | "datetime" | "name" | "(" | ")" | "," | "end"
    value: Any
    pos: int
    text: str


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            if text[pos] == "'":
                raise FilterError("unterminated string literal", pos)
            raise FilterError(f"unexpected character {text[pos]!r}", pos)
        kind = match.lastgroup
        raw = match.group(0)
        if kind == "typed_body":
            kind = "typed"
        if kind == "typed":
            tokens.append(_typed_literal(match.group("typed"), match.group("typed_body"), pos, raw))
        elif kind == "string":
            tokens.append(_Token("string", raw[1:-1].replace("''", "'"), pos, raw))
        elif kind == "number":
            tokens.append(_Token("number", _number(raw, pos), pos, raw))
        elif kind == "name":
            _reject_lambda(text, raw, pos, match.end())
            tokens.append(_Token("name", raw, pos, raw))
        elif kind == "punct":
            tokens.append(_Token(raw, raw, pos, raw))
        pos = match.end()
    tokens.append(_Token("end", None, len(text), ""))
    return tokens


def _reject_lambda(text: str, name: str, pos: int, end: int) -> None:
    """`tags/any(t: ...)` would otherwise fail on the ':' with a less helpful message."""
    head, _, last = name.rpartition("/")
    if head and last.lower() in ("any", "all") and text[end:].lstrip().startswith("("):
        raise FilterError(f"lambda operator {last!r} is not supported", pos + len(head) + 1)


def _typed_literal(prefix: str, body: str, pos: int, raw: str) -> _Token:
    if prefix.lower() not in _DATETIME_PREFIXES:
        raise FilterError(f"unsupported literal type {prefix}'...'", pos)
    instant = parse_datetime(body.replace("''", "'"))
    if instant is None:
        raise FilterError(f"invalid date-time literal {raw}", pos)
    return _Token("datetime", instant, pos, raw)


def _number(raw: str, pos: int) -> int | float:
    body = raw.rstrip("LlMmDdFf")
    try:
        if body.lstrip("+-").isdigit():
            return int(body)
        return float(body)
    except ValueError:  # pragma: no cover - the regex only lets numbers through
        raise FilterError(f"invalid number {raw!r}", pos) from None


def parse_datetime(text: str) -> datetime | None:
    """An ISO 8601 date-time as an aware instant (UTC when no offset is given), or None if it is not one."""
    if len(text) < 10 or text[4:5] != "-" or text[7:8] != "-":
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# Syntax tree


@dataclass(frozen=True, slots=True)
class _Literal:
    value: Any  # str | int | float | bool | None | datetime (from datetime'...')
    pos: int


@dataclass(frozen=True, slots=True)
class _Field:
    path: tuple[str, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class _Call:
    name: str
    args: tuple[_Node, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class _Compare:
    op: str
    left: _Node
    right: _Node
    pos: int


@dataclass(frozen=True, slots=True)
class _Logical:
    op: str  # "and" | "or"
    operands: tuple[_Node, ...]  # flat, so a long `a or b or c ...` never recurses
    pos: int


@dataclass(frozen=True, slots=True)
class _Not:
    operand: _Node
    pos: int


_Node = _Literal | _Field | _Call | _Compare | _Logical | _Not


class _Parser:
    """Recursive descent: or_expr → and_expr → not_expr → comparison → operand."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.index = 0
        self.depth = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def keyword(self) -> str | None:
        token = self.token
        return token.value.lower() if token.kind == "name" else None

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect(self, kind: str, what: str) -> _Token:
        if self.token.kind != kind:
            raise FilterError(f"expected {what} but found {_describe(self.token)}", self.token.pos)
        return self.advance()

    def parse(self) -> _Node:
        node = self.or_expr()
        if self.token.kind != "end":
            raise FilterError(f"unexpected {_describe(self.token)}", self.token.pos)
        return node

    def or_expr(self) -> _Node:
        operands = [self.and_expr()]
        while self.keyword() == "or":
            self.advance()
            operands.append(self.and_expr())
        return operands[0] if len(operands) == 1 else _Logical("or", tuple(operands), operands[0].pos)

    def and_expr(self) -> _Node:
        operands = [self.not_expr()]
        while self.keyword() == "and":
            self.advance()
            operands.append(self.not_expr())
        return operands[0] if len(operands) == 1 else _Logical("and", tuple(operands), operands[0].pos)

    def not_expr(self) -> _Node:
        if self.keyword() == "not":
            pos = self.advance().pos
            self.enter(pos)
            operand = self.not_expr()
            self.depth -= 1
            return _Not(operand, pos)
        return self.comparison()

    def comparison(self) -> _Node:
        left = self.operand()
        op = self.keyword()
        if op in _COMPARISONS:
            pos = self.advance().pos
            right = self.operand()
            following = self.keyword()
            if following in _COMPARISONS:
                reason = f"comparisons cannot be chained; add parentheses before {following!r}"
                raise FilterError(reason, self.token.pos)
            return _Compare(op, left, right, pos)
        self.reject_operator()
        return left

    def reject_operator(self) -> None:
        word = self.keyword()
        if word in _ARITHMETIC:
            raise FilterError(f"arithmetic operator {self.token.value!r} is not supported", self.token.pos)
        if word in _OTHER_OPERATORS:
            raise FilterError(f"operator {self.token.value!r} is not supported", self.token.pos)

    def operand(self) -> _Node:
        token = self.token
        if token.kind == "(":
            self.advance()
            self.enter(token.pos)
            node = self.or_expr()
            self.depth -= 1
            self.expect(")", "')'")
            return node
        if token.kind in ("string", "number", "datetime"):
            self.advance()
            return _Literal(token.value, token.pos)
        if token.kind == "name":
            return self.name_operand()
        if token.kind == "end":
            raise FilterError("unexpected end of filter; expected a field, literal or function", token.pos)
        raise FilterError(f"unexpected {_describe(token)}; expected a field, literal or function", token.pos)

    def name_operand(self) -> _Node:
        token = self.advance()
        word = token.value.lower()
        if self.token.kind == "(":
            return self.call(token)
        if word in ("true", "false"):
            return _Literal(word == "true", token.pos)
        if word == "null":
            return _Literal(None, token.pos)
        if word in _COMPARISONS or word in ("and", "or", "not") or word in _ARITHMETIC:
            raise FilterError(f"expected a field, literal or function but found operator {token.value!r}", token.pos)
        if word in _UNSUPPORTED_FUNCTIONS or word in _FUNCTIONS:
            raise FilterError(f"function {token.value!r} must be followed by '('", token.pos)
        return _Field(tuple(token.value.split("/")), token.pos)

    def call(self, name: _Token) -> _Node:
        word = name.value.lower()
        if word in _UNSUPPORTED_FUNCTIONS:
            raise FilterError(f"function {name.value!r} is not supported", name.pos)
        if word not in _FUNCTIONS:
            raise FilterError(f"unknown function {name.value!r}", name.pos)
        self.advance()  # "("
        self.enter(name.pos)
        args: list[_Node] = []
        if self.token.kind != ")":
            args.append(self.or_expr())
            while self.token.kind == ",":
                self.advance()
                args.append(self.or_expr())
        self.depth -= 1
        self.expect(")", "')' or ','")
        if len(args) != _FUNCTIONS[word]:
            raise FilterError(f"function {word!r} takes {_FUNCTIONS[word]} arguments, got {len(args)}", name.pos)
        return _Call(word, tuple(args), name.pos)

    def enter(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FilterError(f"filter nests deeper than {MAX_DEPTH} levels", pos)


def _describe(token: _Token) -> str:
    if token.kind == "end":
        return "end of filter"
    if token.kind == "name":
        return repr(token.value)
    return token.text if token.kind in ("string", "datetime", "number") else repr(token.text)


# ---------------------------------------------------------------------------------------------
# Compilation to closures

_ORDER = {"gt": operator.gt, "lt": operator.lt, "ge": operator.ge, "le": operator.le}
_FLIPPED = {"eq": "eq", "ne": "ne", "gt": "lt", "lt": "gt", "ge": "le", "le": "ge"}


def _getter(path: tuple[str, ...]) -> Getter:
    if len(path) == 1:
        key = path[0]

        def get_one(entity: Mapping[str, Any]) -> Any:
            return entity.get(key)

        return get_one

    def get_path(entity: Mapping[str, Any]) -> Any:
        value: Any = entity
        for key in path:
            if not isinstance(value, Mapping):
                return None
            value = value.get(key)
            if value is None:
                return None
        return value

    return get_path


def _mismatch(op: str) -> bool:
    """The result of comparing values of different kinds: only `ne` holds."""
    return op == "ne"


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {"eq": operator.eq, "ne": operator.ne, **_ORDER}


def _apply(op: str, left: Any, right: Any) -> bool:
    return _OPERATORS[op](left, right)


def _kind(value: Any) -> str:
    """Which values are comparable with each other: 'null', 'bool', 'number', 'str', 'datetime' or 'other'."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "str"
    if isinstance(value, datetime):
        return "datetime"
    return "other"


def _as_instant(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def compare_values(op: str, left: Any, right: Any) -> bool:
    """Compare two runtime values with the module's semantics (null, case-folding, instants)."""
    left_kind, right_kind = _kind(left), _kind(right)
    if left_kind == "null" or right_kind == "null":
        if op == "eq":
            return left_kind == right_kind
        if op == "ne":
            return left_kind != right_kind
        return False
    if left_kind == "datetime" or right_kind == "datetime":
        left_instant = _as_instant(left) if left_kind == "datetime" else None
        right_instant = _as_instant(right) if right_kind == "datetime" else None
        if left_kind == "str":
            left_instant = parse_datetime(left)
        if right_kind == "str":
            right_instant = parse_datetime(right)
        if left_instant is None or right_instant is None:
            return _mismatch(op)
        return _apply(op, left_instant, right_instant)
    if left_kind != right_kind or left_kind == "other":
        if left_kind == right_kind == "other" and op in ("eq", "ne"):
            return _apply(op, left, right)
        return _mismatch(op)
    if left_kind == "str":
        left_instant, right_instant = parse_datetime(left), parse_datetime(right)
        if left_instant is not None and right_instant is not None:
            return _apply(op, left_instant, right_instant)
        return _apply(op, left.casefold(), right.casefold())
    if left_kind == "bool" and op not in ("eq", "ne"):
        return False
    return _apply(op, left, right)


def _compare_with_literal(op: str, get: Getter, literal: Any) -> Predicate:
    """Specialised closures for the common `field op literal` shape; same results as compare_values."""
    kind = _kind(literal)
    if kind == "null":
        if op == "eq":
            return lambda entity: get(entity) is None
        if op == "ne":
            return lambda entity: get(entity) is not None
        return lambda entity: False
    if kind == "number":
        order = _ORDER.get(op)

        def number(entity: Mapping[str, Any]) -> bool:
            value = get(entity)
            if value is None:
                return op == "ne"
            if isinstance(value, bool) or not isinstance(value, int | float):
                return op == "ne"
            if order is not None:
                return order(value, literal)
            return (value == literal) == (op == "eq")

        return number
    if kind == "str":
        folded = literal.casefold()
        instant = parse_datetime(literal)
        test = _OPERATORS[op]

        def string(entity: Mapping[str, Any]) -> bool:
            value = get(entity)
            if isinstance(value, str):
                if instant is not None:
                    value_instant = parse_datetime(value)
                    if value_instant is not None:
                        return test(value_instant, instant)
                return test(value.casefold(), folded)
            return compare_values(op, value, literal)

        return string
    if kind == "datetime":
        literal_instant = _as_instant(literal)
        test = _OPERATORS[op]

        def moment(entity: Mapping[str, Any]) -> bool:
            value = get(entity)
            if isinstance(value, str):
                value_instant = parse_datetime(value)
                if value_instant is None:
                    return op == "ne"
                return test(value_instant, literal_instant)
            return compare_values(op, value, literal_instant)

        return moment
    return lambda entity: compare_values(op, get(entity), literal)


def _value(node: _Node) -> Getter:
    """A closure giving the node's value for an entity (None for missing)."""
    if isinstance(node, _Literal):
        constant = node.value
        return lambda entity: constant
    if isinstance(node, _Field):
        return _getter(node.path)
    return _predicate(node)


def _predicate(node: _Node) -> Predicate:
    """A closure giving the node's truth for an entity."""
    if isinstance(node, _Logical):
        return _logical(node.op == "and", [_predicate(operand) for operand in node.operands])
    if isinstance(node, _Not):
        inner = _predicate(node.operand)
        return lambda entity: not inner(entity)
    if isinstance(node, _Compare):
        return _comparison(node)
    if isinstance(node, _Call):
        return _function(node)
    if isinstance(node, _Field):
        get = _getter(node.path)
        return lambda entity: get(entity) is True
    if isinstance(node.value, bool):
        constant = node.value
        return lambda entity: constant
    raise FilterError(f"expected a condition but found the literal {node.value!r}", node.pos)


def _logical(is_and: bool, parts: list[Predicate]) -> Predicate:
    if len(parts) == 2:
        left, right = parts
        if is_and:
            return lambda entity: left(entity) and right(entity)
        return lambda entity: left(entity) or right(entity)
    if is_and:
        return lambda entity: all(part(entity) for part in parts)
    return lambda entity: any(part(entity) for part in parts)


def _comparison(node: _Compare) -> Predicate:
    op, left, right = node.op, node.left, node.right
    if isinstance(left, _Literal) and not isinstance(right, _Literal):
        op, left, right = _FLIPPED[op], right, left
    if isinstance(right, _Literal):
        if isinstance(left, _Literal):
            result = compare_values(op, left.value, right.value)
            return lambda entity: result
        return _compare_with_literal(op, _value(left), right.value)
    get_left, get_right = _value(left), _value(right)
    return lambda entity: compare_values(op, get_left(entity), get_right(entity))


def _function(node: _Call) -> Predicate:
    first, second = node.args
    if node.name == "substringof":  # OData v3: substringof(needle, haystack)
        first, second = second, first
    test: Callable[[str, str], bool] = {
        "startswith": str.startswith,
        "endswith": str.endswith,
        "substringof": str.__contains__,
    }[node.name]
    if isinstance(second, _Literal):
        if not isinstance(second.value, str):
            raise FilterError(f"function {node.name!r} needs a string, got {second.value!r}", second.pos)
        needle = second.value.casefold()
        get = _value(first)

        def against_literal(entity: Mapping[str, Any]) -> bool:
            value = get(entity)
            return isinstance(value, str) and test(value.casefold(), needle)

        return against_literal
    get_first, get_second = _value(first), _value(second)

    def general(entity: Mapping[str, Any]) -> bool:
        value, other = get_first(entity), get_second(entity)
        return isinstance(value, str) and isinstance(other, str) and test(value.casefold(), other.casefold())

    return general


def _match_all(entity: Mapping[str, Any]) -> bool:
    return True


@functools.lru_cache(maxsize=512)
def compile_filter(text: str) -> Callable[[Mapping[str, Any]], bool]:
    """Compile a `$filter` expression into a predicate over wire-shaped entity dicts.

    An empty or blank filter matches everything (as an absent `$filter` does). Raises FilterError for
    malformed or unsupported filters. Results are cached by text, so repeated pages are cheap.
    """
    if not text.strip():
        return _match_all
    return _predicate(_Parser(text).parse())


@functools.lru_cache(maxsize=512)
def field_paths(text: str) -> tuple[tuple[str, int], ...]:
    """The field paths a filter names (`executionInfo/exitCode`) with their positions, in order.
    Raises FilterError as compile_filter does."""
    if not text.strip():
        return ()
    found: list[tuple[str, int]] = []
    pending: list[_Node] = [_Parser(text).parse()]
    while pending:
        node = pending.pop()
        if isinstance(node, _Field):
            found.append(("/".join(node.path), node.pos))
        elif isinstance(node, _Call):
            pending.extend(node.args)
        elif isinstance(node, _Compare):
            pending.extend((node.left, node.right))
        elif isinstance(node, _Logical):
            pending.extend(node.operands)
        elif isinstance(node, _Not):
            pending.append(node.operand)
    return tuple(sorted(found, key=lambda f: f[1]))
