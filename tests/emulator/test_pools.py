"""Pool allocation as the service documents it: resizing → steady, stop resize, remove nodes,
the node cap, autoscale (with pending-task metrics), deletion and the account-wide views."""

from __future__ import annotations

import pytest

from tests.emulator.conftest import fast_config, make_pool, ready_pool, running

pytestmark = pytest.mark.anyio


async def test_a_new_pool_resizes_then_settles_with_idle_nodes() -> None:
    async with running(fast_config(transition_delay=0.3)) as (_, api):
        assert (await api.post("/pools", ready_pool("p", nodes=2))).status_code == 201
        pool = (await api.get("/pools/p")).json()
        assert (pool["allocationState"], pool["currentDedicatedNodes"]) == ("resizing", 0)
        pool = await api.wait("/pools/p", lambda p: p["allocationState"] == "steady")
        assert pool["currentDedicatedNodes"] == 2 and pool["allocationStateTransitionTime"] >= pool["creationTime"]
        nodes = (await api.get("/pools/p/nodes")).json()["value"]
        assert {n["state"] for n in nodes} <= {"starting", "idle"}
        await api.wait("/pools/p/nodes", lambda b: {n["state"] for n in b["value"]} == {"idle"})


async def test_resize_down_removes_nodes_and_stop_resize_reports_it() -> None:
    async with running() as (backend, api):
        await make_pool(api, "p", nodes=3)
        assert (await api.post("/pools/p/resize", {"targetDedicatedNodes": 1})).status_code == 202
        await api.wait("/pools/p/nodes", lambda b: len(b["value"]) == 1)
        assert (await api.get("/pools/p")).json()["currentDedicatedNodes"] == 1
        backend.config.transition_delay = 30.0
        assert (await api.post("/pools/p/resize", {"targetDedicatedNodes": 2})).status_code == 202
        r = await api.post("/pools/p/resize", {"targetDedicatedNodes": 2})
        assert r.status_code == 409
        backend.config.transition_delay = 0.3
        assert (await api.post("/pools/p/stopresize")).status_code == 202
        assert (await api.get("/pools/p")).json()["allocationState"] == "stopping"
        pool = await api.wait("/pools/p", lambda p: p["allocationState"] == "steady")
        assert pool["resizeErrors"][0]["code"] == "ResizeStopped"


async def test_remove_nodes_takes_the_named_nodes_out() -> None:
    async with running() as (_, api):
        nodes = await make_pool(api, "p", nodes=2)
        r = await api.post("/pools/p/removenodes", {"nodeList": [nodes[0]["id"]]})
        assert r.status_code == 202
        body = await api.wait("/pools/p/nodes", lambda b: len(b["value"]) == 1)
        assert body["value"][0]["id"] == nodes[1]["id"]
        assert (await api.get("/pools/p")).json()["targetDedicatedNodes"] == 1


async def test_pools_are_capped_and_say_so_in_resize_errors() -> None:
    async with running(fast_config(max_nodes_per_pool=2)) as (_, api):
        await api.post("/pools", ready_pool("p", nodes=5))
        pool = await api.wait("/pools/p", lambda p: p["allocationState"] == "steady")
        assert pool["currentDedicatedNodes"] == 2
        assert pool["resizeErrors"][0]["code"] == "AccountCoreQuotaReached"


async def test_a_deleting_pool_refuses_changes_then_disappears() -> None:
    async with running(fast_config(transition_delay=0.3)) as (_, api):
        await make_pool(api, "p")
        assert (await api.call("DELETE", "/pools/p")).status_code == 202
        assert (await api.get("/pools/p")).json()["state"] == "deleting"
        r = await api.post("/pools/p/resize", {"targetDedicatedNodes": 3})
        assert (r.status_code, r.json()["code"]) == (409, "PoolBeingDeleted")
        await api.wait_gone("/pools/p")
        assert (await api.call("HEAD", "/pools/p")).status_code == 404


