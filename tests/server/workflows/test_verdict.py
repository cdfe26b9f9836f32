"""The one-line verdicts of task_diagnose, rule by rule."""

from __future__ import annotations

from typing import Any

from batch_mcp.server.workflows.verdict import Facts, verdict


def completed(exit_code: int | None, failure: dict[str, Any] | None = None, **info: Any) -> dict[str, Any]:
    execution = {"exitCode": exit_code, "result": "success" if exit_code == 0 and not failure else "failure", **info}
    if failure:
        execution["failureInfo"] = failure
    return {"id": "t", "state": "completed", "executionInfo": execution}


def test_success() -> None:
    assert verdict(Facts(task=completed(0))) == "Succeeded (exit code 0)."


def test_a_known_exit_code_is_explained_and_the_last_stderr_line_quoted() -> None:
    text = verdict(Facts(task=completed(127), stderr="sh: 1: mytool: not found\n\n"))
    assert "exit code 127" in text and "command not found" in text and "mytool: not found" in text


def test_retries_are_counted() -> None:
    assert "retried 3 time(s)" in verdict(Facts(task=completed(1, retryCount=3)))


def test_a_failure_before_the_command_ran_names_its_code() -> None:
    failure = {"category": "usererror", "code": "BlobNotFound", "message": "The resource file does not exist."}
    text = verdict(Facts(task=completed(None, failure)))
    assert text.startswith("Batch could not run the command: BlobNotFound")


def test_a_service_fault_says_to_reactivate() -> None:
    failure = {"category": "servererror", "code": "InternalError", "message": "oops"}
    assert "reactivate" in verdict(Facts(task=completed(None, failure)))


def test_a_broken_start_task_on_the_node_is_mentioned() -> None:
    node = {"id": "n1", "state": "idle", "startTaskInfo": {"result": "failure", "exitCode": 5}}
    text = verdict(Facts(task=completed(1), node=node, startup_stderr="apt: unable to locate package\n"))
    assert "start task of its node n1 failed" in text and "unable to locate package" in text


def test_running_and_waiting_states() -> None:
    running = {"state": "running", "nodeInfo": {"nodeId": "n1"}, "executionInfo": {"startTime": "T"}}
    assert verdict(Facts(task=running)) == "Running on n1 since T."
    waiting = {"state": "active"}
    pool = {"id": "p", "targetDedicatedNodes": 0}
    assert "pool p has no nodes" in verdict(Facts(task=waiting, job={"state": "active"}, pool=pool))
    resizing = {"id": "p", "targetDedicatedNodes": 2, "allocationState": "resizing"}
    assert "resizing to 2" in verdict(Facts(task=waiting, job={"state": "active"}, pool=resizing))
    broken = verdict(Facts(task=waiting, job={"state": "active"}, pool=pool, pool_nodes={"startTaskFailed": 2}))
    assert "no node of pool p can run tasks" in broken
    assert "startup/stderr.txt" in broken and "file_tail" in broken  # where the reason is, in one more call
    busy = verdict(Facts(task=waiting, job={"state": "active"}, pool=pool, pool_nodes={"running": 2}))
    assert "busy" in busy
    assert "job is disabled" in verdict(Facts(task=waiting, job={"state": "disabled"}))
    assert "depends on" in verdict(Facts(task={"state": "active", "dependsOn": {"taskIds": ["a"]}}))


def test_a_task_batch_ended_leads_with_why_not_with_the_kill_signal() -> None:
    """A task killed for running past its maxWallClockTime exits 137; the verdict must not read
    "out of memory" but name the limit Batch enforced."""
    failure = {
        "category": "usererror",
        "code": "MaxWallClockTimeExceeded",
        "message": "The task ran longer than its maxWallClockTime and was ended.",
    }
    text = verdict(Facts(task=completed(137, failure)))
    assert text.startswith("Batch ended it: MaxWallClockTimeExceeded"), text
    assert "out of memory" not in text
    plain = {"category": "usererror", "code": "FailureExitCode", "message": "The task exited with a failure code."}
    assert verdict(Facts(task=completed(3, plain))).startswith("The command failed with exit code 3")


def test_empty_stderr_and_stdout_are_said_to_be_empty() -> None:
    assert "stderr and stdout are empty" in verdict(Facts(task=completed(2)))
    with_stdout = verdict(Facts(task=completed(2), stdout="loading\ncould not open input.csv\n"))
    assert "stderr is empty; stdout ends with: could not open input.csv" in with_stdout, with_stdout


def test_a_task_whose_job_names_a_missing_pool_says_so() -> None:
    text = verdict(
        Facts(task={"state": "active"}, job={"state": "active", "poolInfo": {"poolId": "gone"}}, pool_missing=True)
    )
    assert "pool gone does not exist" in text, text


async def _deleted_while_waited(tmp_path: Any) -> str:
    import anyio

    from tests.server.conftest import answering, call, connect, make_settings, text

    settings = make_settings(tmp_path, emulator_transition_delay=3)  # the job stays "deleting" a while
    async with connect(settings, "legacy", elicitation=answering(True)) as client:
        assert not (await call(client, "job_add", {"id": "dj", "poolInfo": {"poolId": "local"}})).is_error
        sleeper = {"job_id": "dj", "id": "s", "commandLine": "/bin/sleep 30"}
        assert not (await call(client, "task_add", sleeper)).is_error
        said: list[str] = []

        async def wait() -> None:
            said.append(text(await call(client, "wait_for", {"job_id": "dj", "timeout": 20})))

        async with anyio.create_task_group() as group:
            group.start_soon(wait)
            await anyio.sleep(1)
            assert not (await call(client, "job_delete", {"job_id": "dj"})).is_error
    return said[0]


def test_a_job_deleted_while_waited_on_says_so_not_that_its_tasks_failed(tmp_path: Any) -> None:
    import anyio

    said = anyio.run(_deleted_while_waited, tmp_path)
    first = said.splitlines()[0]
    assert said.startswith("Stopped after") and "deleted" in first and "failed" not in first, said


def test_a_task_whose_dependency_failed_is_blocked_not_waiting() -> None:
    waiting = {"state": "active", "dependsOn": {"taskIds": ["a", "c"]}}
    failed = {"id": "a", "state": "completed", "executionInfo": {"exitCode": 1, "result": "failure"}}
    running = {"id": "c", "state": "running", "executionInfo": {}}
    text = verdict(Facts(task=waiting, dependencies=[failed, running]))
    assert text.startswith("Blocked: it depends on a, which failed (exit code 1)"), text
    assert "task_reactivate" in text
    assert "Waiting for the tasks it depends on" in verdict(Facts(task=waiting, dependencies=[running]))
