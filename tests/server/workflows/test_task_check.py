"""The fast task check gives the full validator's verdict on every task, for both catalogs."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batch_mcp.catalog import load_catalog
from batch_mcp.catalog.validation import make_validator
from batch_mcp.server.workflows.submit import invalid_tasks, task_checker
from batch_mcp.server.workflows.task_check import TaskChecker, field_validators
from tests.conftest import API_VERSIONS

# Field values, valid and not, that tasks in a batch commonly carry.
VALUES: dict[str, list[Any]] = {
    "id": ["t1", "", 7, None],
    "commandLine": ["/bin/true", "", ["/bin/true"]],
    "displayName": ["nice", 3],
    "constraints": [
        {"maxTaskRetryCount": 2},
        {"maxTaskRetryCount": "2"},
        {"maxWallClockTime": "PT1H"},
        {"maxWallClockTime": "an hour"},
        {"retries": 2},
    ],
    "environmentSettings": [[{"name": "A", "value": "1"}], [{"value": "1"}], [{"name": "A", "extra": 1}], "A=1"],
    "requiredSlots": [1, "one", 1.5],
    "multiInstanceSettings": [{"numberOfInstances": 2}, {"numberOfInstances": "2"}],
    "dependsOn": [{"taskIds": ["a"]}, {"taskIds": "a"}],
    "userIdentity": [{"autoUser": {"scope": "task", "elevationLevel": "admin"}}, {"autoUser": {"scope": "nope"}}],
    "exitConditions": [{"default": {"jobAction": "none"}}, {"default": {"jobAction": "explode"}}],
    "notAField": [1],
}


def model(version: str) -> dict[str, Any]:
    schema = copy.deepcopy(load_catalog(version).validation_schema("task_add"))
    schema["properties"].pop("job_id")
    schema["required"].remove("job_id")
    return schema


tasks = st.dictionaries(st.sampled_from(sorted(VALUES)), st.none(), max_size=6).flatmap(
    lambda shape: st.fixed_dictionaries({name: st.sampled_from(VALUES[name]) for name in shape})
)


@pytest.mark.parametrize("version", API_VERSIONS)
def test_the_fast_check_agrees_with_the_full_validator(version: str) -> None:
    schema = model(version)
    full = make_validator(schema)
    checker = task_checker(load_catalog(version))
    memo: dict[tuple[str, str], bool] = {}

    @settings(max_examples=300, deadline=None, database=None)
    @given(st.lists(tasks, min_size=1, max_size=5))
    def check(batch: list[dict[str, Any]]) -> None:
        for task in batch:  # one memo across tasks, as in a real batch
            assert (not checker.problems(task, memo)) == full.is_valid(task), task

    check()


def test_the_task_model_has_independent_fields_so_the_fast_path_is_used() -> None:
    for version in API_VERSIONS:
        assert field_validators(model(version)) is not None


def test_a_schema_with_cross_field_rules_always_takes_the_full_path() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "additionalProperties": False,
        "minProperties": 1,
    }
    checker = TaskChecker.for_schema(schema)
    assert field_validators(schema) is None
    assert checker.problems({}, {}) and not checker.problems({"a": "x"}, {})


def test_duplicate_ids_differing_only_in_case_are_reported_with_the_first_index() -> None:
    problems, bad, _ = invalid_tasks(load_catalog(), [{"id": "a", "commandLine": "x"}, {"id": "A", "commandLine": "x"}])
    assert bad == 1
    assert problems == ["$.tasks[1].id: the same id as tasks[0] (ids are case-insensitive)"]
