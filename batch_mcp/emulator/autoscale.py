"""Evaluate Batch autoscale formulas the way the service does at each evaluation interval.

`parse_formula` checks syntax when a formula is set (the emulator answers 400 with the error);
`evaluate` runs a formula against a snapshot of the pool (`AutoScaleInputs`) and never raises for
runtime problems: they come back in `AutoScaleOutcome.error`, shaped like the wire's
`AutoScaleRunError`, and the pool's targets stay as they were.

The language, as documented for the service:
- Statements separated by `;` (the last may omit it); a statement is `name = expr` or a bare
  expression. Line breaks are whitespace; `//` and `/* */` are comments. At most 8192 characters
  (`AutoScaleFormulaTooLong`) and 100 statements.
- Types: double, doubleVec (sample vectors), string, timestamp and timeinterval. Comparisons and
  `&& || !` give doubles (1 or 0); `cond ? a : b` treats nonzero as true and evaluates one branch.
- Arithmetic `+ - * /` on doubles, element-wise on vectors (with a double or an equal-length
  vector), and on time: double*interval, interval*double, interval/double, interval±interval,
  timestamp±interval, interval+timestamp, timestamp-timestamp. `%` is not part of the language.
- Variables: `$TargetDedicatedNodes`, `$TargetLowPriorityNodes` (aliases `$TargetDedicated`,
  `$TargetLowPriority`; the full name wins if both are set) and `$NodeDeallocationOption` are
  read-write; they start at the pool's current targets and `requeue`. Sampled metrics such as
  `$PendingTasks` or `$CPUPercent` are read through `.GetSample(...)`, `.GetSamplePercent(...)`,
  `.Count()`, `.HistoryBeginTime()` and `.GetSamplePeriod()`; scalars such as
  `$CurrentDedicatedNodes` are plain doubles. User variables may be written with or without `$`
  (`x` and `$x` are different names). The bare words `requeue`, `terminate`, `taskcompletion` and
  `retaineddata` are strings unless a variable of that name was assigned.
- Functions: avg, len, lg, ln, log, max, min, norm, percentile, rand, range, std, stop, sum, time,
  val (the documented set; list functions take any mix of doubles and vectors and flatten them)
  plus abs, ceil, floor, round and count, which the service does not document and the emulator
  accepts as a convenience (see EXTENSION_FUNCTIONS).
- Time: `TimeInterval_Zero/100ns/Microsecond/Millisecond/Second/Minute/Hour/Day/Week/Year`;
  `time()` is the evaluation time, `time("...")` parses W3C-DTF or RFC 1123; a timestamp has
  members year, month, day, weekday (Sunday 0, Monday 1), hour, minute, second.

Samples are 30 seconds apart (SAMPLE_PERIOD). `GetSample(n)` returns the newest n samples;
`GetSample(t [, percent])` those in the last t (a timeinterval, or since a timestamp);
`GetSample(t1, t2 [, percent])` those between the two look-backs. With a percent, the evaluation
fails unless that share of the expected samples (span / 30 s) is present; `GetSamplePercent`
reports the share (0-100) so a formula can fall back instead. Vectors are oldest first.

Final values are checked like the service checks them: targets must be finite, non-negative doubles
and are rounded down to whole nodes; `$NodeDeallocationOption` must be one of the four options.
`AutoScaleOutcome.results` is the service's text form: the two targets and the deallocation option
first, then every other assigned variable sorted by name, doubles without a trailing `.0`.

Error codes: syntax errors raise FormulaError with `AutoScalingFormulaSyntaxError` (or
`AutoScaleFormulaTooLong`), the codes Batch uses when a formula is rejected on set; runtime errors
report `AutoScalingFormulaEvaluationError`, the code the service puts in `autoScaleRun.error`.
Error `values` carry the statement number, the 0-based position, the 1-based line and column and
the offending source text.
"""

from __future__ import annotations

import bisect
import functools
import math
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

__all__ = [
    "EVALUATION_ERROR",
    "EXTENSION_FUNCTIONS",
    "SAMPLE_PERIOD",
    "SYNTAX_ERROR",
    "TOO_LONG",
    "AutoScaleError",
    "AutoScaleInputs",
    "AutoScaleOutcome",
    "Formula",
    "FormulaError",
    "evaluate",
    "format_results",
    "parse_formula",
]

SYNTAX_ERROR = "AutoScalingFormulaSyntaxError"
TOO_LONG = "AutoScaleFormulaTooLong"
EVALUATION_ERROR = "AutoScalingFormulaEvaluationError"

MAX_FORMULA_LENGTH = 8192
MAX_STATEMENTS = 100
MAX_DEPTH = 50  # nesting of parentheses, unary operators and ?: (each level costs ~11 parser frames)
SAMPLE_PERIOD = timedelta(seconds=30)
_PERIOD_SECONDS = SAMPLE_PERIOD.total_seconds()

DEDICATED = "$TargetDedicatedNodes"
LOW_PRIORITY = "$TargetLowPriorityNodes"
DEALLOCATION = "$NodeDeallocationOption"
ALIASES = {"$TargetDedicated": DEDICATED, "$TargetLowPriority": LOW_PRIORITY}
OUTPUTS = (DEDICATED, LOW_PRIORITY, DEALLOCATION)
DEALLOCATION_OPTIONS = ("requeue", "terminate", "taskcompletion", "retaineddata")

