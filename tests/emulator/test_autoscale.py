"""Autoscale formulas: the documented recipes, sampling, the service's result text, and its errors."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batch_mcp.emulator.autoscale import (
    EVALUATION_ERROR,
    EXTENSION_FUNCTIONS,
    SYNTAX_ERROR,
    TOO_LONG,
    AutoScaleInputs,
    AutoScaleOutcome,
    FormulaError,
    evaluate,
    format_results,
    parse_formula,
)

NOW = datetime(2024, 5, 6, 10, 0, tzinfo=UTC)  # a Monday

PENDING_TASKS_RECIPE = """startingNumberOfVMs = 1;
maxNumberofVMs = 25;
pendingTaskSamplePercent = $PendingTasks.GetSamplePercent(180 * TimeInterval_Second);
pendingTaskSamples = pendingTaskSamplePercent < 70 ? startingNumberOfVMs :
    avg($PendingTasks.GetSample(180 * TimeInterval_Second));
$TargetDedicatedNodes=min(maxNumberofVMs, pendingTaskSamples);
$NodeDeallocationOption = taskcompletion;"""


def history(values: Sequence[float], *, every: float = 30.0, newest: datetime = NOW) -> list[tuple[datetime, float]]:
    """Samples `every` seconds apart, oldest first, the last one taken at `newest`."""
    count = len(values)
    return [(newest - timedelta(seconds=every * (count - 1 - i)), float(v)) for i, v in enumerate(values)]


def run(
    formula: str,
    *,
    now: datetime = NOW,
    scalars: dict[str, float] | None = None,
    samples: dict[str, list[tuple[datetime, float]]] | None = None,
    rand: float = 0.25,
) -> AutoScaleOutcome:
    inputs = AutoScaleInputs(now=now, scalars=scalars or {}, samples=samples or {}, rand=lambda: rand)
    return evaluate(formula, inputs)


def ok(formula: str, **kwargs: Any) -> AutoScaleOutcome:
    outcome = run(formula, **kwargs)
    assert outcome.error is None, outcome.error
    return outcome


def value_of(expression: str, **kwargs: Any) -> Any:
    return ok(f"x = {expression};", **kwargs).values["x"]


def failure(formula: str, **kwargs: Any) -> dict[str, str]:
    outcome = run(formula, **kwargs)
    assert outcome.error is not None, outcome.results
    assert outcome.error.code == EVALUATION_ERROR
    return {pair["name"]: pair["value"] for pair in outcome.error.values}


# --------------------------------------------------------------------------------------------
# Recipes from the Batch documentation


def test_the_pending_tasks_recipe_starts_with_one_node_before_samples_exist() -> None:
    outcome = ok(PENDING_TASKS_RECIPE)
    assert outcome.target_dedicated_nodes == 1
    assert outcome.node_deallocation_option == "taskcompletion"
    assert outcome.results == (
        "$TargetDedicatedNodes=1;$TargetLowPriorityNodes=0;$NodeDeallocationOption=taskcompletion;"
        "maxNumberofVMs=25;pendingTaskSamplePercent=0;pendingTaskSamples=1;startingNumberOfVMs=1"
    )


def test_the_pending_tasks_recipe_follows_the_average_and_caps_it() -> None:
    busy = ok(PENDING_TASKS_RECIPE, samples={"$PendingTasks": history([40] * 8)})
    assert busy.target_dedicated_nodes == 25
    moderate = ok(PENDING_TASKS_RECIPE, samples={"$PendingTasks": history([9, 9, 10, 11, 12, 13, 14, 15])})
    assert moderate.values["pendingTaskSamples"] == 12.5  # the last 180 s hold 6 samples: 10..15
    assert moderate.values["pendingTaskSamplePercent"] == 100
    assert moderate.target_dedicated_nodes == 12  # rounded down to whole nodes


def test_the_pending_tasks_recipe_falls_back_when_too_few_samples_arrived() -> None:
    sparse = history([50, 50, 50], every=60)  # 3 of the 6 expected samples: 50 %
    outcome = ok(PENDING_TASKS_RECIPE, samples={"$PendingTasks": sparse})
    assert outcome.values["pendingTaskSamplePercent"] == 50
    assert outcome.target_dedicated_nodes == 1


TIME_OF_DAY_FORMULA = """$curTime = time();
$workHours = $curTime.hour >= 8 && $curTime.hour < 18;
$isWeekday = $curTime.weekday >= 1 && $curTime.weekday <= 5;
$isWorkingWeekdayHour = $workHours && $isWeekday;
$TargetDedicatedNodes = $isWorkingWeekdayHour ? 20:10;
$NodeDeallocationOption = taskcompletion;"""


@pytest.mark.parametrize(
    ("now", "nodes"),
    [
        (NOW, 20),
        (NOW.replace(hour=19), 10),
        (NOW.replace(hour=7, minute=59), 10),
        (NOW + timedelta(days=5), 10),  # Saturday
        (NOW + timedelta(days=6), 10),  # Sunday
        (NOW + timedelta(days=4), 20),  # Friday
    ],
)
def test_the_time_of_day_recipe(now: datetime, nodes: int) -> None:
    assert ok(TIME_OF_DAY_FORMULA, now=now).target_dedicated_nodes == nodes


def test_the_time_of_day_recipe_reports_results_like_the_service() -> None:
    assert ok(TIME_OF_DAY_FORMULA).results == (
        "$TargetDedicatedNodes=20;$TargetLowPriorityNodes=0;$NodeDeallocationOption=taskcompletion;"
        "$curTime=2024-05-06T10:00:00.000Z;$isWeekday=1;$isWorkingWeekdayHour=1;$workHours=1"
    )


TASK_BASED_FORMULA = """// Get pending tasks for the past 15 minutes.
$samples = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 15);
// Fewer than 70 percent of the data points: use the last sample.
$tasks = $samples < 70 ? max(0,$PendingTasks.GetSample(1)) :
    max( $PendingTasks.GetSample(1), avg($PendingTasks.GetSample(TimeInterval_Minute * 15)));
