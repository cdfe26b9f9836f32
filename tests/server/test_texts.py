"""The tool texts guide rather than trap: every filter example is valid for its tool's items, a text
names another tool only when the model can reach it, unclear arguments say what they mean, argument
errors name each missing field once, and the routers claim no more than the calls they run."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from batch_mcp.catalog import load_catalog
from batch_mcp.catalog.listing import listed_annotations
from batch_mcp.emulator.odata_filter import compile_filter
from batch_mcp.server import assemble
from batch_mcp.settings import Settings
from tests.conftest import API_VERSIONS, SPECS_DIR
from tests.server.conftest import call, connect, make_settings, text

EXAMPLE = re.compile(r"e\.g\. ([^;]*?'[^']*'\)?)")
NAME = re.compile(r"(?<!')\b([A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*)\b(?!')")
# Arguments of the default tools that need no words beyond their name and type (ids aside).
SELF_EXPLAINING = {
    "allowTaskPreemption",
    "applicationLicenses",
    "applicationPackageReferences",
    "arguments",
    "certificateReferences",
    "commonEnvironmentSettings",
    "constraints",
    "displayName",
    "dry_run",
    "enableInterNodeCommunication",
    "environmentSettings",
    "metadata",
    "mountConfiguration",
    "name",
    "outputFiles",
    "poolInfo",
    "resourceFiles",
    "resourceTags",
    "startTask",
    "targetDedicatedNodes",
    "targetNodeCommunicationMode",
    "taskSchedulingPolicy",
    "terminateReason",
    "userAccounts",
    "userIdentity",
    "values",
    "affinityInfo",
    "virtualMachineConfiguration",
    "vmSize",
}
OPERATORS = {"eq", "ne", "gt", "ge", "lt", "le", "and", "or", "not", "startswith", "endswith", "true", "false"}


def spec(version: str) -> dict[str, Any]:
    return json.loads((SPECS_DIR / version / "BatchService.json").read_text(encoding="utf-8"))


def model_of_list(document: Mapping[str, Any], path: str) -> dict[str, Any]:
    definitions = document["definitions"]
    listing = document["paths"][path]["get"]["responses"]["200"]["schema"]["$ref"].rsplit("/", 1)[-1]
    item = definitions[listing]["properties"]["value"]["items"]["$ref"].rsplit("/", 1)[-1]
    return definitions[item]


def resolve(document: Mapping[str, Any], schema: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in schema:
        schema = document["definitions"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def field_schema(document: Mapping[str, Any], model: Mapping[str, Any], path: str) -> Mapping[str, Any] | None:
    node: Mapping[str, Any] = model
    for segment in path.split("/"):
        prop = resolve(document, node).get("properties", {}).get(segment)
        if prop is None:
            return None
        node = prop
    return resolve(document, node)


def filter_examples(tool: Any) -> Iterator[str]:
    texts = [tool.description, tool.input_schema.get("properties", {}).get("filter", {}).get("description", "")]
    for found in texts:
        yield from EXAMPLE.findall(found)


@pytest.mark.parametrize("version", API_VERSIONS)
def test_every_filter_example_parses_and_names_real_fields_and_values_of_its_tools_items(version: str) -> None:
    document = spec(version)
    checked = 0
    for tool in load_catalog(version):
        if "filter" not in tool.input_schema.get("properties", {}):
            continue
        examples = list(filter_examples(tool))
        assert examples, f"{tool.name}: its filter argument shows no example"
        model = model_of_list(document, tool.http.path)
        for example in examples:
            compile_filter(example)  # the emulator's parser: raises on anything it cannot read
            names = [n for n in NAME.findall(re.sub(r"'[^']*'", "''", example)) if n.lower() not in OPERATORS]
            assert names, example
            for name in names:
                field = field_schema(document, model, name)
                assert field is not None, f"{tool.name}: {example!r} names {name!r}, which its items lack"
                literals = re.findall(r"'([^']*)'", example)
                if "enum" in field:
                    assert all(v in field["enum"] for v in literals), f"{tool.name}: {example!r} not in {field['enum']}"
            checked += 1
    assert checked >= 10


def tool_texts(tool: Any) -> str:
    parts = [tool.description]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("description"), str):
                parts.append(node["description"])
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(dict(tool.input_schema))
    return "\n".join(parts)


@pytest.mark.parametrize("version", API_VERSIONS)
def test_a_listed_tool_names_another_tool_only_if_it_is_listed_or_says_how_to_reach_it(version: str) -> None:
    parts = assemble(Settings(api_version=version, audit_log=None))
    tools = {**parts.catalog.tools, **parts.server_tools}
    for name in parts.selection.listed:
        words = tool_texts(tools[name])
        for mentioned in set(re.findall(r"\b[a-z]+(?:_[a-z]+)+\b", words)) & set(tools):
            if parts.selection.is_listed(mentioned):
                continue
            assert "batch_call" in words or "batch_tools" in words, f"{name} names hidden {mentioned}: {words}"


def test_arguments_whose_meaning_is_not_obvious_say_what_they_mean() -> None:
    parts = assemble(Settings(audit_log=None))
    tools = {**parts.catalog.tools, **parts.server_tools}

    def described(tool: str, arg: str) -> str:
        return tools[tool].input_schema["properties"][arg].get("description", "")

    assert described("file_tail", "follow") and described("file_tail", "lines")
    assert "delete" not in described("task_file_list", "recursive").lower()
    assert "startup/" in described("node_file_get", "file_path")
    assert "startup/" not in described("task_file_get", "file_path")
    assert "Spot" in described("pool_resize", "targetLowPriorityNodes")
    assert "empty job ends at once" in described("job_add", "onAllTasksComplete")
    assert "task_add_collection" not in tools["job_add"].description
    assert "onAllTasksComplete to end the job by itself" not in tools["job_add"].description
    unexplained = {
        arg
        for name in parts.selection.listed
        for arg, schema in tools[name].input_schema.get("properties", {}).items()
        if not schema.get("description") and arg != "id" and not arg.endswith("_id")
    }
    assert unexplained <= SELF_EXPLAINING, unexplained - SELF_EXPLAINING


@pytest.mark.anyio
async def test_argument_errors_name_every_missing_field_once(tmp_path: Path, era: str) -> None:
    async with connect(make_settings(tmp_path), era) as client:
        result = await call(client, "task_get", {})
        assert result.is_error
        message = text(result)
        assert message.count("$.job_id") == 1 and message.count("$.task_id") == 1, message


def test_the_routers_claim_no_more_than_the_calls_they_run() -> None:
    parts = assemble(Settings(audit_log=None))
    tools = parts.server_tools
    assert tools["batch_tools"].annotations["readOnlyHint"] is True
    assert tools["batch_call"].annotations["readOnlyHint"] is False
    assert tools["batch_call"].annotations["destructiveHint"] is False
    read_only = assemble(Settings(audit_log=None, read_only=True)).selection
    assert "batch_tools" in read_only.listed and "batch_call" not in read_only.enabled


def test_the_listing_sends_every_hint_whose_value_differs_from_mcps_default_and_no_more() -> None:
    parts = assemble(Settings(audit_log=None))
    tools = {**parts.catalog.tools, **parts.server_tools}
    assert listed_annotations(tools["task_get"].annotations) == {"readOnlyHint": True}
    assert listed_annotations(tools["job_delete"].annotations) == {"readOnlyHint": False, "idempotentHint": True}
    assert listed_annotations(tools["job_add"].annotations) == {"readOnlyHint": False, "destructiveHint": False}
    assert listed_annotations(tools["batch_call"].annotations) == {"readOnlyHint": False, "destructiveHint": False}


@pytest.mark.parametrize("version", API_VERSIONS)
def test_error_hints_name_a_tool_only_if_it_is_listed_or_say_how_to_reach_it(version: str) -> None:
    """"what to try" is read by a model with the default list in front of it."""
    from batch_mcp.server.errors import HINTS_BY_CODE, HINTS_BY_STATUS

    parts = assemble(Settings(api_version=version, audit_log=None))
    tools = {**parts.catalog.tools, **parts.server_tools}
    for hint in [*HINTS_BY_CODE.values(), *HINTS_BY_STATUS.values()]:
        for mentioned in set(re.findall(r"\b[a-z]+(?:_[a-z]+)+\b", hint)) & set(tools):
            if parts.selection.is_listed(mentioned):
                continue
            assert "batch_call" in hint or "batch_tools" in hint, f"hint names hidden {mentioned}: {hint}"


def test_the_state_conflicts_agents_meet_most_have_a_hint_of_their_own() -> None:
    from batch_mcp.server.errors import HINTS_BY_CODE

    for code in ("PoolNotSteady", "JobCompleted", "JobBeingTerminated", "TaskCompleted", "TaskNotFailed"):
        assert code in HINTS_BY_CODE, code
