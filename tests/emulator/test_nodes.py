"""Node state machines: start tasks, reboot and reimage (with their task options), scheduling
on and off, users and remote login."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.emulator.conftest import V2018, fast_config, make_pool, ready_pool, running

pytestmark = pytest.mark.anyio


async def test_a_start_task_runs_before_the_node_goes_idle_and_its_output_is_readable() -> None:
    async with running() as (_, api):
        start = {"commandLine": "/bin/sh -c 'echo started on $AZ_BATCH_NODE_ID'", "waitForSuccess": True}
        nodes = await make_pool(api, "p", nodes=1, startTask=start)
        node = nodes[0]
        assert node["startTaskInfo"]["result"] == "success" and node["startTaskInfo"]["exitCode"] == 0
        r = await api.get(f"/pools/p/nodes/{node['id']}/files/startup/stdout.txt")
        assert r.text == f"started on {node['id']}\n"


async def test_a_failing_start_task_leaves_the_node_starttaskfailed() -> None:
    async with running() as (_, api):
        start = {"commandLine": "/bin/sh -c 'exit 4'", "waitForSuccess": True, "maxTaskRetryCount": 1}
        await api.post("/pools", ready_pool("p", nodes=1, startTask=start))
        body = await api.wait("/pools/p/nodes", lambda b: b["value"] and b["value"][0]["state"] == "starttaskfailed")
        info = body["value"][0]["startTaskInfo"]
        assert (info["exitCode"], info["retryCount"], info["result"]) == (4, 1, "failure")


async def test_reboot_requeues_a_running_task_and_the_node_comes_back() -> None:
    async with running(fast_config(transition_delay=0.1)) as (_, api):
        nodes = await make_pool(api, "p", nodes=1)
        node = nodes[0]["id"]
        await api.post("/jobs", {"id": "j", "poolInfo": {"poolId": "p"}})
        await api.post("/jobs/j/tasks", {"id": "long", "commandLine": "sleep 60"})
        await api.wait("/jobs/j/tasks/long", lambda t: t["state"] == "running")
        assert (await api.post(f"/pools/p/nodes/{node}/reboot", {"nodeRebootOption": "requeue"})).status_code == 202
        assert (await api.get(f"/pools/p/nodes/{node}")).json()["state"] == "rebooting"
        task = (await api.get("/jobs/j/tasks/long")).json()
        assert task["state"] == "active" and task["executionInfo"]["requeueCount"] == 1
        await api.wait(f"/pools/p/nodes/{node}", lambda n: n["state"] in ("idle", "running"))
        await api.wait("/jobs/j/tasks/long", lambda t: t["state"] == "running")
        assert (await api.post("/jobs/j/tasks/long/terminate")).status_code == 204


async def make_cloud_service_pool(api: Any, pool_id: str, nodes: int = 1) -> list[dict[str, Any]]:
    """A cloud service pool (API versions up to 2024-02-01), the only kind whose nodes reimage."""
    body = {
        "id": pool_id,
        "vmSize": "small",
        "cloudServiceConfiguration": {"osFamily": "5"},
        "targetDedicatedNodes": nodes,
    }
    assert (await api.post("/pools", body)).status_code == 201
    listing = await api.wait(
        f"/pools/{pool_id}/nodes", lambda b: len(b["value"]) == nodes and all(n["state"] == "idle" for n in b["value"])
    )
    return listing["value"]


async def test_reimage_is_refused_for_a_virtual_machine_pool_and_the_node_keeps_its_files() -> None:
    async with running() as (_, api):
        node = (await make_pool(api, "p", nodes=1))[0]["id"]
        await api.post("/jobs", {"id": "j", "poolInfo": {"poolId": "p"}})
        await api.post("/jobs/j/tasks", {"id": "done", "commandLine": "/bin/true"})
        await api.wait("/jobs/j/tasks/done", lambda t: t["state"] == "completed")
        response = await api.post(f"/pools/p/nodes/{node}/reimage", {"nodeReimageOption": "terminate"})
        assert (response.status_code, response.json()["code"]) == (409, "OperationNotValidOnNode")
        assert "cloudServiceConfiguration" in response.json()["values"][0]["value"]
        assert (await api.get(f"/pools/p/nodes/{node}")).json()["state"] == "idle"
        assert (await api.get("/jobs/j/tasks/done/files/stdout.txt")).status_code == 200


async def test_reimage_with_terminate_fails_the_task_and_wipes_the_node() -> None:
    async with running() as (_, api):
        node = (await make_cloud_service_pool(api, "p", nodes=1))[0]["id"]
        await api.post("/jobs", {"id": "j", "poolInfo": {"poolId": "p"}})
        await api.post("/jobs/j/tasks", {"id": "done", "commandLine": "/bin/true"})
        await api.wait("/jobs/j/tasks/done", lambda t: t["state"] == "completed")
        await api.post("/jobs/j/tasks", {"id": "long", "commandLine": "sleep 60"})
        await api.wait("/jobs/j/tasks/long", lambda t: t["state"] == "running")
        assert (await api.post(f"/pools/p/nodes/{node}/reimage", {"nodeReimageOption": "terminate"})).status_code == 202
        task = (await api.get("/jobs/j/tasks/long")).json()
        assert task["state"] == "completed" and task["executionInfo"]["failureInfo"]["code"] == "TaskEnded"
        await api.wait(f"/pools/p/nodes/{node}", lambda n: n["state"] == "idle")
        listing = (await api.get(f"/pools/p/nodes/{node}/files", params={"recursive": "true"})).json()["value"]
        assert not [f for f in listing if f["name"].startswith("workitems/")]


async def test_disabled_scheduling_keeps_tasks_waiting_until_enabled() -> None:
    async with running(fast_config(runner="instant")) as (_, api):
        node = (await make_pool(api, "p", nodes=1))[0]["id"]
        assert (await api.post(f"/pools/p/nodes/{node}/disablescheduling", {})).status_code == 200
        n = (await api.get(f"/pools/p/nodes/{node}")).json()
        assert (n["schedulingState"], n["state"]) == ("disabled", "offline")
        await api.post("/jobs", {"id": "j", "poolInfo": {"poolId": "p"}})
        await api.post("/jobs/j/tasks", {"id": "t", "commandLine": "x"})
        assert (await api.get("/jobs/j/tasks/t")).json()["state"] == "active"
        assert (await api.post(f"/pools/p/nodes/{node}/enablescheduling")).status_code == 200
        await api.wait("/jobs/j/tasks/t", lambda t: t["state"] == "completed")
        n = (await api.get(f"/pools/p/nodes/{node}")).json()
        assert n["totalTasksRun"] == 1 and n["recentTasks"][0]["taskId"] == "t"


async def test_users_and_remote_login() -> None:
    async with running() as (_, api):
        node = (await make_pool(api, "p", nodes=1))[0]["id"]
        base = f"/pools/p/nodes/{node}/users"
        assert (await api.post(base, {"name": "ada", "password": "s3cret-Passw0rd"})).status_code == 201
        assert (await api.post(base, {"name": "ADA", "password": "x"})).json()["code"] == "NodeUserExists"
        assert (await api.call("PUT", f"{base}/ada", json={"password": "n3w-Passw0rd"})).status_code == 200
        assert (await api.call("DELETE", f"{base}/nobody")).json()["code"] == "NodeUserNotFound"
        assert (await api.call("DELETE", f"{base}/ada")).status_code == 200
        login = (await api.get(f"/pools/p/nodes/{node}/remoteloginsettings")).json()
        assert login["remoteLoginIPAddress"] == "127.0.0.1" and login["remoteLoginPort"] > 0
        assert "s3cret" not in (await api.get(f"/pools/p/nodes/{node}")).text


async def test_a_running_task_is_among_its_nodes_recent_tasks() -> None:
    """The service lists a task on its node from its start (taskState running), then completed."""
    async with running() as (_, api):
        node = (await make_pool(api, "p", nodes=1))[0]["id"]
        await api.post("/jobs", {"id": "j", "poolInfo": {"poolId": "p"}})
        await api.post("/jobs/j/tasks", {"id": "t", "commandLine": "sleep 30"})
        await api.wait("/jobs/j/tasks/t", lambda t: t["state"] == "running")
        recent = (await api.get(f"/pools/p/nodes/{node}")).json()["recentTasks"]
        assert [(r["taskId"], r["taskState"]) for r in recent] == [("t", "running")]
        assert (await api.post("/jobs/j/tasks/t/terminate")).status_code == 204
        await api.wait("/jobs/j/tasks/t", lambda t: t["state"] == "completed")
        recent = (await api.get(f"/pools/p/nodes/{node}")).json()["recentTasks"]
        assert [(r["taskId"], r["taskState"]) for r in recent] == [("t", "completed")]


async def test_remote_desktop_only_where_the_service_offers_it() -> None:
    """RDP files are for cloud service nodes; virtual machine nodes have remote login settings, and
    each call answers the other kind of node with the service's 409."""
    async with running() as (_, api):
        v2018 = api.at(V2018)
        [vm_node] = await make_pool(api, "vm", nodes=1)
        refused = await v2018.get(f"/pools/vm/nodes/{vm_node['id']}/rdp")
        assert (refused.status_code, refused.json()["code"]) == (409, "OperationNotValidOnNode")
        classic = {
            "id": "cs",
            "vmSize": "small",
            "cloudServiceConfiguration": {"osFamily": "5"},
            "targetDedicatedNodes": 2,
        }
        assert (await v2018.post("/pools", classic)).status_code == 201
        nodes = await v2018.wait(
            "/pools/cs/nodes", lambda b: len(b["value"]) == 2 and all(n["state"] == "idle" for n in b["value"])
        )
        rdp = [(await v2018.get(f"/pools/cs/nodes/{n['id']}/rdp")).text for n in nodes["value"]]
        assert all(
            text.startswith("full address:s:127.0.0.1\r\nLoadBalanceInfo:s:Cookie: mstshash=TVM#TVM_IN_")
            for text in rdp
        )
        assert len(set(rdp)) == 2  # one cookie per node
        [endpoint] = nodes["value"][0]["endpointConfiguration"]["inboundEndpoints"]
        assert (endpoint["frontendPort"], endpoint["backendPort"]) == (3389, 20000)
        login = await v2018.get(f"/pools/cs/nodes/{nodes['value'][0]['id']}/remoteloginsettings")
        assert (login.status_code, login.json()["code"]) == (409, "OperationNotValidOnNode")