$targetVMs = $tasks > 0? $tasks:max(0, $TargetDedicatedNodes/2);
$TargetDedicatedNodes = max(0, min($targetVMs, 20));
$NodeDeallocationOption = taskcompletion;"""


def test_the_task_based_recipe() -> None:
    full = history([4] * 29 + [8])
    assert ok(TASK_BASED_FORMULA, samples={"$PendingTasks": full}).values["$tasks"] == 8
    flat = history([12] * 30)
    assert ok(TASK_BASED_FORMULA, samples={"$PendingTasks": flat}).target_dedicated_nodes == 12
    idle = history([0] * 30)
    halved = ok(TASK_BASED_FORMULA, samples={"$PendingTasks": idle}, scalars={"$TargetDedicatedNodes": 6})
    assert halved.target_dedicated_nodes == 3
    last_only = ok(TASK_BASED_FORMULA, samples={"$PendingTasks": history([30])})
    assert last_only.target_dedicated_nodes == 20


def test_the_preempted_nodes_recipe_replaces_preempted_low_priority_nodes() -> None:
    formula = """maxNumberofVMs = 25;
$TargetDedicatedNodes = min(maxNumberofVMs, $PreemptedNodeCount.GetSample(180 * TimeInterval_Second));
$TargetLowPriorityNodes = min(maxNumberofVMs , maxNumberofVMs - $TargetDedicatedNodes);
$NodeDeallocationOption = taskcompletion;"""
    outcome = ok(formula, samples={"$PreemptedNodeCount": history([3, 4, 5])})
    assert (outcome.target_dedicated_nodes, outcome.target_low_priority_nodes) == (3, 22)


def test_the_cpu_recipe_grows_and_shrinks_with_load() -> None:
    formula = """$totalDedicatedNodes =
    (min($CPUPercent.GetSample(TimeInterval_Minute * 10)) > 0.7) ?
    ($CurrentDedicatedNodes * 1.1) : $CurrentDedicatedNodes;
$totalDedicatedNodes =
    (avg($CPUPercent.GetSample(TimeInterval_Minute * 60)) < 0.2) ?
    ($CurrentDedicatedNodes * 0.9) : $totalDedicatedNodes;
