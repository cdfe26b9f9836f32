"""The `$filter` compiler: the filters Batch users write, the semantics they rely on, and clear errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batch_mcp.emulator.odata_filter import FilterError, compile_filter

TASKS: list[dict[str, Any]] = [
    {
        "id": "render-001",
        "state": "active",
        "creationTime": "2023-12-31T23:59:59.9999999Z",
    },
    {
        "id": "render-002",
        "state": "running",
        "creationTime": "2024-01-01T00:00:00Z",
        "executionInfo": {"retryCount": 0},
    },
    {
        "id": "Render-003",
        "state": "completed",
        "creationTime": "2024-01-02T08:30:00.5Z",
        "executionInfo": {"exitCode": 0, "result": "success", "retryCount": 0},
    },
    {
        "id": "merge-004",
        "state": "completed",
        "creationTime": "2024-03-01T12:00:00.1234567Z",
        "executionInfo": {"exitCode": 3, "result": "failure", "retryCount": 2},
    },
    {
        "id": "merge-005",
        "state": "preparing",
        "creationTime": "2024-03-02T00:00:00+02:00",
        "executionInfo": {"exitCode": -1, "result": "failure", "retryCount": 1},
        "stats": {"wallClockTime": "PT1M", "readIOps": 12},
    },
]


def matching(text: str, entities: list[dict[str, Any]] = TASKS) -> list[str]:
    predicate = compile_filter(text)
    return [entity["id"] for entity in entities if predicate(entity)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("state eq 'active'", ["render-001"]),
        ("state eq 'Active'", ["render-001"]),
        ("state ne 'completed'", ["render-001", "render-002", "merge-005"]),
        ("executionInfo/result eq 'failure'", ["merge-004", "merge-005"]),
        ("executionInfo/exitCode ne 0", ["render-001", "render-002", "merge-004", "merge-005"]),
        ("executionInfo/exitCode gt 0", ["merge-004"]),
        ("executionInfo/exitCode lt 0", ["merge-005"]),
        ("executionInfo/exitCode eq null", ["render-001", "render-002"]),
        ("executionInfo/exitCode ne null", ["Render-003", "merge-004", "merge-005"]),
        ("startswith(id,'render-')", ["render-001", "render-002", "Render-003"]),
        ("startswith(id, 'merge') and executionInfo/retryCount ge 2", ["merge-004"]),
        (
            "creationTime gt datetime'2024-01-01T00:00:00Z' and state ne 'completed'",
            ["merge-005"],
        ),
        ("not (state eq 'completed')", ["render-001", "render-002", "merge-005"]),
        ("not state eq 'completed'", ["render-001", "render-002", "merge-005"]),
        ("state eq 'active' or state eq 'running'", ["render-001", "render-002"]),
        ("(state eq 'active' or state eq 'running') and startswith(id, 'render-00')", ["render-001", "render-002"]),
        ("stats/readIOps ge 10", ["merge-005"]),
        ("endswith(id, '-004')", ["merge-004"]),
        ("substringof('ERGE', id)", ["merge-004", "merge-005"]),
        ("startswith(id, 'render') eq true", ["render-001", "render-002", "Render-003"]),
        ("startswith(id, 'render') eq false", ["merge-004", "merge-005"]),
        ("'completed' eq state", ["Render-003", "merge-004"]),
        ("0 lt executionInfo/exitCode", ["merge-004"]),
        ("", ["render-001", "render-002", "Render-003", "merge-004", "merge-005"]),
    ],
)
def test_filters_people_write_select_the_expected_tasks(text: str, expected: list[str]) -> None:
    """The everyday filters from the Batch docs and scripts, run over a small task list."""
    assert matching(text) == expected


def test_keywords_and_function_names_are_case_insensitive() -> None:
    assert matching("STATE eq 'active'") == []  # field names are exact, as on the wire
    assert matching("state EQ 'active' Or NOT (state Ne 'running')") == ["render-001", "render-002"]
    assert matching("StartsWith(id, 'merge')") == ["merge-004", "merge-005"]


def test_a_missing_field_compares_like_null() -> None:
    entity: dict[str, Any] = {"id": "t"}
    assert compile_filter("executionInfo/exitCode eq null")(entity)
    assert compile_filter("executionInfo/exitCode ne 0")(entity)
    assert not compile_filter("executionInfo/exitCode eq 0")(entity)
    for op in ("gt", "lt", "ge", "le"):
        assert not compile_filter(f"executionInfo/exitCode {op} 0")(entity)
        assert not compile_filter(f"executionInfo/exitCode {op} null")(entity)


def test_a_path_through_a_non_object_is_null() -> None:
    entity = {"executionInfo": "not an object", "tags": [1, 2]}
    assert compile_filter("executionInfo/exitCode eq null")(entity)
    assert compile_filter("tags/first eq null")(entity)


def test_an_explicit_null_value_is_null() -> None:
    assert compile_filter("displayName eq null")({"displayName": None})
    assert not compile_filter("displayName ne null")({"displayName": None})


@pytest.mark.parametrize(
    ("literal", "before", "after"),
    [
        ("datetime'2024-01-02T08:30:00Z'", ["render-001", "render-002"], ["Render-003", "merge-004", "merge-005"]),
        ("'2024-01-02T08:30:00Z'", ["render-001", "render-002"], ["Render-003", "merge-004", "merge-005"]),
        ("datetime'2024-01-02T08:30:00'", ["render-001", "render-002"], ["Render-003", "merge-004", "merge-005"]),
        (
            "datetimeoffset'2024-01-02T10:30:00+02:00'",
            ["render-001", "render-002"],
            ["Render-003", "merge-004", "merge-005"],
        ),
    ],
)
def test_date_times_compare_as_instants(literal: str, before: list[str], after: list[str]) -> None:
    """Fractional seconds (up to 7 digits), 'Z', offsets and naive literals (UTC) all compare by instant."""
    assert matching(f"creationTime lt {literal}") == before
    assert matching(f"creationTime ge {literal}") == after


def test_an_offset_in_the_entity_is_honoured() -> None:
    """merge-005 was created at 2024-03-02T00:00+02:00, which is 2024-03-01T22:00Z."""
    assert matching("creationTime eq datetime'2024-03-01T22:00:00Z'") == ["merge-005"]
    assert matching("creationTime lt '2024-03-01T23:00:00Z' and creationTime gt '2024-03-01T21:00:00Z'") == [
        "merge-005"
    ]


def test_date_time_objects_in_entities_compare_too() -> None:
    moment = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
    entities = [{"id": "aware", "t": moment}, {"id": "naive", "t": moment.replace(tzinfo=None) + timedelta(hours=1)}]
    assert matching("t gt datetime'2024-06-01T12:30:00Z'", entities) == ["naive"]
    assert matching("t eq '2024-06-01T12:00:00.000Z'", entities) == ["aware"]


def test_a_date_time_literal_against_a_non_date_value_is_a_mismatch() -> None:
    entity = {"t": "yesterday", "n": 5}
    assert not compile_filter("t eq datetime'2024-01-01T00:00:00Z'")(entity)
    assert compile_filter("t ne datetime'2024-01-01T00:00:00Z'")(entity)
    assert not compile_filter("n gt datetime'2024-01-01T00:00:00Z'")(entity)


def test_numbers_compare_across_int_and_decimal() -> None:
    entity = {"exitCode": 1, "ratio": 0.5}
    assert compile_filter("exitCode eq 1.0")(entity)
    assert compile_filter("ratio lt 1")(entity)
    assert compile_filter("ratio eq 5e-1")(entity)
    assert compile_filter("exitCode gt -2")(entity)
    assert compile_filter("exitCode eq 1L")(entity)


def test_values_of_different_kinds_are_unequal_and_unordered() -> None:
    entity = {"exitCode": 1, "flag": True, "name": "7"}
    assert not compile_filter("exitCode eq true")(entity)  # True == 1 in Python, but not here
    assert not compile_filter("flag eq 1")(entity)
    assert not compile_filter("name eq 7")(entity)
    assert compile_filter("name ne 7")(entity)
    assert not compile_filter("name gt 1")(entity)
    assert not compile_filter("exitCode gt '0'")(entity)


def test_booleans_compare_and_stand_alone_as_conditions() -> None:
    nodes = [{"id": "a", "isDedicated": True}, {"id": "b", "isDedicated": False}, {"id": "c"}]
    assert matching("isDedicated eq true", nodes) == ["a"]
    assert matching("isDedicated eq false", nodes) == ["b"]
    assert matching("isDedicated", nodes) == ["a"]
    assert matching("not isDedicated", nodes) == ["b", "c"]
    assert matching("true", nodes) == ["a", "b", "c"]
    assert matching("false or isDedicated ne true", nodes) == ["b", "c"]


def test_strings_compare_case_insensitively_including_order_and_functions() -> None:
    entities = [{"id": "Alpha"}, {"id": "beta"}, {"id": "GAMMA"}]
    assert matching("id eq 'ALPHA'", entities) == ["Alpha"]
    assert matching("id gt 'b'", entities) == ["beta", "GAMMA"]
    assert matching("startswith(id, 'g')", entities) == ["GAMMA"]
    assert matching("endswith(id, 'TA')", entities) == ["beta"]


def test_string_functions_on_non_strings_are_false() -> None:
    assert not compile_filter("startswith(exitCode, '1')")({"exitCode": 1})
    assert not compile_filter("startswith(missing, '1')")({})
    assert compile_filter("not endswith(missing, 'x')")({})


def test_functions_can_compare_two_fields() -> None:
    entity = {"id": "job-1-task", "prefix": "JOB-1", "other": 3}
    assert compile_filter("startswith(id, prefix)")(entity)
    assert not compile_filter("startswith(id, other)")(entity)
    assert compile_filter("substringof(prefix, id)")(entity)


def test_two_fields_can_be_compared() -> None:
    entity = {"a": 3, "b": 4, "s": "X", "t": "x", "d1": "2024-01-01T00:00:00Z", "d2": "2024-01-01T01:00:00+01:00"}
    assert compile_filter("a lt b")(entity)
    assert compile_filter("s eq t")(entity)
    assert compile_filter("d1 eq d2")(entity)
    assert compile_filter("a ne missing")(entity)
    assert compile_filter("missing eq alsoMissing")(entity)


def test_literal_only_comparisons_are_constant() -> None:
    assert compile_filter("1 eq 1")({})
    assert not compile_filter("'a' eq 'b'")({})
    assert compile_filter("null eq null")({})


def test_quotes_are_escaped_by_doubling() -> None:
    entity = {"displayName": "O'Brien's job"}
    assert compile_filter("displayName eq 'o''brien''s JOB'")(entity)
    assert compile_filter("displayName eq ''")({"displayName": ""})


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=30))
def test_any_string_round_trips_through_a_quoted_literal(value: str) -> None:
    literal = "'" + value.replace("'", "''") + "'"
    assert compile_filter(f"name eq {literal}")({"name": value})
    assert compile_filter(f"startswith(name, {literal})")({"name": value + "tail"})


def test_and_binds_tighter_than_or() -> None:
    entity = {"a": 1, "b": 0, "c": 0}
    assert compile_filter("a eq 1 or b eq 1 and c eq 1")(entity)
    assert not compile_filter("(a eq 1 or b eq 1) and c eq 1")(entity)


def test_long_or_chains_compile_and_evaluate_without_deep_recursion() -> None:
    """Selecting many tasks by id gives thousands of alternatives; each must be one flat loop."""
    text = " or ".join(f"id eq 'task-{i}'" for i in range(3000))
    predicate = compile_filter(text)
    assert predicate({"id": "task-2999"})
    assert not predicate({"id": "task-3000"})
    every = compile_filter(" and ".join(f"n ne {i}" for i in range(3000)))
    assert every({"n": 3000})
    assert not every({"n": 1500})


def test_compiled_filters_are_cached_by_text() -> None:
    assert compile_filter("state eq 'cached'") is compile_filter("state eq 'cached'")


@pytest.mark.parametrize(
    ("text", "construct", "position"),
    [
        ("executionInfo/exitCode add 1 eq 2", "add", 23),
        ("a mul 2 eq 4", "mul", 2),
        ("tolower(id) eq 'x'", "tolower", 0),
        ("contains(id, 'x')", "contains", 0),
        ("frobnicate(id)", "frobnicate", 0),
        ("tags/any(t: t eq 'a')", "any", 5),
        ("nodes/all(n: n/state eq 'idle')", "all", 6),
        ("state eq 'active", "unterminated", 9),
        ("state eq", "end of filter", 8),
        ("state eq 'a' eq 'b'", "chained", 13),
        ("guid'0000' eq id", "guid", 0),
        ("datetime'not a date' eq t", "date-time", 0),
        ("(state eq 'a'", "')'", 13),
        ("state eq 'a')", "')'", 12),
        ("state # 'a'", "'#'", 6),
        ("state eq 'a' and", "end of filter", 16),
        ("'active'", "literal", 0),
        ("42", "literal", 0),
        ("startswith(id)", "2 arguments", 0),
        ("startswith(id, 5)", "string", 15),
        ("startswith eq 1", "(", 0),
        ("state eq and", "'and'", 9),
        ("a has 'x'", "has", 2),
        ("state 'active'", "'active'", 6),
        ("- a eq 1", "'-'", 0),
    ],
)
def test_unsupported_or_malformed_filters_name_the_construct_and_position(
    text: str, construct: str, position: int
) -> None:
    with pytest.raises(FilterError) as caught:
        compile_filter(text)
    assert caught.value.position == position
    assert construct in str(caught.value)
    assert str(caught.value).endswith(f"at position {position}")


def test_filter_errors_are_value_errors() -> None:
    """The emulator maps ValueError subclasses to 400; FilterError must stay one."""
    with pytest.raises(ValueError, match="position"):
        compile_filter("state eq")


def test_very_deep_nesting_is_rejected_cleanly() -> None:
    with pytest.raises(FilterError) as caught:
        compile_filter("(" * 500 + "a eq 1" + ")" * 500)
    assert "nests deeper" in caught.value.reason
    deep_enough = "(" * 50 + "a eq 1" + ")" * 50
    assert compile_filter(deep_enough)({"a": 1})
    with pytest.raises(FilterError):
        compile_filter("not " * 500 + "a eq 1")


# --------------------------------------------------------------------------------------------
# Random filters against an independent reference evaluation

FIELDS = ("state", "exitCode", "id", "created")
STATES = ("active", "Active", "running", "completed")


def _reference_compare(op: str, value: Any, literal: Any) -> bool:
    """Written from the documented semantics, not from the implementation."""
    if value is None or literal is None:
        if op == "eq":
            return value is None and literal is None
        if op == "ne":
            return not (value is None and literal is None)
        return False
    if isinstance(literal, datetime):
        if not isinstance(value, str):
            return op == "ne"
        value = datetime.fromisoformat(value)
    elif isinstance(literal, str) and isinstance(value, str):
        value, literal = value.lower(), literal.lower()
    elif isinstance(value, bool) or isinstance(literal, bool):
        if type(value) is not type(literal):
            return op == "ne"
        if op not in ("eq", "ne"):
            return False
    elif type(value) is not type(literal) and not (isinstance(value, int | float) and isinstance(literal, int | float)):
        return op == "ne"
    return {
        "eq": value == literal,
        "ne": value != literal,
        "gt": value > literal,
        "lt": value < literal,
        "ge": value >= literal,
        "le": value <= literal,
    }[op]


LITERALS = {
    "state": st.sampled_from((*STATES, None, 7)),
    "exitCode": st.one_of(st.integers(-3, 3), st.sampled_from((None, "0", True))),
    "id": st.sampled_from(("a", "B", "task-1", None)),
    "created": st.builds(lambda hours: datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=hours), st.integers(-3, 3)),
}


def _render_literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return f"datetime'{value.strftime('%Y-%m-%dT%H:%M:%SZ')}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(value)


@st.composite
def comparisons(draw: st.DrawFn) -> tuple[Any, ...]:
    name = draw(st.sampled_from(FIELDS))
    op = draw(st.sampled_from(("eq", "ne", "gt", "lt", "ge", "le")))
    return ("cmp", name, op, draw(LITERALS[name]), draw(st.booleans()))


conditions = st.recursive(
    comparisons(),
    lambda children: st.one_of(
        st.tuples(st.just("not"), children),
        st.tuples(st.sampled_from(("and", "or")), children, children),
    ),
    max_leaves=8,
)

PRECEDENCE = {"or": 1, "and": 2, "not": 3, "cmp": 4}
MIRRORED = {"eq": "eq", "ne": "ne", "gt": "lt", "lt": "gt", "ge": "le", "le": "ge"}


def _render(node: tuple[Any, ...], parent: int, extra_parens: bool) -> str:
    kind = node[0]
    if kind == "cmp":
        _, name, op, literal, literal_first = node
        if literal_first:  # `0 lt exitCode` means `exitCode gt 0`
            text = f"{_render_literal(literal)} {MIRRORED[op]} {name}"
        else:
            text = f"{name} {op} {_render_literal(literal)}"
    elif kind == "not":
        text = f"not {_render(node[1], PRECEDENCE['not'], extra_parens)}"
    else:
        # Left-associative: the right operand of a same-level operator needs no parentheses either,
        # since and/or are associative in meaning.
        level = PRECEDENCE[kind]
        text = f"{_render(node[1], level, extra_parens)} {kind} {_render(node[2], level, extra_parens)}"
    if extra_parens or PRECEDENCE[kind] < parent:
        return f"({text})"
    return text


def _evaluate(node: tuple[Any, ...], entity: dict[str, Any]) -> bool:
    kind = node[0]
    if kind == "cmp":
        return _reference_compare(node[2], entity.get(node[1]), node[3])
    if kind == "not":
        return not _evaluate(node[1], entity)
    if kind == "and":
        return _evaluate(node[1], entity) and _evaluate(node[2], entity)
    return _evaluate(node[1], entity) or _evaluate(node[2], entity)


entities = st.fixed_dictionaries(
    {},
    optional={
        "state": st.sampled_from(STATES),
        "exitCode": st.one_of(st.integers(-3, 3), st.just(None)),
        "id": st.sampled_from(("a", "b", "task-1", "TASK-1")),
        "created": st.builds(
            lambda minutes: (datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)).isoformat(
                timespec="microseconds"
            ),
            st.integers(-200, 200),
        ),
    },
)


@settings(max_examples=300, deadline=None)
@given(conditions, st.lists(entities, min_size=1, max_size=6))
def test_random_filters_agree_with_a_reference_evaluation(node: tuple[Any, ...], sample: list[dict[str, Any]]) -> None:
    """Minimal parentheses exercise precedence; full parentheses must not change the meaning."""
    minimal = compile_filter(_render(node, 0, extra_parens=False))
    bracketed = compile_filter(_render(node, 0, extra_parens=True))
    for entity in sample:
        expected = _evaluate(node, entity)
        assert minimal(entity) is expected
        assert bracketed(entity) is expected


def test_field_paths_names_every_property_a_filter_uses_in_order() -> None:
    from batch_mcp.emulator.odata_filter import field_paths

    text = "not (state eq 'active') or startswith(id, 'a') and executionInfo/exitCode ge 1"
    assert [path for path, _ in field_paths(text)] == ["state", "id", "executionInfo/exitCode"]
    assert field_paths("  ") == ()
