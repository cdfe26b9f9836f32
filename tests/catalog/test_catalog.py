"""The committed catalogs against the official specs: complete, valid, compact and reproducible."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from batch_mcp.catalog import load_catalog
from batch_mcp.catalog.generator.build import BOILERPLATE, build_catalog, dump
from batch_mcp.catalog.generator.spec import Spec
from batch_mcp.catalog.loader import catalog_root
from tests.catalog.examples import examples, to_arguments, to_result
from tests.conftest import API_VERSIONS

EXPECTED_COUNTS = {"2018-08-01.7.0": 77, "2024-02-01.19.0": 76}
NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

# Operations that can destroy work or data, named independently of texts.toml: every one must
# carry destructiveHint so the server asks the user first.
DESTRUCTIVE_OPERATIONS = {
    "Pool_Delete",
    "Pool_StopResize",
    "Pool_RemoveNodes",
    "Pool_UpgradeOS",
    "Job_Delete",
    "Job_Terminate",
    "Job_Disable",
    "JobSchedule_Delete",
    "JobSchedule_Terminate",
    "Task_Delete",
    "Task_Terminate",
    "ComputeNode_Reboot",
    "ComputeNode_Reimage",
    "ComputeNode_DeleteUser",
    "ComputeNode_DisableScheduling",
    "ComputeNode_Deallocate",
    "File_DeleteFromTask",
    "File_DeleteFromComputeNode",
    "Certificate_Delete",
}


@pytest.fixture(scope="module", params=API_VERSIONS)
def version(request: pytest.FixtureRequest) -> str:
    return request.param


def test_each_spec_operation_has_exactly_one_tool(version: str, specs_dir: Path) -> None:
    spec = Spec(specs_dir / version / "BatchService.json")
    catalog = load_catalog(version)
    bound = sorted((t.http.method, t.http.path) for t in catalog)
    in_spec = sorted((op.method, op.path) for op in spec.operations())
    assert bound == in_spec
    assert len(catalog) == EXPECTED_COUNTS[version]
    assert catalog.spec_sha256 == spec.sha256


def test_tool_names_are_valid_and_stable_across_versions() -> None:
    old, new = (load_catalog(v) for v in API_VERSIONS)
    for catalog in (old, new):
        assert all(NAME.match(t.name) for t in catalog)
    shared = {(t.http.method, t.http.path): t.name for t in old}
    for tool in new:
        key = (tool.http.method, tool.http.path)
        if key in shared:
            assert shared[key] == tool.name


def test_every_schema_is_valid_json_schema_2020_12(version: str) -> None:
    catalog = load_catalog(version)
    for tool in catalog:
        Draft202012Validator.check_schema(tool.input_schema)
        assert tool.input_schema["type"] == "object"
        assert tool.input_schema["additionalProperties"] is False
        if tool.output_schema is not None:
            Draft202012Validator.check_schema(tool.output_schema)
            assert tool.output_schema["type"] == "object"
        Draft202012Validator.check_schema(catalog.validation_schema(tool.name))


def test_sent_schemas_use_no_refs_and_no_top_level_combinators(version: str) -> None:
    for tool in load_catalog(version):
        text = json.dumps(tool.input_schema) + json.dumps(tool.output_schema or {})
        assert "$ref" not in text and "$defs" not in text, tool.name
        assert not {"oneOf", "anyOf", "allOf"} & set(tool.input_schema), tool.name


def test_no_boilerplate_argument_appears_in_any_tool(version: str) -> None:
    plumbing = {b.lower().replace("-", "_") for b in BOILERPLATE}
    for tool in load_catalog(version):
        args = {a.lower() for a in tool.input_schema["properties"]}
        wires = {(b.wire or "").lower() for b in tool.http.args.values()}
        assert not args & plumbing, tool.name
        assert not wires & {b.lower() for b in BOILERPLATE}, tool.name


def test_destructive_operations_carry_destructive_hint(version: str) -> None:
    for tool in load_catalog(version):
        if tool.http.operation_id in DESTRUCTIVE_OPERATIONS or tool.http.method == "DELETE":
            assert tool.annotations["destructiveHint"] is True, tool.name
            assert tool.guard in ("destructive", "scale"), tool.name
        if tool.annotations["destructiveHint"]:
            assert not tool.annotations["readOnlyHint"], tool.name


def test_annotations_are_explicit_and_match_the_method(version: str) -> None:
    for tool in load_catalog(version):
        assert set(tool.annotations) == {"readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"}
        if tool.http.method in ("GET", "HEAD"):
            assert tool.annotations["readOnlyHint"] and tool.guard == "read", tool.name
        elif tool.http.operation_id != "Pool_EvaluateAutoScale":
            assert not tool.annotations["readOnlyHint"], tool.name


def test_every_example_request_validates_as_tool_arguments(version: str, specs_dir: Path) -> None:
    catalog = load_catalog(version)
    by_key = {(t.http.method, t.http.path): t for t in catalog}
    seen = 0
    for example in examples(specs_dir / version / "BatchService.json"):
        tool = by_key[(example.operation.method, example.operation.path)]
        args = to_arguments(tool, example)
        Draft202012Validator(tool.input_schema).validate(args)
        errors = [e.message for e in catalog.validator(tool.name).iter_errors(args)]
        assert errors == [], f"{example.path.name}: {errors}"
        seen += 1
    assert seen >= 84


def test_every_example_response_validates_against_the_output_schema(version: str, specs_dir: Path) -> None:
    catalog = load_catalog(version)
    by_key = {(t.http.method, t.http.path): t for t in catalog}
    checked = 0
    for example in examples(specs_dir / version / "BatchService.json"):
        tool = by_key[(example.operation.method, example.operation.path)]
        for status, response in example.responses.items():
            if not status.startswith("2"):
                continue
            result = to_result(tool, response)
            if result is None:
                continue
            assert tool.output_schema is not None, tool.name
            Draft202012Validator(tool.output_schema).validate(result)
            checked += 1
    assert checked >= 30


def test_rebuilding_from_the_spec_reproduces_the_committed_files(version: str, specs_dir: Path) -> None:
    catalog = build_catalog(specs_dir / version / "BatchService.json")
    folder = catalog_root() / version
    expected = {f"{name}.json": dump(tool) for name, tool in catalog["tools"].items()}
    expected["index.json"] = dump(catalog["index"])
    expected["models.json"] = dump(catalog["models"])
    committed = {p.name: p.read_text(encoding="utf-8") for p in folder.glob("*.json")}
    assert sorted(committed) == sorted(expected)
    for name, text in expected.items():
        assert committed[name] == text, f"{name} differs: run `batch-mcp catalog build`"


def test_the_full_2024_catalog_fits_the_size_budget() -> None:
    from batch_mcp.catalog.listing import tool_bytes

    sizes = {t.name: tool_bytes(t) for t in load_catalog("2024-02-01.19.0")}
    assert sum(sizes.values()) <= 100 * 1024
    assert max(sizes.values()) <= 12 * 1024


def test_collapsed_subtrees_are_still_validated_in_full() -> None:
    catalog = load_catalog("2024-02-01.19.0")
    tool = catalog["pool_add"]
    assert "/properties/networkConfiguration" in tool.collapsed
    bad = {"id": "p", "vmSize": "standard_d2s_v3", "networkConfiguration": {"subnetId": 7}}
    errors = list(catalog.validator("pool_add").iter_errors(bad))
    assert [list(e.absolute_path) for e in errors] == [["networkConfiguration", "subnetId"]]