$TargetDedicatedNodes = min(400, $totalDedicatedNodes)"""
    scalars = {"$CurrentDedicatedNodes": 20.0}
    busy = ok(formula, scalars=scalars, samples={"$CPUPercent": history([0.9] * 120)})
    assert busy.target_dedicated_nodes == 22
    quiet = ok(formula, scalars=scalars, samples={"$CPUPercent": history([0.1] * 120)})
    assert quiet.target_dedicated_nodes == 18
    steady = ok(formula, scalars=scalars, samples={"$CPUPercent": history([0.5] * 120)})
    assert steady.target_dedicated_nodes == 20


def test_the_initial_pool_size_recipe_waits_out_the_startup_period() -> None:
    created = NOW - timedelta(minutes=5)
    formula = f"""
    $TargetDedicatedNodes = 4;
    lifespan         = time() - time("{created.strftime("%a, %d %b %Y %H:%M:%S GMT")}");
    span             = TimeInterval_Minute * 60;
    startup          = TimeInterval_Minute * 10;
    ratio            = 50;
    $TargetDedicatedNodes = (lifespan > startup ?
        (max($RunningTasks.GetSample(span, ratio), $ActiveTasks.GetSample(span, ratio)) == 0
            ? 0 : $TargetDedicatedNodes)
        : 4);
    """
    young = ok(formula)
    assert young.target_dedicated_nodes == 4
    assert young.values["lifespan"] == timedelta(minutes=5)
    later = NOW + timedelta(hours=1)
    idle = {"$RunningTasks": history([0] * 120, newest=later), "$ActiveTasks": history([0] * 120, newest=later)}
    assert ok(formula, now=later, samples=idle).target_dedicated_nodes == 0
    busy = {**idle, "$ActiveTasks": history([3] * 120, newest=later)}
    assert ok(formula, now=later, samples=busy).target_dedicated_nodes == 4
    too_few = run(formula, now=NOW + timedelta(hours=1))
    assert too_few.error is not None and too_few.error.code == EVALUATION_ERROR


def test_the_api_example_uses_the_legacy_target_name() -> None:
    assert ok("$TargetDedicated=1").results == (
        "$TargetDedicatedNodes=1;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue"
    )


# --------------------------------------------------------------------------------------------
# Outputs


def test_outputs_start_at_the_pools_current_targets() -> None:
    scalars = {"$TargetDedicatedNodes": 6.0, "$TargetLowPriorityNodes": 2.0}
    untouched = ok("x = 1", scalars=scalars)
    assert untouched.results == "$TargetDedicatedNodes=6;$TargetLowPriorityNodes=2;$NodeDeallocationOption=requeue;x=1"
    halved = ok("$TargetDedicatedNodes = $TargetDedicatedNodes / 2", scalars=scalars)
    assert halved.target_dedicated_nodes == 3


def test_the_full_target_name_wins_over_its_alias() -> None:
    assert ok("$TargetDedicatedNodes = 4; $TargetDedicated = 9").target_dedicated_nodes == 4
    assert ok("$TargetDedicated = 9; $TargetDedicatedNodes = 4").target_dedicated_nodes == 4
    assert ok("$TargetLowPriority = 7").target_low_priority_nodes == 7
    chained = ok("$TargetDedicated = 9; $TargetDedicatedNodes = $TargetDedicatedNodes + 1; y = $TargetDedicated")
    assert chained.target_dedicated_nodes == 10
    assert chained.values["y"] == 9
    assert "$TargetDedicated=" not in chained.results


def test_fractional_targets_round_down_to_whole_nodes() -> None:
    outcome = ok("$TargetDedicatedNodes = 2.9; $TargetLowPriorityNodes = 0.5")
    assert (outcome.target_dedicated_nodes, outcome.target_low_priority_nodes) == (2, 0)
    assert outcome.results.startswith("$TargetDedicatedNodes=2;$TargetLowPriorityNodes=0;")


@pytest.mark.parametrize(
    ("formula", "shown"),
    [
        ("$TargetDedicatedNodes = -1", "-1"),
        ("$TargetDedicatedNodes = 1 / 0", "Infinity"),
        ("$TargetLowPriorityNodes = 0 / 0", "NaN"),
        ('$TargetDedicatedNodes = "three"', "three"),
        ("$TargetDedicatedNodes = $PendingTasks.GetSample(3)", "[1,2,3]"),
        ("$TargetDedicatedNodes = time()", "2024-05-06T10:00:00.000Z"),
    ],
)
def test_invalid_targets_fail_the_evaluation_and_leave_the_pool_alone(formula: str, shown: str) -> None:
    outcome = run(formula, scalars={"$TargetDedicatedNodes": 5.0}, samples={"$PendingTasks": history([1, 2, 3])})
    assert outcome.error is not None and outcome.error.code == EVALUATION_ERROR
    details = {pair["name"]: pair["value"] for pair in outcome.error.values}
    assert details["Value"] == shown
    assert outcome.target_dedicated_nodes == 5
    assert outcome.results == "$TargetDedicatedNodes=5;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue"


@pytest.mark.parametrize(
    ("expression", "option"),
    [
        ("requeue", "requeue"),
        ("terminate", "terminate"),
        ("taskcompletion", "taskcompletion"),
        ("retaineddata", "retaineddata"),
        ("TaskCompletion", "taskcompletion"),
        ('"terminate"', "terminate"),
        ("$CurrentDedicatedNodes > 3 ? taskcompletion : requeue", "taskcompletion"),
    ],
)
def test_node_deallocation_option_accepts_the_four_options(expression: str, option: str) -> None:
    outcome = ok(f"$NodeDeallocationOption = {expression}", scalars={"$CurrentDedicatedNodes": 4.0})
    assert outcome.node_deallocation_option == option
    assert outcome.values["$NodeDeallocationOption"] == option


@pytest.mark.parametrize(
    ("expression", "variable"),
    [
        ('"later"', "$NodeDeallocationOption"),
        ("3", "$NodeDeallocationOption"),
        ("requeue", "$NodeDeallocationOption"),  # `requeue = 1` below makes the bare word a double
        ("later", "later"),  # not an option, so an undefined variable
    ],
)
def test_node_deallocation_option_rejects_anything_else(expression: str, variable: str) -> None:
    details = failure(f"requeue = 1; $NodeDeallocationOption = {expression}")
    assert details["Variable"] == variable


# --------------------------------------------------------------------------------------------
# Runtime errors


def test_an_undefined_variable_fails_like_the_service_and_keeps_the_targets() -> None:
    """The service's own test: evaluating `$something_useless` errors and results keep the targets."""
    outcome = run("$something_useless", scalars={"$TargetDedicatedNodes": 2.0})
    assert outcome.error is not None
    assert outcome.error.code == EVALUATION_ERROR
    assert outcome.results == "$TargetDedicatedNodes=2;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue"


def test_a_failure_part_way_reports_where_and_discards_earlier_assignments() -> None:
    formula = "$TargetDedicatedNodes = 9;\nx = 2;\ny = x + \n   missing * 2;"
    outcome = run(formula, scalars={"$TargetDedicatedNodes": 1.0})
    assert outcome.error is not None
    details = {pair["name"]: pair["value"] for pair in outcome.error.values}
    assert details == {
        "Statement": "3",
        "Position": str(formula.index("missing")),
        "Line": "4",
        "Column": "4",
        "Text": "missing",
        "Variable": "missing",
    }
    assert outcome.target_dedicated_nodes == 1
    assert set(outcome.values) == {"$TargetDedicatedNodes", "$TargetLowPriorityNodes", "$NodeDeallocationOption"}
    assert outcome.error.to_wire() == {
        "code": EVALUATION_ERROR,
        "message": outcome.error.message,
        "values": outcome.error.values,
    }