async def test_autoscale_follows_its_formula_and_pending_tasks() -> None:
    async with running(fast_config(runner="instant")) as (_, api):
        await make_pool(api, "p", nodes=0)
        bad = await api.post("/pools/p/enableautoscale", {"autoScaleFormula": "$TargetDedicatedNodes = = 1"})
        assert (bad.status_code, bad.json()["code"]) == (400, "AutoScalingFormulaSyntaxError")
        await api.post("/jobs", {"id": "j", "poolInfo": {"poolId": "nowhere"}})
        await api.post("/jobs/j/addtaskcollection", {"value": [{"id": f"t{i}", "commandLine": "x"} for i in range(3)]})
        await api.call("PATCH", "/jobs/j", json={"poolInfo": {"poolId": "p"}})  # refused: the job is active
        await api.post("/jobs/j/disable", {"disableTasks": "wait"})
        await api.wait("/jobs/j", lambda j: j["state"] == "disabled")
        assert (await api.call("PATCH", "/jobs/j", json={"poolInfo": {"poolId": "p"}})).status_code == 200
        formula = "$TargetDedicatedNodes = min(max($PendingTasks.GetSample(1)), 2);"
        r = await api.post(
            "/pools/p/enableautoscale", {"autoScaleFormula": formula, "autoScaleEvaluationInterval": "PT5M"}
        )
        assert r.status_code == 200
        pool = await api.wait(
            "/pools/p", lambda p: p["allocationState"] == "steady" and p["currentDedicatedNodes"] == 2
        )
        assert pool["autoScaleRun"]["results"].startswith("$TargetDedicatedNodes=2")
        r = await api.post("/pools/p/evaluateautoscale", {"autoScaleFormula": "$TargetDedicatedNodes = 7;"})
        assert r.json()["results"].startswith("$TargetDedicatedNodes=7")
        assert (await api.get("/pools/p")).json()["targetDedicatedNodes"] == 2  # evaluation applies nothing
        r = await api.post("/pools/p/evaluateautoscale", {"autoScaleFormula": "$TargetDedicatedNodes = $NoSuchMetric;"})
        assert r.json()["error"]["code"] == "AutoScalingFormulaEvaluationError"
        assert (await api.post("/pools/p/resize", {"targetDedicatedNodes": 1})).status_code == 409
        assert (await api.post("/pools/p/disableautoscale")).status_code == 200
        pool = (await api.get("/pools/p")).json()
        assert pool["enableAutoScale"] is False and "autoScaleFormula" not in pool


async def test_node_counts_usage_metrics_and_images_are_plausible() -> None:
    async with running() as (_, api):
        await make_pool(api, "p", nodes=2)
        counts = (await api.get("/nodecounts")).json()["value"]
        assert counts == [{"poolId": "p", "dedicated": counts[0]["dedicated"], "lowPriority": counts[0]["lowPriority"]}]
        assert counts[0]["dedicated"]["idle"] == 2 and counts[0]["dedicated"]["total"] == 2
        metrics = (await api.get("/poolusagemetrics")).json()["value"]
        assert metrics and metrics[0]["poolId"] == "p" and metrics[0]["totalCoreHours"] >= 0
        images = (await api.get("/supportedimages")).json()["value"]
        assert any(i["nodeAgentSKUId"] == "batch.node.ubuntu 22.04" for i in images)
        stats = (await api.get("/pools/p", params={"$expand": "stats"})).json()["stats"]
        assert stats["usageStats"]["dedicatedCoreTime"].startswith("PT")


async def test_patch_and_update_properties_replace_what_they_should() -> None:
    async with running() as (_, api):
        await make_pool(api, "p", nodes=0, metadata=[{"name": "a", "value": "1"}])
        start = {"commandLine": "/bin/true"}
        assert (await api.call("PATCH", "/pools/p", json={"startTask": start})).status_code == 200
        pool = (await api.get("/pools/p")).json()
        assert pool["startTask"] == start and pool["metadata"] == [{"name": "a", "value": "1"}]
        body = {"certificateReferences": [], "applicationPackageReferences": [], "metadata": []}
        assert (await api.post("/pools/p/updateproperties", body)).status_code == 204
        pool = (await api.get("/pools/p")).json()
        assert "startTask" not in pool and pool["metadata"] == []


async def test_a_negative_node_count_is_refused() -> None:
    async with running() as (_, api):
        await make_pool(api, "p", nodes=1)
        response = await api.post("/pools/p/resize", {"targetDedicatedNodes": -1})
        assert response.status_code == 400 and response.json()["code"] == "InvalidPropertyValue"
        response = await api.post("/pools", {**ready_pool("q", nodes=1), "targetLowPriorityNodes": -2})
        assert response.status_code == 400 and response.json()["code"] == "InvalidPropertyValue"


async def test_user_account_passwords_are_never_read_back() -> None:
    accounts = [{"name": "render", "password": "pw-Secret-1", "elevationLevel": "admin"}]
    async with running(fast_config(runner="instant")) as (_, api):
        assert (await api.post("/pools", ready_pool("p", nodes=0, userAccounts=accounts))).status_code == 201
        spec = ready_pool("x", 0, userAccounts=accounts)
        spec.pop("id")
        auto = {"autoPoolSpecification": {"poolLifetimeOption": "job", "pool": spec}}
        assert (await api.post("/jobs", {"id": "j", "poolInfo": auto})).status_code == 201
        replies = [await api.get("/pools/p"), await api.get("/pools"), await api.get("/jobs/j")]
        for reply in replies:
            assert reply.status_code == 200 and "pw-Secret-1" not in reply.text
        pool = replies[0].json()
        assert pool["userAccounts"] == [{"name": "render", "elevationLevel": "admin"}]
