"""`--max-nodes N` holds on every route, checked against what the emulator actually allocates.

The attacker wants more nodes than the operator allows (cloud spend): a formula instead of a fixed
size, a formula using the legacy alias or spot nodes, an auto pool inside a job or a job schedule,
the `batch_call` router, a resize that leaves one count out, re-enabling autoscale on a pool whose
formula was set elsewhere, a formula that stops before the bound or swallows it in a comment. No
pool may ever target or allocate more than N, and nothing is sent first and undone afterwards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mcp
import pytest

from tests.server.conftest import call, connect, make_settings, text, wait_until

pytestmark = pytest.mark.anyio

N = 2
VM = "standard_d2s_v3"
IMAGE = {
    "imageReference": {"publisher": "canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts"},
    "nodeAgentSKUId": "batch.node.ubuntu 22.04",
}
GREEDY = [
    "$TargetDedicatedNodes = 6;",
    "$TargetDedicated = 6",  # the legacy alias, no final semicolon
    "$TargetDedicatedNodes = 1; $TargetLowPriorityNodes = 5;",
    "$TargetLowPriorityNodes = 6; // a comment at the end",
    "$x = 6; /* several statements */ $TargetDedicatedNodes = $x;\n",
]


def autoscale_pool(pool_id: str, formula: str) -> dict[str, Any]:
    return {
        "id": pool_id,
        "vmSize": VM,
        "virtualMachineConfiguration": IMAGE,
        "enableAutoScale": True,
        "autoScaleFormula": formula,
        "autoScaleEvaluationInterval": "PT5M",
    }


def total(pool: dict[str, Any], kind: str) -> int:
    return int(pool.get(f"{kind}DedicatedNodes") or 0) + int(pool.get(f"{kind}LowPriorityNodes") or 0)


async def settled(client: mcp.Client, pool_id: str) -> dict[str, Any]:
    """The pool once it has evaluated its formula and finished allocating."""
    return await wait_until(
        client,
        "pool_get",
        {"pool_id": pool_id},
        lambda p: (
            p.get("allocationState") == "steady"
            and (not p.get("enableAutoScale") or p.get("autoScaleRun") is not None)
            and total(p, "current") == total(p, "target")
        ),
    )


async def assert_bounded(client: mcp.Client, pool_id: str) -> dict[str, Any]:
    pool = await settled(client, pool_id)
    assert total(pool, "target") <= N, pool
    assert total(pool, "current") <= N, pool
    return pool


@pytest.mark.parametrize("formula", GREEDY)
async def test_a_pool_created_with_a_greedy_formula_never_exceeds_the_cap(tmp_path: Path, formula: str) -> None:
    async with connect(make_settings(tmp_path, max_nodes=N), "legacy") as client:
        result = await call(client, "pool_add", autoscale_pool("big", formula))
        assert not result.is_error, text(result)
        assert "--max-nodes" in text(result)  # the result says the formula was bounded
        pool = await assert_bounded(client, "big")
    assert "batch-mcp --max-nodes 2" in pool["autoScaleFormula"]


async def test_auto_pools_of_jobs_and_schedules_are_bounded(tmp_path: Path) -> None:
    spec = {
        "poolLifetimeOption": "job",
        "pool": {
            "vmSize": VM,
            "virtualMachineConfiguration": IMAGE,
            "enableAutoScale": True,
            "autoScaleFormula": "$TargetDedicatedNodes = 6;",
        },
    }
    async with connect(make_settings(tmp_path, max_nodes=N), "legacy") as client:
        job = await call(client, "job_add", {"id": "j1", "poolInfo": {"autoPoolSpecification": spec}})
        assert not job.is_error, text(job)
        schedule = await call(
            client,
            "job_schedule_add",
            {"id": "s1", "schedule": {}, "jobSpecification": {"poolInfo": {"autoPoolSpecification": spec}}},
        )
        assert not schedule.is_error, text(schedule)
        pools = await wait_until(client, "pool_list", {}, lambda data: len(data["items"]) >= 3)
        for pool in pools["items"]:
            await assert_bounded(client, pool["id"])


async def test_updates_of_jobs_and_schedules_send_only_bounded_formulas(tmp_path: Path) -> None:
    spec = {
        "poolLifetimeOption": "job",
        "pool": {
            "vmSize": VM,
            "virtualMachineConfiguration": IMAGE,
            "enableAutoScale": True,
            "autoScaleFormula": "$TargetDedicatedNodes = 6;",
        },
    }
    async with connect(make_settings(tmp_path, max_nodes=N), "legacy") as client:
        await call(
            client,
            "job_schedule_add",
            {
                "id": "s1",
                "schedule": {"recurrenceInterval": "P1D"},
                "jobSpecification": {"poolInfo": {"poolId": "local"}},
            },
        )
        for tool in ("job_schedule_update", "job_schedule_replace"):
            result = await call(
                client,
                tool,
                {
                    "job_schedule_id": "s1",
                    "schedule": {"recurrenceInterval": "P1D"},
                    "jobSpecification": {"poolInfo": {"autoPoolSpecification": spec}},
                },
            )
            assert not result.is_error, text(result)
            stored = (await call(client, "job_schedule_get", {"job_schedule_id": "s1"})).structured_content
            formula = stored["jobSpecification"]["poolInfo"]["autoPoolSpecification"]["pool"]["autoScaleFormula"]
            assert "min($TargetDedicatedNodes, 2)" in formula


async def test_the_router_is_no_way_around_the_cap(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, max_nodes=N, toolsets=["default"], tools=[])
    async with connect(settings, "legacy") as client:
        fixed = await call(
            client,
            "batch_call",
            {
                "name": "pool_add",
                "arguments": {"id": "f", "vmSize": VM, "virtualMachineConfiguration": IMAGE, "targetDedicatedNodes": 5},
            },
        )
        assert fixed.is_error and "--max-nodes" in text(fixed)
        greedy = await call(
            client, "batch_call", {"name": "pool_add", "arguments": autoscale_pool("r", "$TargetDedicatedNodes = 6;")}
        )
        assert not greedy.is_error, text(greedy)
        await assert_bounded(client, "r")


async def test_enabling_autoscale_is_bounded_before_it_is_sent(tmp_path: Path) -> None:
    async with connect(make_settings(tmp_path, max_nodes=N), "legacy") as client:
        await call(
            client,
            "pool_add",
            {"id": "p", "vmSize": VM, "virtualMachineConfiguration": IMAGE, "targetDedicatedNodes": 1},
        )
        await settled(client, "p")
        plan = await call(
            client,
            "pool_enable_auto_scale",
            {"pool_id": "p", "autoScaleFormula": "$TargetDedicatedNodes = 6;", "dry_run": True},
        )
        assert "batch-mcp --max-nodes 2" in text(plan)  # the plan shows the formula as it will be sent
        result = await call(
            client, "pool_enable_auto_scale", {"pool_id": "p", "autoScaleFormula": "$TargetDedicatedNodes = 6;"}
        )
        assert not result.is_error, text(result)
        # Right after the call, the pool's evaluated target is already within the cap: nothing to undo.
        right_after = (await call(client, "pool_get", {"pool_id": "p"})).structured_content
        assert total(right_after, "target") <= N, right_after
        await assert_bounded(client, "p")


async def test_re_enabling_autoscale_bounds_a_formula_set_elsewhere(tmp_path: Path) -> None:
    data = tmp_path / "state"
    async with connect(make_settings(tmp_path, emulator_data_dir=data), "legacy") as client:  # no cap here
        await call(client, "pool_add", autoscale_pool("elsewhere", "$TargetDedicatedNodes = 5;"))
        await settled(client, "elsewhere")
    async with connect(make_settings(tmp_path, emulator_data_dir=data, max_nodes=N), "legacy") as client:
        result = await call(
            client, "pool_enable_auto_scale", {"pool_id": "elsewhere", "autoScaleEvaluationInterval": "PT10M"}
        )
        assert not result.is_error, text(result)
        await assert_bounded(client, "elsewhere")


@pytest.mark.parametrize(
    "formula",
    [
        "$TargetDedicatedNodes = 6; stop();",
        "$TargetDedicatedNodes = $PendingTasks.GetSample(1) > 0 ? 6 : stop();",
        "$TargetDedicatedNodes = 6; /* the bound would land inside this comment",
        '$TargetDedicatedNodes = 6; $s = "never closed',
    ],
)
async def test_formulas_that_could_skip_the_bound_are_refused(tmp_path: Path, formula: str) -> None:
    async with connect(make_settings(tmp_path, max_nodes=N), "legacy") as client:
        result = await call(client, "pool_add", autoscale_pool("x", formula))
        missing = await call(client, "pool_get", {"pool_id": "x"})
    assert result.is_error and "--max-nodes" in text(result)
    assert missing.is_error


async def test_fixed_sizes_over_the_cap_are_refused_wherever_they_sit(tmp_path: Path) -> None:
    big = {"vmSize": VM, "virtualMachineConfiguration": IMAGE, "targetDedicatedNodes": 1, "targetLowPriorityNodes": 2}
    auto_pool = {"autoPoolSpecification": {"poolLifetimeOption": "job", "pool": big}}
    async with connect(make_settings(tmp_path, max_nodes=N), "legacy") as client:
        for tool, args in [
            ("pool_add", {"id": "p", **big}),
            ("job_add", {"id": "j", "poolInfo": auto_pool}),
            ("job_schedule_add", {"id": "s", "schedule": {}, "jobSpecification": {"poolInfo": auto_pool}}),
        ]:
            result = await call(client, tool, args)
            assert result.is_error and "3 nodes" in text(result), (tool, text(result))
        pools = (await call(client, "pool_list", {})).structured_content["items"]
        assert [p["id"] for p in pools] == ["local"]

        # A resize that leaves one count out keeps that count's current target: 2 + 2 is over the cap.
        await call(
            client,
            "pool_add",
            {"id": "p", "vmSize": VM, "virtualMachineConfiguration": IMAGE, "targetDedicatedNodes": 2},
        )
        await settled(client, "p")
        result = await call(client, "pool_resize", {"pool_id": "p", "targetLowPriorityNodes": 2})
        assert result.is_error and "--max-nodes" in text(result)
        await assert_bounded(client, "p")


async def test_the_2018_catalog_is_bounded_the_same_way(tmp_path: Path) -> None:
    spec = {
        "poolLifetimeOption": "job",
        "pool": {
            "vmSize": VM,
            "virtualMachineConfiguration": IMAGE,
            "enableAutoScale": True,
            "autoScaleFormula": "$TargetLowPriorityNodes = 6;",
        },
    }
    settings = make_settings(tmp_path, max_nodes=N, api_version="2018-08-01.7.0")
    async with connect(settings, "legacy") as client:
        pool = await call(client, "pool_add", autoscale_pool("old", "$TargetDedicated = 6;"))
        assert not pool.is_error, text(pool)
        job = await call(client, "job_add", {"id": "j", "poolInfo": {"autoPoolSpecification": spec}})
        assert not job.is_error, text(job)
        pools = await wait_until(client, "pool_list", {}, lambda data: len(data["items"]) >= 3)
        for found in pools["items"]:
            await assert_bounded(client, found["id"])


@pytest.mark.parametrize("era", ["legacy", "2026-07-28"])
async def test_a_size_written_as_a_decimal_number_counts_the_same(tmp_path: Path, era: str) -> None:
    # JSON Schema's "integer" takes 5.0 and 5e0, and Batch reads them as 5: they are 5 nodes to the cap too.
    auto_pool = {
        "autoPoolSpecification": {"poolLifetimeOption": "job", "pool": {"vmSize": VM, "targetDedicatedNodes": 5.0}}
    }
    settings = make_settings(tmp_path, max_nodes=N, toolsets=["default"], tools=[])
    async with connect(settings, era) as client:
        for tool, args in [
            ("pool_add", {"id": "p", "vmSize": VM, "virtualMachineConfiguration": IMAGE, "targetDedicatedNodes": 5.0}),
            (
                "pool_add",
                {"id": "q", "vmSize": VM, "virtualMachineConfiguration": IMAGE, "targetLowPriorityNodes": 5e0},
            ),
            ("job_add", {"id": "j", "poolInfo": auto_pool}),
        ]:
            result = await call(client, "batch_call", {"name": tool, "arguments": args})
            assert result.is_error and "5 nodes" in text(result), (tool, text(result))
        await call(client, "pool_add", {"id": "r", "vmSize": VM, "virtualMachineConfiguration": IMAGE})
        await settled(client, "r")
        resized = await call(
            client, "pool_resize", {"pool_id": "r", "targetDedicatedNodes": 1.0, "targetLowPriorityNodes": 4.0}
        )
        assert resized.is_error and "--max-nodes" in text(resized)
        routed = await call(
            client, "batch_call", {"name": "pool_resize", "arguments": {"pool_id": "r", "targetDedicatedNodes": 6.0}}
        )
        assert routed.is_error and "--max-nodes" in text(routed)
        pools = (await call(client, "pool_list", {})).structured_content["items"]
        assert sorted(p["id"] for p in pools) == ["local", "r"]
        await assert_bounded(client, "r")