def test_a_sampled_variable_must_be_read_through_get_sample() -> None:
    details = failure("$TargetDedicatedNodes = max(0, $PendingTasks);", samples={"$PendingTasks": history([3])})
    assert details["Text"] == "$PendingTasks"


@pytest.mark.parametrize(
    ("expression", "text"),
    [
        ('"a" + 1', '"a" + 1'),
        ("time() * 2", "time() * 2"),
        ("-time()", "-time()"),
        ('!"a"', '"a"'),
        ('"a" < 1', '"a" < 1'),
        ('"a" ? 1 : 2', '"a"'),
        ("TimeInterval_Hour && 1", "TimeInterval_Hour"),
        ("time().hour.minute", "time().hour.minute"),
        (
            "$PendingTasks.GetSample(3) + $PendingTasks.GetSample(2)",
            "$PendingTasks.GetSample(3) + $PendingTasks.GetSample(2)",
        ),
        ("val($PendingTasks.GetSample(3), 3)", "val($PendingTasks.GetSample(3), 3)"),
        ("avg($PendingTasks.GetSample(0))", "$PendingTasks.GetSample(0)"),
        ('max(1, "a")', '"a"'),
        ("ln(0)", "0"),
        ('time("not a time")', '"not a time"'),
        ("$PendingTasks.GetSample(-1)", "-1"),
        ('$PendingTasks.GetSample("a")', '"a"'),
        ("$PendingTasks.GetSample(TimeInterval_Minute, TimeInterval_Hour, TimeInterval_Day)", "TimeInterval_Day"),
        ("$PendingTasks.HistoryBeginTime()", "$PendingTasks.HistoryBeginTime()"),
        ("$CurrentDedicatedNodes.GetSample(1)", "$CurrentDedicatedNodes.GetSample(1)"),
        ("percentile($PendingTasks.GetSample(3), 101)", "101"),
    ],
)
def test_runtime_errors_point_at_the_offending_text(expression: str, text: str) -> None:
    samples = {"$PendingTasks": [(NOW - timedelta(seconds=30 * i), 1.0) for i in (2, 1, 0)]}
    if "HistoryBeginTime" in expression:
        samples = {}
    details = failure(f"x = {expression};", samples=samples)
    assert details["Text"] == text
    assert details["Statement"] == "1"


def test_get_sample_with_a_percentage_fails_when_samples_are_missing() -> None:
    """The documented example: 18 of the 20 samples of the last 10 minutes are present."""
    present = history([1.0] * 18, newest=NOW - timedelta(minutes=1))
    samples = {"$CPUPercent": present}
    assert ok("x = $CPUPercent.GetSamplePercent(TimeInterval_Minute * 10)", samples=samples).values["x"] == 90
    details = failure("x = $CPUPercent.GetSample(TimeInterval_Minute * 10, 95)", samples=samples)
    assert details["Variable"] == "$CPUPercent"
    assert details["SamplePercent"] == "90"
    assert details["RequiredSamplePercent"] == "95"
    assert len(value_of("$CPUPercent.GetSample(TimeInterval_Minute * 10, 80)", samples=samples)) == 18
    assert len(value_of("$CPUPercent.GetSample(TimeInterval_Minute * 10)", samples=samples)) == 18


# --------------------------------------------------------------------------------------------
# Sampling


def test_get_sample_with_a_count_returns_the_newest_samples_oldest_first() -> None:
    samples = {"$ActiveTasks": history([1, 2, 3, 4, 5])}
    assert value_of("$ActiveTasks.GetSample(3)", samples=samples) == [3, 4, 5]
    assert value_of("$ActiveTasks.GetSample(1)", samples=samples) == [5]
    assert value_of("$ActiveTasks.GetSample(2.9)", samples=samples) == [4, 5]
    assert value_of("$ActiveTasks.GetSample(10)", samples=samples) == [1, 2, 3, 4, 5]
    assert value_of("$ActiveTasks.GetSample(0)", samples=samples) == []
    assert value_of("val($ActiveTasks.GetSample(3), 0)", samples=samples) == 3


def test_a_time_window_holds_samples_after_its_start_up_to_now() -> None:
    samples = {"$RunningTasks": history([1, 2, 3, 4, 5, 6, 7])}  # at now-180 s ... now
    assert value_of("$RunningTasks.GetSample(180 * TimeInterval_Second)", samples=samples) == [2, 3, 4, 5, 6, 7]
    assert value_of("$RunningTasks.GetSample(TimeInterval_Minute * 1, TimeInterval_Minute * 2)", samples=samples) == [
        4,
        5,
    ]
    assert value_of("$RunningTasks.GetSample(TimeInterval_Minute * 2, TimeInterval_Minute * 1)", samples=samples) == [
        4,
        5,
    ]
    since = "$RunningTasks.GetSample(time() - TimeInterval_Minute * 2)"
    assert value_of(since, samples=samples) == [4, 5, 6, 7]
    between = '$RunningTasks.GetSample(time("2024-05-06T09:57:00Z"), time("2024-05-06T09:59:00Z"), 100)'
    assert value_of(between, samples=samples) == [2, 3, 4, 5]