async def test_service_logs_sent_to_a_storage_account_url_land_in_its_root_container(tmp_path: Path) -> None:
    """The service takes an account URL with no container path (its blobs go to the account's root
    container); the emulator takes it too instead of refusing it."""
    async with running(fast_config(data_dir=str(tmp_path))) as (_, api):
        [node] = await make_pool(api, "p")
        body = {"containerUrl": "https://logsaccount.blob.core.windows.net/", "startTime": "2020-01-01T00:00:00Z"}
        response = await api.post(f"/pools/p/nodes/{node['id']}/uploadbatchservicelogs", body)
        assert response.status_code == 200, response.text
        result = response.json()
        folder = tmp_path / "storage" / "logsaccount.blob.core.windows.net" / "$root" / result["virtualDirectoryName"]
        assert (folder / "batch-node.log").is_file()
        assert result["numberOfFilesUploaded"] == 1


async def test_uploading_service_logs_writes_the_files_it_reports(tmp_path: Path) -> None:
    async with running(fast_config(data_dir=str(tmp_path))) as (_, api):
        start_task = {"commandLine": "/bin/sh -c 'echo node is ready'", "waitForSuccess": True}
        [node] = await make_pool(api, "p", startTask=start_task)
        url = "https://store.blob.core.windows.net/logs?sv=2024&sig=c2VjcmV0"
        body = {"containerUrl": url, "startTime": "2020-01-01T00:00:00Z"}
        result = (await api.post(f"/pools/p/nodes/{node['id']}/uploadbatchservicelogs", body)).json()
        folder = tmp_path / "storage" / "store.blob.core.windows.net" / "logs" / result["virtualDirectoryName"]
        written = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
        assert written == ["batch-node.log", "startup/stderr.txt", "startup/stdout.txt"]
        assert result["numberOfFilesUploaded"] == len(written)
        assert (folder / "startup" / "stdout.txt").read_text() == "node is ready\n"
        assert node["id"] in (folder / "batch-node.log").read_text()
        assert not any("c2VjcmV0" in p.read_text() for p in folder.rglob("*") if p.is_file())  # the SAS stays out
        past = {"containerUrl": url, "startTime": "2020-01-01T00:00:00Z", "endTime": "2020-01-02T00:00:00Z"}
        older = (await api.post(f"/pools/p/nodes/{node['id']}/uploadbatchservicelogs", past)).json()
        assert older["numberOfFilesUploaded"] == 1  # outputs written today are outside that range
        bad = await api.post(
            f"/pools/p/nodes/{node['id']}/uploadbatchservicelogs", {**body, "containerUrl": "file:///etc"}
        )
        assert (bad.status_code, bad.json()["code"]) == (400, "InvalidPropertyValue")


@pytest.mark.parametrize("version", ["2024-07-01.20.0", "2025-06-01"])
async def test_from_2024_07_01_a_virtual_machine_node_reimages(version: str) -> None:
    async with running() as (_, api):
        node = (await make_pool(api, "p", nodes=1))[0]["id"]
        newer = api.at(version)
        assert (await newer.post(f"/pools/p/nodes/{node}/reimage", {"nodeReimageOption": "requeue"})).status_code == 202
        assert (await api.get(f"/pools/p/nodes/{node}")).json()["state"] == "reimaging"
        await api.wait(f"/pools/p/nodes/{node}", lambda n: n["state"] == "idle")
