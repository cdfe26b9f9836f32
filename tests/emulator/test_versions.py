"""Every published API version is served at its own paths and answered in the shape of its era,
by the table in `batch_mcp/emulator/api_versions.json`; the table agrees with the specs we hold."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

from batch_mcp.emulator import versions
from tests.conftest import API_VERSIONS, ROOT, SPECS_DIR
from tests.emulator.conftest import make_pool, ready_pool, running

pytestmark = pytest.mark.anyio

ALL = versions.VERSIONS


def derive_module() -> Any:
    spec = importlib.util.spec_from_file_location("derive_api_versions", ROOT / "scripts" / "derive_api_versions.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def future_fields(version: versions.ApiVersion, label: str | None, value: Any, path: str = "$") -> list[str]:
    """Every key of a response that its version's model does not have (recursively)."""
    if label is None:
        return []
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in future_fields(version, label, v, f"{path}[{i}]")]
    if not isinstance(value, dict):
        return []
    fields = version.fields(label)
    out = []
    for key, item in value.items():
        if key.startswith("odata."):
            continue
        if key not in fields:
            out.append(f"{path}.{key}")
        elif fields[key]:
            out.extend(future_fields(version, fields[key], item, f"{path}.{key}"))
    return out


# -- the table against the specs ------------------------------------------------------------------


@pytest.mark.parametrize("name", API_VERSIONS)
def test_the_table_says_what_each_local_spec_says(name: str) -> None:
    """Operations, query parameters, request/response models and every model's fields, for the
    versions whose spec is in ../shared/specs, as the derivation script reads them."""
    derive = derive_module()
    spec = derive.read_swagger(SPECS_DIR / name / "BatchService.json")
    version = versions.get(name)
    assert version is not None
    table_ops = {k for k in versions.TABLE["operations"] if version.has(*k.split(" ", 1))}
    assert table_ops == set(spec.operations)
    for key, op in spec.operations.items():
        method, path = key.split(" ", 1)
        assert version.query_parameters(method, path) == op.query, key
        for role, model in (("request", op.request), ("response", derive.unwrap(spec, op.response))):
            assert version.root(method, path, role) == model, (key, role)
    reachable: set[str] = set()
    todo = [m for op in spec.operations.values() for m in (op.request, derive.unwrap(spec, op.response)) if m]
    while todo:
        model = todo.pop()
        if model in reachable:
            continue
        reachable.add(model)
        fields = {k: v for k, v in spec.models[model].items() if not k.startswith("odata.")}
        assert version.fields(model) == fields, model
        todo.extend(t for t in fields.values() if t)


def test_the_table_covers_every_published_version_in_order() -> None:
    assert ALL == (
        "2018-08-01.7.0",
        "2018-12-01.8.0",
        "2019-06-01.9.0",
        "2019-08-01.10.0",
        "2020-03-01.11.0",
        "2020-09-01.12.0",
        "2021-06-01.14.0",
        "2022-01-01.15.0",
        "2022-10-01.16.0",
        "2023-05-01.17.0",
        "2023-11-01.18.0",
        "2024-02-01.19.0",
        "2024-07-01.20.0",
        "2025-06-01",
    )
    assert set(versions.TABLE["sources"]) == set(ALL)


def test_the_derivation_reads_a_spec_into_the_table_format(tmp_path: Path) -> None:
    """The script's table for a spec holds the facts it read (a run of one version)."""
    derive = derive_module()
    spec = derive.read_swagger(SPECS_DIR / API_VERSIONS[1] / "BatchService.json")
    definitions = {v: spec for v in ALL}
    table = derive.build_table({v: _as(derive, spec, v) for v in definitions})
    assert table["versions"] == list(ALL)
    assert table["operations"]["GET /pools"] == [["2018-08-01.7.0", None]]
    assert table["models"]["CloudPool"]["taskSlotsPerNode"] == 1


def _as(derive: Any, spec: Any, version: str) -> Any:
    copy = derive.Definition(version, spec.source, spec.operations, spec.models, spec.int64)
    return copy


# -- serving every version ------------------------------------------------------------------------


async def test_every_published_version_is_served_and_others_get_the_service_error() -> None:
    async with running() as (_, api):
        for name in ALL:
            r = await api.at(name).get("/pools")
            assert r.status_code == 200, (name, r.text)
        for name in ("2017-09-01.6.0", "2025-06-01.21.0", "2026-13-01", "latest"):
            r = await api.at(name).get("/pools")
            assert (r.status_code, r.json()["code"]) == (400, "UnsupportedRequestVersion"), name