def test_samples_after_now_and_unsorted_input_are_handled() -> None:
    later = [(NOW + timedelta(seconds=30), 99.0)]
    samples = {"$PendingTasks": list(reversed(history([1, 2, 3]))) + later}
    assert value_of("$PendingTasks.GetSample(5)", samples=samples) == [1, 2, 3]
    assert value_of("$PendingTasks.Count()", samples=samples) == 3


def test_naive_times_are_utc() -> None:
    naive_samples = [(t.replace(tzinfo=None), v) for t, v in history([1, 2])]
    outcome = ok(
        "a = $PendingTasks.GetSample(TimeInterval_Minute); b = time().hour",
        now=NOW.replace(tzinfo=None),
        samples={"$PendingTasks": naive_samples},
    )
    assert outcome.values["a"] == [1, 2]
    assert outcome.values["b"] == 10


def test_get_sample_percent_is_capped_and_defined_for_tiny_windows() -> None:
    dense = {"$PendingTasks": history([1] * 40, every=10)}
    assert value_of("$PendingTasks.GetSamplePercent(TimeInterval_Minute * 2)", samples=dense) == 100
    assert value_of("$PendingTasks.GetSamplePercent(TimeInterval_Second * 10)", samples=dense) == 100
    assert value_of("$PendingTasks.GetSamplePercent(TimeInterval_Minute * 1, TimeInterval_Minute * 3)") == 0


def test_metric_history_methods() -> None:
    samples = {"$FailedTasks": history([0, 1, 1])}
    outcome = ok(
        "n = $FailedTasks.Count(); first = $FailedTasks.HistoryBeginTime(); p = $FailedTasks.GetSamplePeriod();"
        " none = $SucceededTasks.Count()",
        samples=samples,
    )
    assert outcome.values["n"] == 3
    assert outcome.values["first"] == NOW - timedelta(seconds=60)
    assert outcome.values["p"] == timedelta(seconds=30)
    assert outcome.values["none"] == 0
    assert "first=2024-05-06T09:59:00.000Z;n=3;none=0;p=00:00:30" in outcome.results


def test_metrics_the_emulator_supplies_beyond_the_known_names_can_be_sampled() -> None:
    assert value_of("$CustomMetric.GetSample(2)", samples={"$CustomMetric": history([5, 6, 7])}) == [6, 7]


def test_scalars_read_as_doubles_and_known_missing_ones_read_as_zero() -> None:
    outcome = ok(
        "a = $CurrentDedicatedNodes; b = $CurrentLowPriorityNodes; c = $UsableNodeCount",
        scalars={"$CurrentDedicatedNodes": 3},
    )
    assert (outcome.values["a"], outcome.values["b"], outcome.values["c"]) == (3.0, 0.0, 0.0)
    assert isinstance(outcome.values["a"], float)


# --------------------------------------------------------------------------------------------
# Functions and operators


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("avg(1, 2, 3, 4)", 2.5),
        ("avg($PendingTasks.GetSample(3), 7)", 3.25),
        ("len($PendingTasks.GetSample(3), 7, 8)", 5.0),
        ("count($PendingTasks.GetSample(3))", 3.0),
        ("max($PendingTasks.GetSample(3), 2.5)", 3.0),
        ("min(4, $PendingTasks.GetSample(3))", 1.0),
        ("sum($PendingTasks.GetSample(3), 0.5)", 6.5),
        ("sum($PendingTasks.GetSample(0))", 0.0),
        ("max(0, $PendingTasks.GetSample(0))", 0.0),
        ("len($PendingTasks.GetSample(0))", 0.0),
        ("norm(3, 4)", 5.0),
        ("range(5, 1, 3)", 4.0),
        ("std(2, 4, 4, 4, 5, 5, 7, 9)", math.sqrt(32 / 7)),
        ("std(5)", 0.0),
        ("percentile($PendingTasks.GetSample(3), 50)", 2.0),
        ("percentile($PendingTasks.GetSample(3), 100)", 3.0),
        ("percentile($PendingTasks.GetSample(3), 0)", 1.0),
        ("val($PendingTasks.GetSample(3), 2)", 3.0),
        ("lg(8)", 3.0),
        ("ln(1)", 0.0),
        ("log(1000)", 3.0),
        ("floor(2.7)", 2.0),
        ("floor(-2.5)", -3.0),
        ("ceil(2.1)", 3.0),
        ("round(2.4)", 2.0),
        ("round(2.6)", 3.0),
        ("abs(-4)", 4.0),
        ("rand()", 0.25),
    ],
)
def test_functions(expression: str, expected: float) -> None:
    samples = {"$PendingTasks": history([1, 2, 3])}
    assert value_of(expression, samples=samples) == pytest.approx(expected)


def test_element_functions_map_over_vectors() -> None:
    samples = {"$PendingTasks": history([2, 4, 8])}
    assert value_of("lg($PendingTasks.GetSample(3))", samples=samples) == [1, 2, 3]
    assert ok("v = floor($PendingTasks.GetSample(3) / 3)", samples=samples).results.endswith("v=[0,1,2]")