SAMPLED_VARIABLES = frozenset(
    {
        "$CPUPercent",
        "$WallClockSeconds",
        "$MemoryBytes",
        "$DiskBytes",
        "$DiskReadBytes",
        "$DiskWriteBytes",
        "$DiskReadOps",
        "$DiskWriteOps",
        "$NetworkInBytes",
        "$NetworkOutBytes",
        "$SampleNodeCount",
        "$ActiveTasks",
        "$RunningTasks",
        "$PendingTasks",
        "$SucceededTasks",
        "$FailedTasks",
        "$PreemptedNodeCount",
    }
)
"""Read-only metrics read through GetSample and friends; missing from the inputs means no samples yet."""

SCALAR_VARIABLES = frozenset(
    {"$CurrentDedicatedNodes", "$CurrentLowPriorityNodes", "$UsableNodeCount", "$TaskSlotsPerNode"}
)
"""Read-only doubles; missing from the inputs reads as 0."""

EXTENSION_FUNCTIONS = frozenset({"abs", "ceil", "floor", "round", "count"})
"""Accepted by the emulator although the service's function table does not list them."""

_INTERVALS = {
    "TimeInterval_Zero": 0.0,
    "TimeInterval_100ns": 1e-7,
    "TimeInterval_Microsecond": 1e-6,
    "TimeInterval_Millisecond": 1e-3,
    "TimeInterval_Second": 1.0,
    "TimeInterval_Minute": 60.0,
    "TimeInterval_Hour": 3600.0,
    "TimeInterval_Day": 86400.0,
    "TimeInterval_Week": 7 * 86400.0,
    "TimeInterval_Year": 365 * 86400.0,
}
_TIMESTAMP_MEMBERS = ("year", "month", "day", "weekday", "hour", "minute", "second")
_METRIC_METHODS = {  # name → (min args, max args)
    "GetSample": (1, 3),
    "GetSamplePercent": (1, 2),
    "GetSamplePeriod": (0, 0),
    "Count": (0, 0),
    "HistoryBeginTime": (0, 0),
}


# ---------------------------------------------------------------------------------------------
# Public data types


@dataclass(frozen=True)
class AutoScaleError:
    """A failed evaluation, as the wire's AutoScaleRunError: values are [{"name": ..., "value": ...}]."""

    code: str
    message: str
    values: list[dict[str, str]] = field(default_factory=list)

    def to_wire(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "values": [dict(v) for v in self.values]}