async def test_operations_exist_only_in_the_versions_that_have_them() -> None:
    async with running() as (_, api):
        await make_pool(api, "p", nodes=1)
        node = (await api.get("/pools/p/nodes")).json()["value"][0]["id"]
        expectations = {
            ("GET", "/nodeagentskus"): ("2018-12-01.8.0", "2019-06-01.9.0"),
            ("GET", "/supportedimages"): ("2019-06-01.9.0", "2018-12-01.8.0"),
            ("GET", "/lifetimejobstats"): ("2022-10-01.16.0", "2023-05-01.17.0"),
            ("GET", "/lifetimepoolstats"): ("2022-10-01.16.0", "2023-05-01.17.0"),
            ("GET", f"/pools/p/nodes/{node}/extensions"): ("2021-06-01.14.0", "2020-09-01.12.0"),
        }
        for (method, path), (has, lacks) in expectations.items():
            assert (await api.at(has).call(method, path)).status_code == 200, (path, has)
            r = await api.at(lacks).call(method, path)
            assert (r.status_code, r.json()["code"]) == (400, "InvalidUri"), (path, lacks)
        r = await api.at("2024-02-01.19.0").post(f"/pools/p/nodes/{node}/deallocate")
        assert (r.status_code, r.json()["code"]) == (400, "InvalidUri")


async def test_nodes_deallocate_and_start_from_2024_07_01() -> None:
    async with running() as (_, api):
        await make_pool(api, "p", nodes=1)
        node = (await api.get("/pools/p/nodes")).json()["value"][0]["id"]
        new = api.at("2025-06-01")
        r = await new.post(f"/pools/p/nodes/{node}/start")
        assert (r.status_code, r.json()["code"]) == (409, "NodeNotDeallocated")
        r = await new.post(f"/pools/p/nodes/{node}/deallocate", {"nodeDeallocateOption": "terminate"})
        assert r.status_code == 202
        await new.wait(f"/pools/p/nodes/{node}", lambda n: n["state"] == "deallocated")
        r = await new.post(f"/pools/p/nodes/{node}/deallocate")
        assert (r.status_code, r.json()["code"]) == (409, "NodeDeallocated")
        assert (await new.post(f"/pools/p/nodes/{node}/start")).status_code == 202
        await new.wait(f"/pools/p/nodes/{node}", lambda n: n["state"] == "idle")
        r = await api.at("2024-07-01.20.0").post(f"/pools/p/nodes/{node}/deallocate", {"colour": "red"})
        assert (r.status_code, r.json()["code"]) == (400, "InvalidRequestBody")


async def test_query_parameters_of_each_era_are_accepted() -> None:
    async with running() as (_, api):
        await make_pool(api, "p", nodes=1)
        for name in ALL:
            params = {"timeOut" if versions.INDEX[name] >= versions.INDEX["2024-07-01.20.0"] else "timeout": "30"}
            params["$select"] = "id,state"
            r = await api.at(name).get("/pools/p", params=params)
            assert (r.status_code, r.json()) == (200, {**r.json(), "id": "p", "state": "active"}), name
            assert set(r.json()) == {"odata.metadata", "id", "state"}


# -- shapes of each era ---------------------------------------------------------------------------


async def test_no_version_is_sent_a_field_it_does_not_have() -> None:
    """Pools, nodes, jobs, schedules, tasks, files and counts, read through every version: each key
    is one the version's model has (a field is never returned to a version older than it)."""
    async with running() as (_, api):
        await make_pool(api, "p", nodes=1, startTask={"commandLine": "/bin/true", "waitForSuccess": True})
        await api.post("/jobs", {"id": "j", "poolInfo": {"poolId": "p"}, "priority": 3})
        await api.post(
            "/jobschedules",
            {"id": "s", "schedule": {"recurrenceInterval": "PT1H"}, "jobSpecification": {"poolInfo": {"poolId": "p"}}},
        )
        await api.post("/jobs/j/tasks", {"id": "t", "commandLine": "/bin/sh -c 'echo hi'"})
        await api.wait("/jobs/j/tasks/t", lambda t: t["state"] == "completed")
        node = (await api.get("/pools/p/nodes")).json()["value"][0]["id"]
        reads = [
            "/pools",
            "/pools/p",
            "/pools/p/nodes",
            f"/pools/p/nodes/{node}",
            "/jobs",
            "/jobs/j",
            "/jobschedules/s",
            "/jobs/j/tasks",
            "/jobs/j/tasks/t",
            "/jobs/j/tasks/t/files",
            "/jobs/j/taskcounts",
            "/nodecounts",
        ]
        for name in ALL:
            version = versions.get(name)
            assert version is not None
            for path in reads:
                template = _template(path, node)
                r = await api.at(name).get(path, params={"$expand": "stats"} if template in STATS else None)
                assert r.status_code == 200, (name, path, r.text)
                body = r.json()
                label = version.root("GET", template)
                found = future_fields(version, label, body.get("value", body))
                assert not found, (name, path, found)