def test_vector_arithmetic() -> None:
    samples = {"$PendingTasks": history([1, 2, 3])}
    assert value_of("$PendingTasks.GetSample(3) * 2", samples=samples) == [2, 4, 6]
    assert value_of("10 - $PendingTasks.GetSample(3)", samples=samples) == [9, 8, 7]
    assert value_of("$PendingTasks.GetSample(3) + $PendingTasks.GetSample(3)", samples=samples) == [2, 4, 6]
    assert value_of("-$PendingTasks.GetSample(2)", samples=samples) == [-2, -3]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 < 2", 1.0),
        ("2 <= 1", 0.0),
        ("3 == 3", 1.0),
        ("3 != 3", 0.0),
        ('"abc" < "abd"', 1.0),
        ('"a" == "a"', 1.0),
        ("time() > time() - TimeInterval_Second", 1.0),
        ("TimeInterval_Hour == TimeInterval_Minute * 60", 1.0),
        ("TimeInterval_Day > TimeInterval_Week", 0.0),
        ("1 && 0", 0.0),
        ("0.5 && -1", 1.0),
        ("0 || 0", 0.0),
        ("0 || 2", 1.0),
        ("!0", 1.0),
        ("!3", 0.0),
        ("0 ? 1 : 2", 2.0),
        ("-0.1 ? 1 : 2", 1.0),
        ("1 ? 0 ? 3 : 4 : 5", 4.0),
        ("2 + 3 * 4", 14.0),
        ("(2 + 3) * 4", 20.0),
        ("10 - 4 - 3", 3.0),
        ("12 / 3 / 2", 2.0),
        ("--3", 3.0),
        ("+3", 3.0),
        ("1 + 2 < 4 && 2 * 3 == 6", 1.0),
        ("1e3 + .5", 1000.5),
    ],
)
def test_operators_follow_c_precedence_and_give_doubles(expression: str, expected: float) -> None:
    assert value_of(expression) == expected


def test_logical_operators_and_the_ternary_only_evaluate_what_they_need() -> None:
    outcome = ok("a = 0 && undefinedThing; b = 1 || undefinedThing; c = 1 ? 2 : undefinedThing")
    assert (outcome.values["a"], outcome.values["b"], outcome.values["c"]) == (0.0, 1.0, 2.0)


def test_time_arithmetic_and_members() -> None:
    outcome = ok(
        'sunday = time("2024-05-05T10:00:00Z"); d = sunday.weekday; h = (time() - sunday) / 2;'
        " later = TimeInterval_Hour + sunday; earlier = time() - TimeInterval_Day;"
        ' y = time("Fri, 17 Feb 2017 00:00:00 GMT").year; m = time().month; day = time().day;'
        " mi = (time() + TimeInterval_Minute * 3).minute; s = (time() + 2.5 * TimeInterval_Second).second"
    )
    values = outcome.values
    assert values["d"] == 0
    assert values["h"] == timedelta(hours=12)
    assert values["later"] == datetime(2024, 5, 5, 11, 0, tzinfo=UTC)
    assert values["earlier"] == NOW - timedelta(days=1)
    assert (values["y"], values["m"], values["day"], values["mi"], values["s"]) == (2017, 5, 6, 3, 2)


def test_time_constants() -> None:
    outcome = ok(
        "z = TimeInterval_Zero; ns = TimeInterval_100ns * 3; us = TimeInterval_Microsecond;"
        " ms = TimeInterval_Millisecond; w = TimeInterval_Week; y = TimeInterval_Year;"
        " i = TimeInterval_Day * 1.5 + TimeInterval_Millisecond;"
        " neg = -TimeInterval_Minute"
    )
    assert outcome.values["w"] == timedelta(days=7)
    assert outcome.values["y"] == timedelta(days=365)
    assert "i=1.12:00:00.0010000" in outcome.results
    assert "neg=-00:01:00" in outcome.results
    assert "ns=00:00:00.0000003" in outcome.results
    assert "z=00:00:00" in outcome.results


def test_stop_ends_the_evaluation_successfully() -> None:
    outcome = ok("$TargetDedicatedNodes = 3; stop(); $TargetDedicatedNodes = 100; undefinedThing")
    assert outcome.target_dedicated_nodes == 3
    conditional = ok("$TargetDedicatedNodes = 3; x = 0 ? stop() : 1; $TargetDedicatedNodes = 4")
    assert conditional.target_dedicated_nodes == 4


def test_extension_functions_are_the_documented_extras() -> None:
    """Functions outside the service's table are listed in one place, so the docs can say so."""
    expected = {"abs": 2.5, "ceil": -2.0, "floor": -3.0, "round": -2.0, "count": 1.0}  # round: to even, as .NET
    assert frozenset(expected) == EXTENSION_FUNCTIONS
    assert {name: value_of(f"{name}(-2.5)") for name in expected} == expected


def test_inputs_need_only_a_time() -> None:
    outcome = evaluate("$TargetDedicatedNodes = 2", AutoScaleInputs(now=NOW))
    assert outcome.target_dedicated_nodes == 2
    assert 0.0 <= evaluate("x = rand()", AutoScaleInputs(now=NOW)).values["x"] <= 1.0


def test_rand_comes_from_the_inputs() -> None:
    assert value_of("rand() * 10", rand=0.7) == pytest.approx(7.0)


