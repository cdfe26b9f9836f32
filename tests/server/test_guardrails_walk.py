"""Every destructive tool of both catalogs, called by a client that cannot confirm, changes nothing:
directly, and through the batch_call router."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from batch_mcp.catalog import load_catalog
from tests.conftest import API_VERSIONS
from tests.server.conftest import call, connect, make_settings, text, wait_until

pytestmark = pytest.mark.anyio

THUMBPRINT = "0123456789abcdef0123456789abcdef01234567"


async def build_world(client: Any) -> dict[str, Any]:
    """One of everything a destructive tool can hit, with the values that name it."""
    nodes = await wait_until(
        client, "node_list", {"pool_id": "local"}, lambda d: any(n.get("state") == "idle" for n in d.get("items", []))
    )
    node_id = nodes["items"][0]["id"]
    await call(client, "job_add", {"id": "j", "poolInfo": {"poolId": "local"}})
    await call(client, "task_add", {"job_id": "j", "id": "t", "commandLine": "/bin/sh -c 'echo out'"})
    await wait_until(client, "task_get", {"job_id": "j", "task_id": "t"}, lambda t: t.get("state") == "completed")
    await call(
        client,
        "job_schedule_add",
        {"id": "s", "schedule": {"recurrenceInterval": "PT1H"}, "jobSpecification": {"poolInfo": {"poolId": "local"}}},
    )
    await call(client, "node_user_add", {"pool_id": "local", "node_id": node_id, "name": "u", "password": "Pw-123456"})
    await call(
        client,
        "certificate_add",
        {"thumbprint": THUMBPRINT, "thumbprintAlgorithm": "sha1", "data": "MIIBAA==", "certificateFormat": "cer"},
    )
    return {
        "pool_id": "local",
        "node_id": node_id,
        "job_id": "j",
        "task_id": "t",
        "job_schedule_id": "s",
        "user_name": "u",
        "thumbprint": THUMBPRINT,
        "thumbprint_algorithm": "sha1",
        "nodeList": [node_id],
        "disableTasks": "requeue",
        "targetOSVersion": "5",
        "file_path": "stdout.txt",
    }


def arguments_for(tool: Any, world: dict[str, Any]) -> dict[str, Any]:
    args = {name: world[name] for name in tool.input_schema.get("required", [])}
    if tool.name == "node_file_delete":
        args["file_path"] = "startup"
        args["recursive"] = True
    return args


async def snapshot(client: Any, world: dict[str, Any]) -> dict[str, Any]:
    async def data(name: str, args: dict[str, Any]) -> Any:
        result = await call(client, name, args)
        return None if result.is_error else result.structured_content

    pool = await data("pool_get", {"pool_id": "local"})
    job = await data("job_get", {"job_id": "j"})
    task = await data("task_get", {"job_id": "j", "task_id": "t"})
    node = await data("node_get", {"pool_id": "local", "node_id": world["node_id"]})
    schedule = await data("job_schedule_get", {"job_schedule_id": "s"})
    cert = await data("certificate_get", {"thumbprint": THUMBPRINT, "thumbprint_algorithm": "sha1"})
    task_file = await data("task_file_get_properties", {"job_id": "j", "task_id": "t", "file_path": "stdout.txt"})
    return {
        "pool": (pool["state"], pool["allocationState"], pool["currentDedicatedNodes"]),
        "node": (node["state"], node["schedulingState"]),
        "job": job["state"],
        "task": task["state"],
        "schedule": schedule["state"],
        "certificate": cert["state"],
        "task_file": task_file is not None,
    }


@pytest.mark.parametrize("version", API_VERSIONS)
async def test_no_destructive_tool_acts_without_confirmation(tmp_path: Path, version: str) -> None:
    catalog = load_catalog(version)
    destructive = [tool for tool in catalog if tool.annotations["destructiveHint"]]
    assert len(destructive) >= 16
    async with connect(make_settings(tmp_path, api_version=version, toolsets=["default"]), "legacy") as client:
        world = await build_world(client)
        before = await snapshot(client, world)
        for tool in destructive:
            args = arguments_for(tool, world)
            direct = await call(client, tool.name, args)
            routed = await call(client, "batch_call", {"name": tool.name, "arguments": args})
            for result in (direct, routed):
                assert result.is_error, f"{tool.name} acted: {text(result)}"
                # asked (and refused: this client cannot confirm), or nothing to do (a completed task to terminate)
                said = text(result)
                assert "confirmation" in said or "nothing to do" in said, f"{tool.name}: {said}"
        assert await snapshot(client, world) == before