STATS = {"/pools", "/pools/{poolId}", "/jobs", "/jobs/{jobId}", "/jobschedules/{jobScheduleId}"}


def _template(path: str, node: str) -> str:
    return (
        path.replace(node, "{nodeId}")
        .replace("/pools/p", "/pools/{poolId}")
        .replace("/jobs/j", "/jobs/{jobId}")
        .replace("/tasks/t", "/tasks/{taskId}")
        .replace("/jobschedules/s", "/jobschedules/{jobScheduleId}")
    )


async def test_task_slots_keep_the_name_of_each_era() -> None:
    async with running() as (_, api):
        old, new = api.at("2019-08-01.10.0"), api.at("2020-09-01.12.0")
        body = ready_pool("p", 1, 3)
        del body["taskSlotsPerNode"]
        r = await old.post("/pools", {**body, "taskSlotsPerNode": 3})
        assert (r.status_code, r.json()["code"]) == (400, "InvalidRequestBody")
        assert (await old.post("/pools", {**body, "maxTasksPerNode": 3})).status_code == 201
        assert (await old.get("/pools/p")).json()["maxTasksPerNode"] == 3
        selected = (await old.get("/pools", params={"$select": "id,maxTasksPerNode"})).json()["value"]
        assert selected == [{"id": "p", "maxTasksPerNode": 3}]
        assert "taskSlotsPerNode" not in (await old.get("/pools/p")).json()
        pool = (await new.get("/pools/p")).json()
        assert pool["taskSlotsPerNode"] == 3 and "maxTasksPerNode" not in pool
        r = await new.post("/pools", {**body, "id": "q", "maxTasksPerNode": 3})
        assert (r.status_code, r.json()["code"]) == (400, "InvalidRequestBody")


async def test_task_counts_take_the_shape_of_their_era() -> None:
    async with running() as (_, api):
        await api.post("/jobs", {"id": "j", "poolInfo": {"poolId": "p"}})
        flat = (await api.at("2020-03-01.11.0").get("/jobs/j/taskcounts")).json()
        assert {"active", "running", "completed", "succeeded", "failed"} <= set(flat)
        result = (await api.at("2020-09-01.12.0").get("/jobs/j/taskcounts")).json()
        assert set(result) - {"odata.metadata"} == {"taskCounts", "taskSlotCounts"}


async def test_fields_of_later_versions_are_refused_by_earlier_ones() -> None:
    async with running() as (_, api):
        body = {"id": "j", "poolInfo": {"poolId": "p"}, "maxParallelTasks": 2}
        r = await api.at("2020-09-01.12.0").post("/jobs", body)
        assert (r.status_code, r.json()["code"]) == (400, "InvalidRequestBody")
        assert (await api.at("2021-06-01.14.0").post("/jobs", body)).status_code == 201
        job = (await api.at("2021-06-01.14.0").get("/jobs/j")).json()
        assert job["maxParallelTasks"] == 2
        assert "maxParallelTasks" not in (await api.at("2020-09-01.12.0").get("/jobs/j")).json()