def test_division_follows_ieee_doubles() -> None:
    outcome = ok("a = 0 / 0; b = -1 / 0; c = 1 / 0; d = 7 / 2")
    assert outcome.results.endswith("a=NaN;b=-Infinity;c=Infinity;d=3.5")


# --------------------------------------------------------------------------------------------
# Syntax and the results text


def test_comments_line_breaks_and_optional_semicolons() -> None:
    formula = """
    /* block
       comment */ a = 1; // trailing comment
    b =
      a +
      2;;
    ;
    $TargetDedicatedNodes = b"""
    outcome = ok(formula)
    assert outcome.target_dedicated_nodes == 3
    assert parse_formula(formula).assigned == ("a", "b", "$TargetDedicatedNodes")


def test_dollar_and_plain_user_variables_are_different_names() -> None:
    outcome = ok("x = 1; $x = 2; y = x + $x; z = 'single quotes'")
    assert outcome.results.endswith("$x=2;x=1;y=3;z=single quotes")


def test_results_list_outputs_first_then_variables_by_name() -> None:
    outcome = ok("zeta = 0.1 + 0.2; alpha = -3; Mid = 1e20; $TargetLowPriorityNodes = 2; beta = 1e-7")
    assert outcome.results == (
        "$TargetDedicatedNodes=0;$TargetLowPriorityNodes=2;$NodeDeallocationOption=requeue;"
        "Mid=1E+20;alpha=-3;beta=1E-07;zeta=0.30000000000000004"
    )


def test_format_results_keeps_outputs_first() -> None:
    values: dict[str, Any] = {"b": 1.0, "$NodeDeallocationOption": "requeue", "$TargetDedicatedNodes": 2.0, "a": [1.5]}
    assert format_results(values) == "$TargetDedicatedNodes=2;$NodeDeallocationOption=requeue;b=1;a=[1.5]"


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=-(10**14), max_value=10**14))
def test_whole_numbers_are_written_without_a_decimal_point(number: int) -> None:
    outcome = ok(f"x = {abs(number)} * {1 if number >= 0 else -1}")
    assert outcome.results.endswith(f";x={number}")


@pytest.mark.parametrize(
    ("formula", "position"),
    [
        ("x = 1 % 2", 6),
        ("a = 1\nb = 2", 6),
        ("x = foo(1)", 4),
        ("$PendingTasks = 3", 0),
        ("$CurrentDedicatedNodes = 3", 0),
        ("TimeInterval_Minute = 3", 0),
        ("x = max()", 4),
        ("x = val(1)", 4),
        ("x = rand(1)", 4),
        ("x = $PendingTasks.GetSample()", 18),
        ("x = $PendingTasks.GetSample(1, 2, 3, 4)", 18),
        ("x = $PendingTasks.Foo(1)", 18),
        ("x = y.GetSample(1)", 6),
        ("x = (1 + 2", 10),
        ('x = "abc', 4),
        ("x = 1 +", 7),
        ("x = 1; /* open comment", 7),
        ("x = time().year()", 11),
        ("x = time().GetSample", 11),
        ("x = time().fortnight", 11),
        ("x = $PendingTasks.", 18),
        ("x = 1 ? 2", 9),
        ("= 3", 0),
        ("x = 1 = 2", 6),
        ("x = $", 4),
        ("x = 1 2", 6),
    ],
)
def test_syntax_errors_say_where(formula: str, position: int) -> None:
    with pytest.raises(FormulaError) as caught:
        parse_formula(formula)
    error = caught.value
    assert error.code == SYNTAX_ERROR
    assert error.position == position
    details = {pair["name"]: pair["value"] for pair in error.values}
    line = formula.count("\n", 0, position) + 1
    column = position - (formula.rfind("\n", 0, position) + 1) + 1
    assert details["Position"] == str(position)
    assert (details["Line"], details["Column"]) == (str(line), str(column))
    assert error.as_error().code == SYNTAX_ERROR
    assert f"line {line}, column {column}" in error.message


def test_evaluating_text_with_bad_syntax_raises_like_parse_formula() -> None:
    with pytest.raises(FormulaError) as caught:
        run("x = = 1")
    assert caught.value.code == SYNTAX_ERROR


def test_formula_length_is_limited_to_8192_characters() -> None:
    padding = "x = 1;"
    longest = padding + " " * (8192 - len(padding))
    assert parse_formula(longest).assigned == ("x",)
    with pytest.raises(FormulaError) as caught:
        parse_formula(longest + " ")
    assert caught.value.code == TOO_LONG


def test_a_formula_has_at_most_100_statements() -> None:
    hundred = ";".join(f"v{i} = {i}" for i in range(100))
    assert len(parse_formula(hundred).statements) == 100
    with pytest.raises(FormulaError) as caught:
        parse_formula(hundred + "; one_more = 1")
    assert caught.value.code == SYNTAX_ERROR


def test_deep_nesting_is_a_syntax_error_not_a_crash() -> None:
    with pytest.raises(FormulaError) as caught:
        parse_formula("x = " + "(" * 300 + "1" + ")" * 300)
    assert caught.value.code == SYNTAX_ERROR
    with pytest.raises(FormulaError):
        parse_formula("x = " + "-" * 300 + "1")
    with pytest.raises(FormulaError):
        parse_formula("x = " + "1 ? " * 300 + "1" + " : 1" * 300)
    assert value_of("(" * 40 + "1" + ")" * 40) == 1


