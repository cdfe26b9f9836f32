"""Every operation of both catalogs, driven by the spec's own examples: the emulator answers
with the documented status, the documented headers and a body valid against the spec's
response schema. The entities each example names are created first, through the API."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch_mcp.catalog.validation import validation_errors
from batch_mcp.emulator import versions
from tests.conftest import API_VERSIONS, SPECS_DIR
from tests.emulator.contract import (
    build_request,
    documented_headers,
    int64_as_numbers,
    load_examples,
    prepare,
    response_validator,
    world_for,
)

CASES = [ex for version in API_VERSIONS for ex in load_examples(SPECS_DIR, version)] if SPECS_DIR.is_dir() else []


def test_every_operation_of_both_catalogs_has_an_example_case() -> None:
    from batch_mcp.emulator.routing import all_operation_ids

    covered = {(ex.version, ex.op) for ex in CASES}
    for version, ops in all_operation_ids().items():
        assert {(version, op) for op in ops} <= covered


@pytest.mark.anyio
@pytest.mark.parametrize("ex", CASES, ids=[f"{ex.version}:{ex.name}" for ex in CASES])
async def test_example_request_gets_the_documented_response(ex, specs_dir: Path) -> None:
    async with world_for(ex.version) as world:
        await prepare(world, ex)
        method, path, query, headers, body = build_request(world, ex)
        response = await world.api.call(method, path, params=query, headers=headers, json=body)
        assert response.status_code == ex.status, response.text
        missing = documented_headers(ex.operation, ex.status) - {h.lower() for h in response.headers}
        assert not missing, f"missing headers {missing}"
        validator = response_validator(specs_dir, ex.version, ex.operation, ex.status)
        if validator is not None:
            version = versions.get(ex.version)
            label = version.root(method, ex.operation.path)
            body = response.json()
            if label is not None:
                plan = version.plan(label)
                body = int64_as_numbers(plan, body)
                if isinstance(body, dict) and isinstance(body.get("value"), list):
                    body["value"] = int64_as_numbers(plan, body["value"])
            problems = validation_errors(validator, body)
            assert not problems, problems
        elif method == "GET" and ex.status == 200:
            assert response.content  # file and RDP downloads carry bytes
