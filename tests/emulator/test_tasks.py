"""Tasks really run: command lines split like the service's (no shell unless asked), the
AZ_BATCH_* environment, exit codes, retries, wall-clock limits, terminate and reactivate,
dependencies, exit conditions, resource files, containers, multi-instance and slots."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from tests.emulator.conftest import Api, make_pool, running, serving

pytestmark = pytest.mark.anyio


async def job_on_pool(api: Api, *, nodes: int = 1, slots: int = 4, deps: bool = False) -> None:
    await make_pool(api, "p", nodes=nodes, slots=slots)
    assert (
        await api.post("/jobs", {"id": "j", "poolInfo": {"poolId": "p"}, "usesTaskDependencies": deps})
    ).status_code == 201


async def run(api: Api, task: dict, state: str = "completed") -> dict:
    assert (await api.post("/jobs/j/tasks", task)).status_code == 201, task
    return await api.wait(f"/jobs/j/tasks/{task['id']}", lambda t: t["state"] == state)


async def stdout(api: Api, task_id: str) -> str:
    return (await api.get(f"/jobs/j/tasks/{task_id}/files/stdout.txt")).text


async def test_the_command_line_is_not_a_shell_unless_it_runs_one() -> None:
    async with running() as (_, api):
        await job_on_pool(api)
        await run(api, {"id": "plain", "commandLine": "echo $AZ_BATCH_TASK_ID 'two words' > x"})
        assert await stdout(api, "plain") == "$AZ_BATCH_TASK_ID two words > x\n"
        await run(api, {"id": "shell", "commandLine": "/bin/sh -c 'echo $AZ_BATCH_TASK_ID in $(basename $PWD)'"})
        assert await stdout(api, "shell") == "shell in wd\n"


async def test_tasks_see_the_batch_environment_and_their_settings() -> None:
    async with running() as (_, api):
        await job_on_pool(api)
        await api.call("PATCH", "/jobs/j", json={"priority": 1})
        task = {"id": "env", "commandLine": "env", "environmentSettings": [{"name": "MY_SETTING", "value": "42"}]}
        done = await run(api, task)
        env = dict(line.split("=", 1) for line in (await stdout(api, "env")).splitlines() if "=" in line)
        assert env["AZ_BATCH_JOB_ID"] == "j" and env["AZ_BATCH_TASK_ID"] == "env" and env["MY_SETTING"] == "42"
        assert env["AZ_BATCH_POOL_ID"] == "p" and env["AZ_BATCH_NODE_ID"] == done["nodeInfo"]["nodeId"]
        assert env["AZ_BATCH_TASK_WORKING_DIR"].endswith("workitems/j/job-1/env/wd")
        assert Path(env["AZ_BATCH_NODE_SHARED_DIR"]).name == "shared"


async def test_exit_codes_missing_programs_and_retries() -> None:
    async with running() as (_, api):
        await job_on_pool(api)
        failed = await run(api, {"id": "three", "commandLine": "/bin/sh -c 'exit 3'"})
        assert (failed["executionInfo"]["exitCode"], failed["executionInfo"]["result"]) == (3, "failure")
        missing = await run(api, {"id": "nope", "commandLine": "no-such-program-xyz --flag"})
        assert missing["executionInfo"]["failureInfo"]["code"] == "CommandProgramNotFound"
        assert "exitCode" not in missing["executionInfo"]
        retried = await run(
            api,
            {
                "id": "retry",
                "commandLine": "/bin/sh -c 'echo run >> ../../count; exit 1'",
                "constraints": {"maxTaskRetryCount": 2},
            },
        )
        assert retried["executionInfo"]["retryCount"] == 2 and retried["executionInfo"]["result"] == "failure"
        assert (await api.get("/jobs/j", params={"$expand": "stats"})).json()["stats"]["numTaskRetries"] == "2"


async def test_wall_clock_limit_kills_the_whole_process_tree(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    async with running() as (_, api):
        await job_on_pool(api)
        task = {
            "id": "slow",
            "commandLine": f"/bin/sh -c 'sleep 60 & echo $! > {marker}; wait'",
            "constraints": {"maxWallClockTime": "PT0.5S"},
        }
        done = await run(api, task)
        info = done["executionInfo"]
        assert info["result"] == "failure" and info["failureInfo"]["code"] == "MaxWallClockTimeExceeded"
        child = int(marker.read_text(encoding="utf-8"))
        await _gone(child)


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def _gone(pid: int) -> None:
    with anyio.fail_after(5):
        while _alive(pid):  # noqa: ASYNC110 - the process is not ours to wait on
            await anyio.sleep(0.02)


async def test_terminate_and_reactivate() -> None:
    async with running() as (_, api):
        await job_on_pool(api)
        await run(api, {"id": "long", "commandLine": "sleep 60"}, state="running")
        assert (await api.post("/jobs/j/tasks/long/terminate")).status_code == 204
        task = (await api.get("/jobs/j/tasks/long")).json()
        assert task["state"] == "completed" and task["executionInfo"]["failureInfo"]["code"] == "TaskEnded"
        assert (await api.post("/jobs/j/tasks/long/terminate")).json()["code"] == "TaskCompleted"
        ok = await run(api, {"id": "ok", "commandLine": "/bin/true"})
        assert ok["executionInfo"]["result"] == "success"
        assert (await api.post("/jobs/j/tasks/ok/reactivate")).status_code == 409
        await run(
            api, {"id": "flaky", "commandLine": "/bin/sh -c 'test -e ../../again || { touch ../../again; exit 1; }'"}
        )
        assert (await api.post("/jobs/j/tasks/flaky/reactivate")).status_code == 204
        again = await api.wait("/jobs/j/tasks/flaky", lambda t: t["state"] == "completed")
        assert again["executionInfo"]["result"] == "success"


async def test_dependencies_by_id_and_range_wait_for_success() -> None:
    async with running() as (_, api):
        await job_on_pool(api, deps=True)
        tasks = [
            {"id": "1", "commandLine": "/bin/sh -c 'sleep 0.2; echo one >> ../../order'"},
            {"id": "2", "commandLine": "/bin/sh -c 'echo two >> ../../order'"},
            {
                "id": "after",
                "commandLine": "/bin/sh -c 'cat ../../order'",
                "dependsOn": {"taskIdRanges": [{"start": 1, "end": 2}]},
            },
            {"id": "fails", "commandLine": "/bin/sh -c 'exit 2'"},
            {"id": "blocked", "commandLine": "/bin/true", "dependsOn": {"taskIds": ["fails"]}},
            {
                "id": "tolerant",
                "commandLine": "/bin/sh -c 'exit 5'",
                "exitConditions": {"exitCodes": [{"code": 5, "exitOptions": {"dependencyAction": "satisfy"}}]},
            },
            {"id": "proceeds", "commandLine": "/bin/true", "dependsOn": {"taskIds": ["tolerant"]}},
        ]
        assert (await api.post("/jobs/j/addtaskcollection", {"value": tasks})).status_code == 200
        await api.wait("/jobs/j/tasks/after", lambda t: t["state"] == "completed")
        lines = (await stdout(api, "after")).split()
        assert sorted(lines) == ["one", "two"]
        await api.wait("/jobs/j/tasks/proceeds", lambda t: t["state"] == "completed")
        assert (await api.get("/jobs/j/tasks/blocked")).json()["state"] == "active"
        r = await api.post("/jobs", {"id": "nodeps", "poolInfo": {"poolId": "p"}})
        assert r.status_code == 201
        r = await api.post("/jobs/nodeps/tasks", {"id": "x", "commandLine": "x", "dependsOn": {"taskIds": ["y"]}})
        assert r.json()["code"] == "TaskDependenciesNotSpecifiedOnJob"


async def test_resource_files_come_from_file_urls_and_loopback_http(tmp_path: Path) -> None:
    source = tmp_path / "input.txt"
    source.write_text("from a file url\n", encoding="utf-8")
    async with serving() as (emu, api):
        await job_on_pool(api)
        await run(api, {"id": "src", "commandLine": "echo served over http"})
        over_http = f"{emu.url}/jobs/j/tasks/src/files/stdout.txt?api-version=2024-02-01.19.0"
        task = {
            "id": "uses",
            "commandLine": "/bin/sh -c 'cat in/a.txt b.txt'",
            "resourceFiles": [
                {"httpUrl": source.as_uri(), "filePath": "in/a.txt"},
                {"httpUrl": over_http, "filePath": "b.txt"},
            ],
        }
        done = await run(api, task)
        assert done["executionInfo"]["result"] == "success"
        assert await stdout(api, "uses") == "from a file url\nserved over http\n"
        far = {
            "id": "far",
            "commandLine": "/bin/true",
            "resourceFiles": [{"httpUrl": "https://example.com/x?sig=SECRET", "filePath": "x"}],
        }
        failed = await run(api, far)
        assert failed["executionInfo"]["failureInfo"]["code"] == "BlobDownloadMiscError"
        assert "SECRET" not in str(failed["executionInfo"]["failureInfo"])


async def test_container_settings_are_accepted_and_reported_as_a_clear_failure() -> None:
    async with running() as (_, api):
        await job_on_pool(api)
        task = {"id": "c", "commandLine": "python app.py", "containerSettings": {"imageName": "python:3.12"}}
        done = await run(api, task)
        failure = done["executionInfo"]["failureInfo"]
        assert failure["code"] == "ContainerNotSupported" and "container" in failure["message"].lower()


async def test_multi_instance_tasks_run_subtasks_on_several_nodes() -> None:
    async with running() as (_, api):
        await job_on_pool(api, nodes=3, slots=1)
        task = {
            "id": "mpi",
            "commandLine": "/bin/sh -c 'echo $AZ_BATCH_HOST_LIST'",
            "multiInstanceSettings": {"numberOfInstances": 3, "coordinationCommandLine": "/bin/true"},
        }
        done = await run(api, task)
        assert done["executionInfo"]["result"] == "success"
        assert await stdout(api, "mpi") == "127.0.0.1,127.0.0.1,127.0.0.1\n"
        subtasks = (await api.get("/jobs/j/tasks/mpi/subtasksinfo")).json()["value"]
        assert [s["id"] for s in subtasks] == [1, 2]
        assert {s["state"] for s in subtasks} == {"completed"}
        assert len({s["nodeInfo"]["nodeId"] for s in subtasks} | {done["nodeInfo"]["nodeId"]}) == 3


async def test_required_slots_limit_how_many_tasks_share_a_node() -> None:
    async with running() as (_, api):
        await job_on_pool(api, nodes=1, slots=4)
        wide = [{"id": f"w{i}", "commandLine": "sleep 60", "requiredSlots": 2} for i in range(3)]
        await api.post("/jobs/j/addtaskcollection", {"value": wide})
        await api.wait("/jobs/j/taskcounts", lambda c: c["taskCounts"]["running"] == 2)
        counts = (await api.get("/jobs/j/taskcounts")).json()
        assert counts["taskSlotCounts"]["running"] == 4 and counts["taskCounts"]["active"] == 1
        node = (await api.get("/pools/p/nodes")).json()["value"][0]
        assert (node["runningTasksCount"], node["runningTaskSlotsCount"], node["state"]) == (2, 4, "running")
        for i in range(3):
            await api.post(f"/jobs/j/tasks/w{i}/terminate")


async def test_task_and_node_files_with_ranges_properties_and_deletes() -> None:
    async with running() as (_, api):
        await job_on_pool(api)
        done = await run(api, {"id": "t", "commandLine": "/bin/sh -c 'printf 0123456789 > data.bin; printf out'"})
        node = done["nodeInfo"]["nodeId"]
        r = await api.get("/jobs/j/tasks/t/files/wd/data.bin", headers={"ocp-range": "bytes=2-5"})
        assert (r.status_code, r.content, r.headers["content-length"]) == (200, b"2345", "4")
        r = await api.call("HEAD", "/jobs/j/tasks/t/files/wd%5Cdata.bin")
        assert r.headers["content-length"] == "10" and r.headers["ocp-batch-file-isdirectory"] == "false"
        assert r.headers["ocp-batch-file-url"].endswith("/jobs/j/tasks/t/files/wd\\data.bin")
        listing = (await api.get("/jobs/j/tasks/t/files", params={"recursive": "true"})).json()["value"]
        assert {f["name"] for f in listing} >= {"stdout.txt", "stderr.txt", "wd", "wd/data.bin"}
        via_node = f"/pools/p/nodes/{node}/files/{done['nodeInfo']['taskRootDirectory']}/stdout.txt"
        assert (await api.get(via_node)).text == "out"
        assert (
            await api.get("/jobs/j/tasks/t/files/wd/data.bin", headers={"ocp-range": "bytes=50-60"})
        ).status_code == 416
        r = await api.call("DELETE", "/jobs/j/tasks/t/files/wd")
        assert r.json()["code"] == "DirectoryNotEmpty"
        assert (await api.call("DELETE", "/jobs/j/tasks/t/files/wd", params={"recursive": "true"})).status_code == 200
        assert (await api.get("/jobs/j/tasks/t/files/wd/data.bin")).json()["code"] == "FileNotFound"
        assert (await api.get("/jobs/j/tasks/t/files/..%2F..%2Fsecret")).status_code == 400


async def test_a_file_whose_name_is_not_ascii_has_properties_and_content() -> None:
    # An HTTP header holds Latin-1 only: the file's URL is sent percent-encoded, not as a 500.
    async with running() as (_, api):
        await job_on_pool(api)
        await run(api, {"id": "t", "commandLine": "/bin/sh -c 'printf x > \u00e9t\u00e9\u202e.txt'"})
        r = await api.call("HEAD", "/jobs/j/tasks/t/files/wd/%C3%A9t%C3%A9%E2%80%AE.txt")
        assert r.status_code == 200 and r.headers["content-length"] == "1"
        assert r.headers["ocp-batch-file-url"].endswith("/files/wd/%C3%A9t%C3%A9%E2%80%AE.txt")
        assert (await api.get("/jobs/j/tasks/t/files/wd/%C3%A9t%C3%A9%E2%80%AE.txt")).content == b"x"