def test_long_operator_chains_evaluate_without_deep_recursion() -> None:
    """A formula may be 8192 characters: a 4000-term sum must neither fail to parse nor overflow the stack."""
    terms = 4000
    assert value_of("+".join(["1"] * terms)) == terms
    assert value_of("-".join(["1"] * terms)) == 2 - terms
    assert value_of("&&".join(["1"] * 2000)) == 1
    assert value_of("||".join(["0"] * 2000)) == 0
    assert value_of("<".join(str(n) for n in range(1, 1500))) == 1  # (1 < 2) < 3 ...: 1 < n from then on


def test_parsed_formulas_are_cached_and_reusable() -> None:
    formula = parse_formula("$TargetDedicatedNodes = $CurrentDedicatedNodes + 1")
    assert parse_formula("$TargetDedicatedNodes = $CurrentDedicatedNodes + 1") is formula
    first = evaluate(formula, AutoScaleInputs(now=NOW, scalars={"$CurrentDedicatedNodes": 1}))
    second = evaluate(formula, AutoScaleInputs(now=NOW, scalars={"$CurrentDedicatedNodes": 5}))
    assert (first.target_dedicated_nodes, second.target_dedicated_nodes) == (2, 6)


# --------------------------------------------------------------------------------------------
# Random expressions against an independent reference evaluation

BINARY_LEVELS = {"||": 1, "&&": 2, "==": 3, "!=": 3, "<": 4, "<=": 4, ">": 4, ">=": 4, "+": 5, "-": 5, "*": 6, "/": 6}
UNARY_LEVEL = 7


def _reference(node: tuple[Any, ...]) -> float:
    """C semantics on IEEE doubles, written from the documented language rather than the implementation."""
    kind = node[0]
    if kind == "num":
        return node[1]
    if kind == "neg":
        return -_reference(node[1])
    if kind == "not":
        return 1.0 if _reference(node[1]) == 0 else 0.0
    if kind == "?":
        return _reference(node[2]) if _reference(node[1]) != 0 else _reference(node[3])
    op, left = node[1], _reference(node[2])
    if op == "&&":
        return 0.0 if left == 0 else (1.0 if _reference(node[3]) != 0 else 0.0)
    if op == "||":
        return 1.0 if left != 0 else (1.0 if _reference(node[3]) != 0 else 0.0)
    right = _reference(node[3])
    if op == "/":
        if right == 0:  # IEEE: the signs of both operands (including a negative zero) decide
            return (
                math.nan if left == 0 or math.isnan(left) else math.copysign(math.inf, left * math.copysign(1, right))
            )
        return left / right
    results = {
        "+": lambda: left + right,
        "-": lambda: left - right,
        "*": lambda: left * right,
        "==": lambda: float(left == right),
        "!=": lambda: float(left != right),
        "<": lambda: float(left < right),
        "<=": lambda: float(left <= right),
        ">": lambda: float(left > right),
        ">=": lambda: float(left >= right),
    }
    return results[op]()


def _source(node: tuple[Any, ...], extra_parens: bool) -> tuple[str, int]:
    """Source text and its precedence level; operands get parentheses only where precedence needs them."""
    kind = node[0]
    if kind == "num":
        return repr(node[1]), 99
    if kind in ("neg", "not"):
        inner, level = _source(node[1], extra_parens)
        if level < UNARY_LEVEL or extra_parens:
            inner = f"({inner})"
        return ("-" if kind == "neg" else "!") + inner, UNARY_LEVEL
    if kind == "?":
        parts = [_source(child, extra_parens)[0] for child in node[1:]]
        return f"({parts[0]}) ? ({parts[1]}) : ({parts[2]})", 0
    op = node[1]
    level = BINARY_LEVELS[op]
    left, left_level = _source(node[2], extra_parens)
    right, right_level = _source(node[3], extra_parens)
    if left_level < level or extra_parens:
        left = f"({left})"
    if right_level <= level or extra_parens:  # left-associative: a - (b - c) keeps its parentheses
        right = f"({right})"
    return f"{left} {op} {right}", level


numbers = st.one_of(st.integers(0, 9).map(float), st.sampled_from((0.5, 2.25, 10.0, 0.1)))
expressions = st.recursive(
    numbers.map(lambda n: ("num", n)),
    lambda children: st.one_of(
        st.tuples(st.just("bin"), st.sampled_from(tuple(BINARY_LEVELS)), children, children),
        st.tuples(st.sampled_from(("neg", "not")), children),
        st.tuples(st.just("?"), children, children, children),
    ),
    max_leaves=10,
)


def _same(actual: Any, expected: float) -> bool:
    return (math.isnan(actual) and math.isnan(expected)) or actual == expected


@settings(max_examples=300, deadline=None)
@given(expressions)
def test_random_expressions_agree_with_a_reference_evaluation(node: tuple[Any, ...]) -> None:
    expected = _reference(node)
    minimal, _ = _source(node, extra_parens=False)
    bracketed, _ = _source(node, extra_parens=True)
    assert _same(value_of(minimal), expected), minimal
    assert _same(value_of(bracketed), expected), bracketed