class FormulaError(ValueError):
    """A formula rejected before it runs: bad syntax (AutoScalingFormulaSyntaxError) or too long.

    `code`, `message` and `values` are what the emulator puts in its 400 error body; `position` is
    the 0-based offset of the problem in the formula text.
    """

    def __init__(self, code: str, message: str, values: list[dict[str, str]], position: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.values = values
        self.position = position

    def as_error(self) -> AutoScaleError:
        return AutoScaleError(self.code, self.message, list(self.values))


@dataclass
class AutoScaleInputs:
    """A snapshot of the pool for one evaluation.

    now: the evaluation time (`time()`, and the end of every sample window); naive means UTC.
    scalars: doubles by variable name, e.g. {"$CurrentDedicatedNodes": 2}. Put the pool's current
        targets here as "$TargetDedicatedNodes" / "$TargetLowPriorityNodes": they are the values a
        formula reads before assigning them, and what results report when evaluation fails.
    samples: metric history by variable name, e.g. {"$PendingTasks": [(t, 12.0), ...]}, oldest
        first; samples later than `now` are ignored.
    rand: the source of `rand()`, replaceable for deterministic tests.
    """

    now: datetime
    scalars: Mapping[str, float] = field(default_factory=dict)
    samples: Mapping[str, Sequence[tuple[datetime, float]]] = field(default_factory=dict)
    rand: Callable[[], float] = random.random


AutoScaleValue = float | str | list[float] | datetime | timedelta


@dataclass
class AutoScaleOutcome:
    """The result of one evaluation.

    values: final value of the three outputs and of every assigned variable (doubles as float,
        vectors as list, timestamps as aware datetime, intervals as timedelta). On error, only the
        outputs, at their starting values.
    results: the service's text form of `values` (AutoScaleRun.results).
    error: why the evaluation failed, or None.
    target_dedicated_nodes, target_low_priority_nodes, node_deallocation_option: the outputs,
        validated and ready to apply (the starting values when `error` is set).
    """

    values: dict[str, AutoScaleValue]
    results: str
    error: AutoScaleError | None
    target_dedicated_nodes: int
    target_low_priority_nodes: int
    node_deallocation_option: str


@dataclass(frozen=True, slots=True)
class _Interval:
    """A timeinterval in seconds (a float, so TimeInterval_100ns is representable)."""

    seconds: float


class _EvaluationFailed(Exception):
    """A runtime error at source span [start, end), with extra name/value details for the wire."""

    def __init__(self, message: str, start: int, end: int, details: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.start = start
        self.end = end
        self.details = details or []


class _Stop(Exception):
    """Raised by stop(): the remaining statements are skipped."""


# ---------------------------------------------------------------------------------------------
# Tokens

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


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "num" | "str" | "name" | "op" | "end"
    text: str
    start: int
    end: int


def _location(text: str, position: int) -> list[dict[str, str]]:
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    return [
        {"name": "Position", "value": str(position)},
        {"name": "Line", "value": str(line)},
        {"name": "Column", "value": str(column)},
    ]


def _syntax_error(text: str, message: str, position: int, snippet: str) -> FormulaError:
    line_values = _location(text, position)
    where = f"line {line_values[1]['value']}, column {line_values[2]['value']}"
    values = [*line_values, {"name": "Text", "value": snippet}]
    return FormulaError(SYNTAX_ERROR, f"{message} at {where}", values, position)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        if text.startswith("/*", pos) and text.find("*/", pos + 2) < 0:
            raise _syntax_error(text, "unterminated comment", pos, "/*")
        match = _TOKEN.match(text, pos)
        if match is None:
            char = text[pos]
            if char in "\"'":
                raise _syntax_error(text, "unterminated string", pos, text[pos : pos + 20])
            raise _syntax_error(text, f"unexpected character {char!r}", pos, char)
        if match.lastgroup != "ws":
            tokens.append(_Token(match.lastgroup or "", match.group(0), pos, match.end()))
        pos = match.end()
    tokens.append(_Token("end", "", len(text), len(text)))
    return tokens


# ---------------------------------------------------------------------------------------------
# Compiled pieces

Evaluator = Callable[["_Env"], Any]


@dataclass(frozen=True, slots=True)
class _Expr:
    run: Evaluator
    start: int
    end: int
    variable: str | None = None  # set when the expression is a bare variable reference


@dataclass(frozen=True, slots=True)
class _Statement:
    number: int  # 1-based
    target: str | None
    expr: _Expr
    start: int
    end: int


@dataclass(frozen=True)
class Formula:
    """A parsed formula, ready to evaluate any number of times; `assigned` lists its targets in order."""

    text: str
    statements: tuple[_Statement, ...]
    assigned: tuple[str, ...]


class _Env:
    """Mutable state of one evaluation."""

    __slots__ = ("explicit", "inputs", "now", "series", "variables")

    def __init__(self, inputs: AutoScaleInputs) -> None:
        self.inputs = inputs
        self.now = _aware(inputs.now)
        self.variables: dict[str, Any] = {
            DEDICATED: float(inputs.scalars.get(DEDICATED, 0.0)),
            LOW_PRIORITY: float(inputs.scalars.get(LOW_PRIORITY, 0.0)),
            DEALLOCATION: "requeue",
        }
        self.explicit: set[str] = set()
        self.series: dict[str, tuple[list[datetime], list[float]]] = {}

    def assign(self, name: str, value: Any) -> None:
        full = ALIASES.get(name)
        self.variables[name] = value
        if full is not None:
            if full not in self.explicit:
                self.variables[full] = value
        elif name in (DEDICATED, LOW_PRIORITY):
            self.explicit.add(name)

    def samples(self, name: str) -> tuple[list[datetime], list[float]]:
        cached = self.series.get(name)
        if cached is None:
            pairs = sorted(((_aware(t), float(v)) for t, v in self.inputs.samples.get(name, ())), key=lambda p: p[0])
            pairs = [p for p in pairs if p[0] <= self.now]
            cached = ([t for t, _ in pairs], [v for _, v in pairs])
            self.series[name] = cached
        return cached


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _type_name(value: Any) -> str:
    if isinstance(value, float):
        return "double"
    if isinstance(value, tuple):
        return "doubleVec"
    if isinstance(value, str):
        return "string"
    if isinstance(value, datetime):
        return "timestamp"
    if isinstance(value, _Interval):
        return "timeinterval"
    return type(value).__name__  # pragma: no cover - no other values exist


def _truth(value: Any, expr: _Expr, what: str) -> bool:
    if not isinstance(value, float):
        raise _EvaluationFailed(f"{what} must be a double, not a {_type_name(value)}", expr.start, expr.end)
    return value != 0.0


def _divide(left: float, right: float) -> float:
    if right != 0.0:
        return left / right
    if left == 0.0 or math.isnan(left):
        return math.nan
    return math.copysign(math.inf, left) * math.copysign(1.0, right)


_DOUBLE_OPS: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": _divide,
}
_COMPARE_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _arithmetic(op: str, left: Any, right: Any, start: int, end: int) -> Any:
    if isinstance(left, float) and isinstance(right, float):
        return _DOUBLE_OPS[op](left, right)
    if isinstance(left, tuple) or isinstance(right, tuple):
        return _vector_arithmetic(op, left, right, start, end)
    if isinstance(left, _Interval) or isinstance(right, _Interval) or isinstance(left, datetime):
        try:
            result = _time_arithmetic(op, left, right)
        except (OverflowError, ValueError):
            raise _EvaluationFailed("the result is outside the range of timestamps", start, end) from None
        if result is not None:
            return result
    raise _EvaluationFailed(
        f"operator '{op}' is not defined for {_type_name(left)} and {_type_name(right)}", start, end
    )


def _vector_arithmetic(op: str, left: Any, right: Any, start: int, end: int) -> tuple[float, ...]:
    fn = _DOUBLE_OPS[op]
    if isinstance(left, tuple) and isinstance(right, tuple):
        if len(left) != len(right):
            raise _EvaluationFailed(
                f"operator '{op}' needs vectors of equal length, got {len(left)} and {len(right)}", start, end
            )
        return tuple(fn(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, tuple) and isinstance(right, float):
        return tuple(fn(a, right) for a in left)
    if isinstance(left, float) and isinstance(right, tuple):
        return tuple(fn(left, b) for b in right)
    raise _EvaluationFailed(
        f"operator '{op}' is not defined for {_type_name(left)} and {_type_name(right)}", start, end
    )


def _time_arithmetic(op: str, left: Any, right: Any) -> Any:
    """The time rows of the operation table; None when the combination is not one of them."""
    if isinstance(left, _Interval) and isinstance(right, _Interval) and op in "+-":
        return _Interval(left.seconds + right.seconds if op == "+" else left.seconds - right.seconds)
    if op == "*" and isinstance(left, float) and isinstance(right, _Interval):
        return _Interval(left * right.seconds)
    if op in "*/" and isinstance(left, _Interval) and isinstance(right, float):
        return _Interval(left.seconds * right if op == "*" else _divide(left.seconds, right))
    if isinstance(left, datetime) and isinstance(right, _Interval) and op in "+-":
        return _shift(left, right.seconds if op == "+" else -right.seconds)
    if op == "+" and isinstance(left, _Interval) and isinstance(right, datetime):
        return _shift(right, left.seconds)
    if op == "-" and isinstance(left, datetime) and isinstance(right, datetime):
        return _Interval((left - right).total_seconds())
    return None


def _shift(moment: datetime, seconds: float) -> datetime:
    """moment + seconds; raises OverflowError or ValueError outside the range of datetime."""
    return moment + timedelta(seconds=seconds)


def _comparable(left: Any, right: Any) -> bool:
    return (
        (isinstance(left, float) and isinstance(right, float))
        or (isinstance(left, str) and isinstance(right, str))
        or (isinstance(left, datetime) and isinstance(right, datetime))
        or (isinstance(left, _Interval) and isinstance(right, _Interval))
    )


def _compare(op: str, left: Any, right: Any, start: int, end: int) -> float:
    if not _comparable(left, right):
        raise _EvaluationFailed(
            f"operator '{op}' cannot compare {_type_name(left)} with {_type_name(right)}", start, end
        )
    if isinstance(left, _Interval):
        left, right = left.seconds, right.seconds
    return 1.0 if _COMPARE_OPS[op](left, right) else 0.0


# ---------------------------------------------------------------------------------------------
# Functions


def _flatten(name: str, args: list[Any], exprs: Sequence[_Expr]) -> list[float]:
    values: list[float] = []
    for value, expr in zip(args, exprs, strict=True):
        if isinstance(value, float):
            values.append(value)
        elif isinstance(value, tuple):
            values.extend(value)
        else:
            raise _EvaluationFailed(
                f"{name}() takes doubles and sample vectors, not a {_type_name(value)}", expr.start, expr.end
            )
    return values


def _nonempty(name: str, values: list[float], exprs: Sequence[_Expr]) -> list[float]:
    if not values:
        raise _EvaluationFailed(f"{name}() of an empty vector (no samples?)", exprs[0].start, exprs[-1].end)
    return values


def _std(values: list[float]) -> float:
    if len(values) < 2:
        return 0.0
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _percentile(values: list[float], percent: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = math.ceil(percent / 100.0 * len(ordered))
    return ordered[min(max(rank, 1), len(ordered)) - 1]


_LIST_FUNCTIONS: dict[str, Callable[[list[float]], float]] = {
    "avg": lambda v: math.fsum(v) / len(v),
    "max": max,
    "min": min,
    "range": lambda v: max(v) - min(v),
    "std": _std,
}
_TOTAL_FUNCTIONS: dict[str, Callable[[list[float]], float]] = {  # defined for empty lists too
    "sum": math.fsum,
    "len": lambda v: float(len(v)),
    "count": lambda v: float(len(v)),
    "norm": lambda v: math.sqrt(math.fsum(x * x for x in v)),
}
_ELEMENT_FUNCTIONS: dict[str, Callable[[float], float]] = {
    "lg": math.log2,
    "ln": math.log,
    "log": math.log10,
    "abs": abs,
    "ceil": lambda x: float(math.ceil(x)),
    "floor": lambda x: float(math.floor(x)),
    "round": lambda x: float(round(x)),
}
_ANY_NUMBER = 1_000_000
_FUNCTION_ARITY: dict[str, tuple[int, int]] = {
    **{name: (1, _ANY_NUMBER) for name in (*_LIST_FUNCTIONS, *_TOTAL_FUNCTIONS)},
    **{name: (1, 1) for name in _ELEMENT_FUNCTIONS},
    "percentile": (2, 2),
    "val": (2, 2),
    "rand": (0, 0),
    "stop": (0, 0),
    "time": (0, 1),
}


def _element(name: str, value: Any, expr: _Expr) -> Any:
    fn = _ELEMENT_FUNCTIONS[name]

    def apply(x: float) -> float:
        try:
            return fn(x)
        except (ValueError, OverflowError):
            raise _EvaluationFailed(f"{name}({_format_double(x)}) is undefined", expr.start, expr.end) from None

    if isinstance(value, float):
        return apply(value)
    if isinstance(value, tuple):
        return tuple(apply(x) for x in value)
    raise _EvaluationFailed(f"{name}() takes a double or a vector, not a {_type_name(value)}", expr.start, expr.end)


def _parse_time(text: str, expr: _Expr) -> datetime:
    try:
        return _aware(datetime.fromisoformat(text.strip()))
    except ValueError:
        pass
    try:
        return _aware(parsedate_to_datetime(text))
    except (TypeError, ValueError, IndexError):
        raise _EvaluationFailed(f"time() cannot read {text!r} (W3C-DTF or RFC 1123)", expr.start, expr.end) from None


def _call_function(name: str, args: list[Any], exprs: Sequence[_Expr], env: _Env, whole: _Expr) -> Any:
    if name in _LIST_FUNCTIONS:
        return _LIST_FUNCTIONS[name](_nonempty(name, _flatten(name, args, exprs), exprs))
    if name in _TOTAL_FUNCTIONS:
        return _TOTAL_FUNCTIONS[name](_flatten(name, args, exprs))
    if name in _ELEMENT_FUNCTIONS:
        return _element(name, args[0], exprs[0])
    if name == "percentile":
        values = _nonempty(name, _flatten(name, args[:1], exprs[:1]), exprs)
        percent = _need_double(args[1], exprs[1], "percentile's second argument")
        if not 0.0 <= percent <= 100.0:
            raise _EvaluationFailed("percentile must be between 0 and 100", exprs[1].start, exprs[1].end)
        return _percentile(values, percent)
    if name == "val":
        values = _flatten(name, args[:1], exprs[:1])
        index = _need_double(args[1], exprs[1], "val's index")
        if not (index.is_integer() and 0 <= index < len(values)):
            raise _EvaluationFailed(
                f"val index {_format_double(index)} is outside a vector of {len(values)}", whole.start, whole.end
            )
        return values[int(index)]
    if name == "rand":
        return float(env.inputs.rand())
    if name == "stop":
        raise _Stop
    # time
    if not args:
        return env.now
    if not isinstance(args[0], str):
        raise _EvaluationFailed(f"time() takes a string, not a {_type_name(args[0])}", exprs[0].start, exprs[0].end)
    return _parse_time(args[0], exprs[0])


def _need_double(value: Any, expr: _Expr, what: str) -> float:
    if not isinstance(value, float):
        raise _EvaluationFailed(f"{what} must be a double, not a {_type_name(value)}", expr.start, expr.end)
    return value


# ---------------------------------------------------------------------------------------------
# Sampled metrics


def _lookback(value: Any, env: _Env, expr: _Expr) -> float:
    """A window bound as seconds before now: a timeinterval directly, a timestamp relative to now."""
    if isinstance(value, _Interval):
        return value.seconds
    if isinstance(value, datetime):
        return (env.now - value).total_seconds()
    raise _EvaluationFailed(f"expected a timeinterval or timestamp, not a {_type_name(value)}", expr.start, expr.end)


def _window(env: _Env, name: str, near: float, far: float) -> tuple[list[float], float]:
    """Samples in (now - far, now - near] and the percentage of the expected ones present."""
    near, far = min(near, far), max(near, far)
    times, values = env.samples(name)
    oldest, newest = _clamped_shift(env.now, -far), _clamped_shift(env.now, -near)
    found = values[bisect.bisect_right(times, oldest) : bisect.bisect_right(times, newest)]
    expected = math.floor((far - near) / _PERIOD_SECONDS + 1e-9)
    percent = 100.0 if expected <= 0 else min(100.0, 100.0 * len(found) / expected)
    return found, percent


def _clamped_shift(moment: datetime, seconds: float) -> datetime:
    try:
        return _shift(moment, seconds)
    except (OverflowError, ValueError):
        return datetime.min.replace(tzinfo=UTC) if not seconds > 0 else datetime.max.replace(tzinfo=UTC)


def _metric_call(name: str, method: str, args: list[Any], exprs: Sequence[_Expr], env: _Env, whole: _Expr) -> Any:
    if name not in env.inputs.samples and name not in SAMPLED_VARIABLES:
        raise _EvaluationFailed(
            f"{name} is not a sampled variable; {method}() is not available", whole.start, whole.end
        )
    if method == "Count":
        return float(len(env.samples(name)[1]))
    if method == "GetSamplePeriod":
        return _Interval(_PERIOD_SECONDS)
    if method == "HistoryBeginTime":
        times = env.samples(name)[0]
        if not times:
            raise _EvaluationFailed(f"{name} has no samples yet", whole.start, whole.end)
        return times[0]
    if method == "GetSamplePercent":
        bounds = [_lookback(a, env, e) for a, e in zip(args, exprs, strict=True)]
        return _window(env, name, *(bounds if len(bounds) == 2 else [0.0, bounds[0]]))[1]
    return _get_sample(name, args, exprs, env, whole)


def _get_sample(name: str, args: list[Any], exprs: Sequence[_Expr], env: _Env, whole: _Expr) -> tuple[float, ...]:
    if len(args) == 1 and isinstance(args[0], float):
        count = args[0]
        if not count >= 0 or math.isinf(count):
            raise _EvaluationFailed("GetSample count must be a non-negative number", exprs[0].start, exprs[0].end)
        values = env.samples(name)[1]
        wanted = int(count)
        return tuple(values[max(0, len(values) - wanted) :])
    required: float | None = None
    bounds = list(args)
    if len(bounds) >= 2 and isinstance(bounds[-1], float):
        required = bounds.pop()
    if len(bounds) == 3:
        raise _EvaluationFailed("GetSample's third argument must be a sample percentage", exprs[2].start, exprs[2].end)
    looks = [_lookback(a, env, e) for a, e in zip(bounds, exprs, strict=False)]
    found, percent = _window(env, name, *(looks if len(looks) == 2 else [0.0, looks[0]]))
    if required is not None and percent < required:
        available = _format_double(round(percent, 2))
        raise _EvaluationFailed(
            f"insufficient samples: {name} has {available}% of the samples in the window, "
            f"{_format_double(required)}% required",
            whole.start,
            whole.end,
            [
                {"name": "Variable", "value": name},
                {"name": "SamplePercent", "value": available},
                {"name": "RequiredSamplePercent", "value": _format_double(required)},
            ],
        )
    return tuple(found)


# ---------------------------------------------------------------------------------------------
# Parser


class _Parser:
    """Recursive descent with C precedence: ?: < || < && < == != < relational < + - < * / < unary < member."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0
        self.depth = 0

    # -- token helpers
    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def at(self, *ops: str) -> bool:
        token = self.token
        return token.kind == "op" and token.text in ops

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def previous_end(self) -> int:
        return self.tokens[self.index - 1].end

    def error(self, message: str, token: _Token | None = None) -> FormulaError:
        token = token or self.token
        return _syntax_error(self.text, message, token.start, token.text)

    def expect(self, op: str) -> _Token:
        if not self.at(op):
            raise self.error(f"expected '{op}' but found {self.describe()}")
        return self.advance()

    def describe(self) -> str:
        return "the end of the formula" if self.token.kind == "end" else repr(self.token.text)

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"expression nests deeper than {MAX_DEPTH} levels")

    # -- statements
    def formula(self) -> Formula:
        statements: list[_Statement] = []
        while self.token.kind != "end":
            if self.at(";"):
                self.advance()
                continue
            statements.append(self.statement(len(statements) + 1))
            if len(statements) > MAX_STATEMENTS:
                raise _syntax_error(
                    self.text,
                    f"a formula may have at most {MAX_STATEMENTS} statements",
                    statements[-1].start,
                    self.text[statements[-1].start : statements[-1].end],
                )
            if self.token.kind != "end" and not self.at(";"):
                raise self.error(f"expected ';' between statements but found {self.describe()}")
        assigned = tuple(dict.fromkeys(s.target for s in statements if s.target is not None))
        return Formula(self.text, tuple(statements), assigned)

    def statement(self, number: int) -> _Statement:
        start = self.token.start
        following = self.tokens[self.index + 1]
        if self.token.kind == "name" and following.kind == "op" and following.text == "=":
            name_token = self.advance()
            self.advance()
            self.check_assignable(name_token)
            expr = self.expression()
            return _Statement(number, name_token.text, expr, start, expr.end)
        expr = self.expression()
        return _Statement(number, None, expr, start, expr.end)

    def check_assignable(self, token: _Token) -> None:
        name = token.text
        if name in SAMPLED_VARIABLES or name in SCALAR_VARIABLES:
            raise self.error(f"{name} is read-only", token)
        if name in _INTERVALS:
            raise self.error(f"{name} is a constant", token)

    # -- expressions
    def expression(self) -> _Expr:
        self.enter()
        condition = self.binary(0)
        if self.at("?"):
            self.advance()
            when_true = self.expression()
            self.expect(":")
            when_false = self.expression()
            condition = _ternary(condition, when_true, when_false)
        self.depth -= 1
        return condition

    _LEVELS = (("||",), ("&&",), ("==", "!="), ("<", "<=", ">", ">="), ("+", "-"), ("*", "/"))

    def binary(self, level: int) -> _Expr:
        if level == len(self._LEVELS):
            return self.unary()
        operands = [self.binary(level + 1)]
        ops: list[str] = []
        while self.at(*self._LEVELS[level]):
            ops.append(self.advance().text)
            operands.append(self.binary(level + 1))
        return _chain(operands, ops)

    def unary(self) -> _Expr:
        if self.at("-", "!", "+"):
            token = self.advance()
            self.enter()
            operand = self.unary()
            self.depth -= 1
            return _unary(token.text, operand, token.start)
        return self.postfix()

    def postfix(self) -> _Expr:
        expr = self.primary()
        while self.at("."):
            self.advance()
            member = self.token
            if member.kind != "name" or member.text.startswith("$"):
                raise self.error(f"expected a method or member name after '.' but found {self.describe()}")
            self.advance()
            if self.at("("):
                args = self.arguments()
                expr = self.method(expr, member, args)
            else:
                expr = self.member(expr, member)
        return expr

    def arguments(self) -> list[_Expr]:
        self.expect("(")
        args: list[_Expr] = []
        if not self.at(")"):
            args.append(self.expression())
            while self.at(","):
                self.advance()
                args.append(self.expression())
        self.expect(")")
        return args

    def primary(self) -> _Expr:
        token = self.token
        if token.kind == "num":
            self.advance()
            number = float(token.text)
            return _Expr(lambda env: number, token.start, token.end)
        if token.kind == "str":
            self.advance()
            string = token.text[1:-1]
            return _Expr(lambda env: string, token.start, token.end)
        if token.kind == "name":
            self.advance()
            if self.at("("):
                return self.call(token, self.arguments())
            return self.name(token)
        if self.at("("):
            self.advance()
            inner = self.expression()
            self.expect(")")
            return _Expr(inner.run, token.start, self.previous_end())
        raise self.error(f"expected an expression but found {self.describe()}")

    def name(self, token: _Token) -> _Expr:
        name = token.text
        if name in _INTERVALS:
            interval = _Interval(_INTERVALS[name])
            return _Expr(lambda env: interval, token.start, token.end)
        return _Expr(_variable_reader(name, token.start, token.end), token.start, token.end, variable=name)

    def call(self, token: _Token, args: list[_Expr]) -> _Expr:
        name = token.text
        arity = _FUNCTION_ARITY.get(name)
        if arity is None:
            raise self.error(f"unknown function '{name}'", token)
        low, high = arity
        if not low <= len(args) <= high:
            expected = str(low) if low == high else f"at least {low}" if high == _ANY_NUMBER else f"{low} to {high}"
            raise self.error(f"{name}() takes {expected} argument(s), got {len(args)}", token)
        whole_end = self.previous_end()
        runs = [a.run for a in args]
        whole = _Expr(lambda env: None, token.start, whole_end)

        def run(env: _Env) -> Any:
            return _call_function(name, [r(env) for r in runs], args, env, whole)

        return _Expr(run, token.start, whole_end)

    def method(self, receiver: _Expr, member: _Token, args: list[_Expr]) -> _Expr:
        method = member.text
        arity = _METRIC_METHODS.get(method)
        if arity is None:
            raise self.error(f"unknown method '{method}'", member)
        if receiver.variable is None or not receiver.variable.startswith("$"):
            raise self.error(
                f"{method}() can only be called on a sampled system variable such as $PendingTasks", member
            )
        low, high = arity
        if not low <= len(args) <= high:
            expected = str(low) if low == high else f"{low} to {high}"
            raise self.error(f"{method}() takes {expected} argument(s), got {len(args)}", member)
        name = receiver.variable
        whole = _Expr(lambda env: None, receiver.start, self.previous_end())
        runs = [a.run for a in args]

        def run(env: _Env) -> Any:
            return _metric_call(name, method, [r(env) for r in runs], args, env, whole)

        return _Expr(run, whole.start, whole.end)

    def member(self, receiver: _Expr, member: _Token) -> _Expr:
        name = member.text
        if name not in _TIMESTAMP_MEMBERS:
            if name in _METRIC_METHODS:
                raise self.error(f"{name} is a method; call it as {name}(...)", member)
            raise self.error(f"unknown member '{name}'; a timestamp has {', '.join(_TIMESTAMP_MEMBERS)}", member)
        inner = receiver.run
        whole = _Expr(lambda env: None, receiver.start, member.end)

        def run(env: _Env) -> float:
            value = inner(env)
            if not isinstance(value, datetime):
                raise _EvaluationFailed(f".{name} needs a timestamp, not a {_type_name(value)}", whole.start, whole.end)
            if name == "weekday":
                return float((value.weekday() + 1) % 7)
            return float(getattr(value, name))

        return _Expr(run, whole.start, whole.end)


def _variable_reader(name: str, start: int, end: int) -> Evaluator:
    alias_of = ALIASES.get(name)
    bare_option = name.lower() if name.lower() in DEALLOCATION_OPTIONS else None

    def read(env: _Env) -> Any:
        variables = env.variables
        if name in variables:
            return variables[name]
        if alias_of is not None:
            return variables[alias_of]
        scalars = env.inputs.scalars
        if name in scalars:
            return float(scalars[name])
        if name in SAMPLED_VARIABLES or name in env.inputs.samples:
            raise _EvaluationFailed(f"{name} is a sampled variable; read it with {name}.GetSample(...)", start, end)
        if name in SCALAR_VARIABLES:
            return 0.0
        if bare_option is not None:
            return bare_option
        raise _EvaluationFailed(f"variable {name} is not defined", start, end, [{"name": "Variable", "value": name}])

    return read


def _ternary(condition: _Expr, when_true: _Expr, when_false: _Expr) -> _Expr:
    test, yes, no = condition.run, when_true.run, when_false.run

    def run(env: _Env) -> Any:
        return yes(env) if _truth(test(env), condition, "the condition of '?:'") else no(env)

    return _Expr(run, condition.start, when_false.end)


def _chain(operands: list[_Expr], ops: list[str]) -> _Expr:
    """A left-associative run of same-precedence operators, folded in a loop so that a long
    `a + b + c + ...` costs no recursion when evaluated."""
    if not ops:
        return operands[0]
    head, first = operands[0], operands[0].run
    start = head.start
    steps = [(op, expr.run, expr) for op, expr in zip(ops, operands[1:], strict=True)]
    if ops[0] in ("&&", "||"):  # one precedence level per chain: all && or all ||
        stop_on = ops[0] == "||"  # the operand truth that decides the result early
        what = f"an operand of '{ops[0]}'"

        def run_logical(env: _Env) -> float:
            if _truth(first(env), head, what) == stop_on:
                return 1.0 if stop_on else 0.0
            for _, run, expr in steps:
                if _truth(run(env), expr, what) == stop_on:
                    return 1.0 if stop_on else 0.0
            return 0.0 if stop_on else 1.0

        return _Expr(run_logical, start, operands[-1].end)

    def run(env: _Env) -> Any:
        value = first(env)
        for op, run_operand, expr in steps:
            right = run_operand(env)
            if op in _COMPARE_OPS:
                value = _compare(op, value, right, start, expr.end)
            elif type(value) is float and type(right) is float:
                value = _DOUBLE_OPS[op](value, right)
            else:
                value = _arithmetic(op, value, right, start, expr.end)
        return value

    return _Expr(run, start, operands[-1].end)


def _unary(op: str, operand: _Expr, start: int) -> _Expr:
    inner = operand.run
    end = operand.end

    def run(env: _Env) -> Any:
        value = inner(env)
        if op == "!":
            return 0.0 if _truth(value, operand, "the operand of '!'") else 1.0
        if isinstance(value, float):
            return -value if op == "-" else value
        if isinstance(value, _Interval):
            return _Interval(-value.seconds) if op == "-" else value
        if isinstance(value, tuple):
            return tuple(-x for x in value) if op == "-" else value
        raise _EvaluationFailed(f"unary '{op}' is not defined for a {_type_name(value)}", start, end)

    return _Expr(run, start, end)


# ---------------------------------------------------------------------------------------------
# Public entry points


@functools.lru_cache(maxsize=256)
def parse_formula(text: str) -> Formula:
    """Check a formula's syntax and compile it; raises FormulaError (code AutoScalingFormulaSyntaxError
    for bad syntax, AutoScaleFormulaTooLong beyond 8192 characters)."""
    if len(text) > MAX_FORMULA_LENGTH:
        raise FormulaError(
            TOO_LONG,
            f"the formula is {len(text)} characters long; the limit is {MAX_FORMULA_LENGTH}",
            [{"name": "Length", "value": str(len(text))}, {"name": "MaxLength", "value": str(MAX_FORMULA_LENGTH)}],
            MAX_FORMULA_LENGTH,
        )
    return _Parser(text).formula()


def evaluate(formula: str | Formula, inputs: AutoScaleInputs) -> AutoScaleOutcome:
    """Run a formula against one snapshot of the pool.

    Runtime problems (undefined variables, type errors, insufficient samples, invalid targets) are
    reported in the outcome's `error` with code AutoScalingFormulaEvaluationError; the outputs then
    keep their starting values. A formula given as text with a syntax error raises FormulaError, as
    parse_formula does.
    """
    parsed = parse_formula(formula) if isinstance(formula, str) else formula
    env = _Env(inputs)
    for statement in parsed.statements:
        try:
            value = statement.expr.run(env)
        except _Stop:
            break
        except _EvaluationFailed as failure:
            return _failed(parsed, statement, failure, inputs)
        if statement.target is not None:
            env.assign(statement.target, value)
    try:
        dedicated = _node_count(DEDICATED, env.variables[DEDICATED])
        low_priority = _node_count(LOW_PRIORITY, env.variables[LOW_PRIORITY])
        option = _deallocation_option(env.variables[DEALLOCATION])
    except _EvaluationFailed as failure:
        return _failed(parsed, None, failure, inputs)
    final: dict[str, Any] = {DEDICATED: float(dedicated), LOW_PRIORITY: float(low_priority), DEALLOCATION: option}
    for name in sorted(env.variables):
        if name not in final and name not in ALIASES:
            final[name] = env.variables[name]
    values = {name: _export(value) for name, value in final.items()}
    return AutoScaleOutcome(values, format_results(final), None, dedicated, low_priority, option)


def _node_count(name: str, value: Any) -> int:
    details = [{"name": "Variable", "value": name}, {"name": "Value", "value": _format_value(value)}]
    if not isinstance(value, float):
        raise _EvaluationFailed(f"{name} must be a double, not a {_type_name(value)}", 0, 0, details)
    if math.isnan(value) or math.isinf(value) or value < 0:
        raise _EvaluationFailed(
            f"{name} must be a finite, non-negative number, not {_format_double(value)}", 0, 0, details
        )
    return math.floor(value)


def _deallocation_option(value: Any) -> str:
    if isinstance(value, str) and value.lower() in DEALLOCATION_OPTIONS:
        return value.lower()
    shown = _format_value(value)
    raise _EvaluationFailed(
        f"{DEALLOCATION} must be one of {', '.join(DEALLOCATION_OPTIONS)}, not {shown!r}",
        0,
        0,
        [{"name": "Variable", "value": DEALLOCATION}, {"name": "Value", "value": shown}],
    )


def _failed(
    formula: Formula, statement: _Statement | None, failure: _EvaluationFailed, inputs: AutoScaleInputs
) -> AutoScaleOutcome:
    dedicated = _starting_count(inputs.scalars.get(DEDICATED, 0.0))
    low_priority = _starting_count(inputs.scalars.get(LOW_PRIORITY, 0.0))
    values: dict[str, AutoScaleValue] = {
        DEDICATED: float(dedicated),
        LOW_PRIORITY: float(low_priority),
        DEALLOCATION: "requeue",
    }
    details: list[dict[str, str]] = []
    message = failure.message
    if statement is not None:
        details.append({"name": "Statement", "value": str(statement.number)})
        details.extend(_location(formula.text, failure.start))
        details.append({"name": "Text", "value": formula.text[failure.start : failure.end]})
        message = f"statement {statement.number}: {message}"
    details.extend(failure.details)
    error = AutoScaleError(EVALUATION_ERROR, message, details)
    return AutoScaleOutcome(values, format_results(values), error, dedicated, low_priority, "requeue")


def _starting_count(value: float) -> int:
    value = float(value)
    return 0 if math.isnan(value) or math.isinf(value) or value < 0 else math.floor(value)


def _export(value: Any) -> AutoScaleValue:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, _Interval):
        return timedelta(seconds=value.seconds)
    return value


# ---------------------------------------------------------------------------------------------
# The service's text form


def _format_double(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value).replace("e", "E")


def _format_interval(seconds: float) -> str:
    """.NET TimeSpan's constant format: [-][d.]hh:mm:ss[.fffffff]."""
    sign = "-" if seconds < 0 else ""
    ticks = round(abs(seconds) * 10_000_000)
    whole, fraction = divmod(ticks, 10_000_000)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{sign}{days}." if days else sign
    text += f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return text + (f".{fraction:07d}" if fraction else "")


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return _format_double(value)
    if isinstance(value, tuple | list):
        return "[" + ",".join(_format_double(float(v)) for v in value) + "]"
    if isinstance(value, datetime):
        moment = value.astimezone(UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{moment.microsecond // 1000:03d}Z"
    if isinstance(value, _Interval):
        return _format_interval(value.seconds)
    if isinstance(value, timedelta):
        return _format_interval(value.total_seconds())
    return str(value)


def format_results(values: Mapping[str, Any]) -> str:
    """`$TargetDedicatedNodes=3;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;x=1.5`:
    outputs first, then the other variables in the order given (evaluate sorts them by name)."""
    ordered = [name for name in OUTPUTS if name in values] + [name for name in values if name not in OUTPUTS]
    return ";".join(f"{name}={_format_value(values[name])}" for name in ordered)