async def test_64_bit_integers_are_json_strings_in_every_version() -> None:
    """The service writes Int64 values (statistics counters, file sizes) as strings."""
    async with running() as (_, api):
        await make_pool(api, "p", nodes=1)
        await api.post("/jobs", {"id": "j", "poolInfo": {"poolId": "p"}})
        await api.post("/jobs/j/tasks", {"id": "t", "commandLine": "/bin/sh -c 'echo hello'"})
        await api.wait("/jobs/j/tasks/t", lambda t: t["state"] == "completed")
        for name in ALL:
            files = (await api.at(name).get("/jobs/j/tasks/t/files", params={"recursive": "true"})).json()["value"]
            sizes = [f["properties"]["contentLength"] for f in files if not f["isDirectory"]]
            assert sizes and all(isinstance(s, str) and s.isdigit() for s in sizes), name
            stats = (await api.at(name).get("/jobs/j", params={"$expand": "stats"})).json()["stats"]
            assert stats["numSucceededTasks"] == "1" and isinstance(stats["readIOps"], str), name
            assert isinstance(stats["readIOGiB"], int | float)  # doubles stay numbers
        lifetime = (await api.at("2018-08-01.7.0").get("/lifetimejobstats")).json()
        assert isinstance(lifetime["numSucceededTasks"], str)
        pool_stats = (await api.at("2018-08-01.7.0").get("/lifetimepoolstats")).json()
        assert isinstance(pool_stats["resourceStats"]["diskReadIOps"], str)


async def test_shaping_leaves_the_stored_entity_alone() -> None:
    async with running() as (backend, api):
        await make_pool(api, "p", nodes=1)
        assert (await api.at("2018-08-01.7.0").get("/pools/p")).json()["maxTasksPerNode"] == 4
        assert backend.get_pool("p").body["taskSlotsPerNode"] == 4
        assert (await api.get("/pools/p")).json()["taskSlotsPerNode"] == 4


async def test_values_newer_versions_added_to_an_enum_are_accepted_by_them_only() -> None:
    """2025-06-01 added `confidentialvm` to the pool security types; 2024-02-01.19.0 refuses it."""
    async with running() as (_, api):
        body = ready_pool("p", 1, 1)
        body["virtualMachineConfiguration"]["securityProfile"] = {"securityType": "confidentialvm"}
        r = await api.at("2024-02-01.19.0").post("/pools", body)
        assert (r.status_code, r.json()["code"]) == (400, "InvalidPropertyValue")
        assert (await api.at("2025-06-01").post("/pools", body)).status_code == 201


def test_every_operation_of_every_version_has_a_route_and_a_handler() -> None:
    from batch_mcp.emulator import handlers, routing

    for name in ALL:
        version = versions.get(name)
        assert version is not None
        for key in versions.TABLE["operations"]:
            method, template = key.split(" ", 1)
            if not version.has(method, template):
                continue
            path = template
            for param in ("poolId", "nodeId", "jobId", "taskId", "jobScheduleId", "applicationId", "userName"):
                path = path.replace("{" + param + "}", "x1")
            path = path.replace("{extensionName}", "ext").replace("{filePath}", "dir/file.txt")
            path = path.replace("{thumbprintAlgorithm}", "sha1").replace("{thumbprint}", "abc")
            route, _ = routing.match(name, method, path)
            assert (route.method, route.tool.http.path) == (method, template), (name, key)
            assert route.operation_id in handlers.HANDLERS


async def test_pools_take_structural_updates_from_2024_07_01_while_empty() -> None:
    async with running() as (_, api):
        await make_pool(api, "p", nodes=1)
        new = api.at("2024-07-01.20.0")
        r = await api.call("PATCH", "/pools/p", json={"vmSize": "standard_d4s_v3"})
        assert (r.status_code, r.json()["code"]) == (400, "InvalidRequestBody")  # 2024-02-01.19.0 has no such field
        r = await new.call("PATCH", "/pools/p", json={"vmSize": "standard_d4s_v3"})
        assert (r.status_code, r.json()["code"]) == (409, "PoolNotEmpty")
        assert (await api.post("/pools/p/resize", {"targetDedicatedNodes": 0})).status_code == 202
        await api.wait("/pools/p", lambda p: p["allocationState"] == "steady" and p["currentDedicatedNodes"] == 0)
        await api.wait("/pools/p/nodes", lambda b: not b["value"])
        r = await new.call("PATCH", "/pools/p", json={"vmSize": "standard_d4s_v3", "taskSlotsPerNode": 2})
        assert r.status_code == 200, r.text
        pool = (await new.get("/pools/p")).json()
        assert (pool["vmSize"], pool["taskSlotsPerNode"]) == ("standard_d4s_v3", 2)


async def test_a_patched_vm_size_is_checked_like_a_new_pools() -> None:
    async with running() as (_, api):
        await make_pool(api, "p", nodes=0)
        r = await api.at("2025-06-01").call("PATCH", "/pools/p", json={"vmSize": "standard_no_such_size"})
        assert r.status_code == 400, r.text
        assert (await api.get("/pools/p")).json()["vmSize"] == "standard_d2s_v3"
