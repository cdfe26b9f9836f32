"""What an agent reads when a call goes wrong or a reply leaves fields out, through a real MCP client:
each fact once, the way to go on, and no offer the tool cannot honour."""

from __future__ import annotations

import re
from pathlib import Path

import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

from tests.server.conftest import answering, call, connect, make_settings, text, wait_until

pytestmark = pytest.mark.anyio

REQUEST_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def said_once(reply: str) -> None:
    """The request id appears once, and Batch's own 'RequestId:/Time:' trailer not at all."""
    ids = REQUEST_ID.findall(reply)
    assert len(ids) == 1, reply
    assert "RequestId:" not in reply and "\nTime:" not in reply, reply


async def test_a_batch_error_says_its_request_id_once(tmp_path: Path, era: str) -> None:
    """Batch appends 'RequestId:...\\nTime:...' to every error message; the reply already ends with
    the request id, so the model read it twice and a timestamp it has no use for."""
    async with connect(make_settings(tmp_path), era) as client:
        missing = await call(client, "task_get", {"job_id": "nojob", "task_id": "t"})
        assert missing.is_error and "404 JobNotFound" in text(missing)
        assert "The specified job does not exist." in text(missing) and "what to try:" in text(missing)
        said_once(text(missing))
        assert not (await call(client, "job_add", {"id": "j", "poolInfo": {"poolId": "local"}})).is_error
        taken = await call(client, "job_add", {"id": "j", "poolInfo": {"poolId": "local"}})
        assert taken.is_error and "409 JobExists" in text(taken)
        said_once(text(taken))


@pytest.mark.parametrize(
    ("tool", "args", "code", "hint"),
    [
        ("pool_resize", {"pool_id": "nopool", "targetDedicatedNodes": 3}, "404 PoolNotFound", "pool_list"),
        (
            "pool_resize",
            {"pool_id": "nopool", "targetDedicatedNodes": 3, "dry_run": True},
            "404 PoolNotFound",
            "pool_list",
        ),
        ("job_delete", {"job_id": "nojob"}, "404 JobNotFound", "job_list"),
        ("task_terminate", {"job_id": "nojob", "task_id": "t"}, "404 JobNotFound", "job_list"),
    ],
)
async def test_a_missing_target_of_a_guarded_call_reads_like_batchs_own_404(
    tmp_path: Path, era: str, tool: str, args: dict, code: str, hint: str
) -> None:
    """Scale and destructive calls read their target first (for the plan or the question); when it
    is missing, the reply is Batch's 404 as any other call gives it: code, message, what to try,
    the request id once; not an exception's repr with the internal request line."""
    async with connect(make_settings(tmp_path), era) as client:
        result = await call(client, tool, args)
        reply = text(result)
        assert result.is_error, reply
        assert code in reply and f"what to try: Check the {code.split()[1][:-8].lower()} id with {hint}" in reply, reply
        assert "[GET " not in reply and "Nothing was changed." in reply, reply
        said_once(reply)


async def test_replies_offer_select_only_on_tools_that_take_it(tmp_path: Path, era: str) -> None:
    """'select=a,b gets any field' on a tool without a select argument sends the model into an
    argument error; such replies (file lists: only links are left out) carry no note at all."""
    async with connect(make_settings(tmp_path), era) as client:
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert not (await call(client, "job_add", {"id": "j", "poolInfo": {"poolId": "local"}})).is_error
        assert not (await call(client, "task_add", {"job_id": "j", "id": "t", "commandLine": "/bin/true"})).is_error
        await wait_until(client, "task_get", {"job_id": "j", "task_id": "t"}, lambda t: t.get("state") == "completed")
        node = (await call(client, "node_list", {"pool_id": "local"})).structured_content or {}
        node_id = node["items"][0]["id"]
        for tool, args in (
            ("task_file_list", {"job_id": "j", "task_id": "t"}),
            ("node_file_list", {"pool_id": "local", "node_id": node_id, "recursive": True}),
            ("task_get", {"job_id": "j", "task_id": "t"}),
            ("task_list", {"job_id": "j"}),
        ):
            result = await call(client, tool, args)
            assert not result.is_error, text(result)
            takes = "select" in listed[tool].input_schema["properties"]
            if takes:
                assert "Left out:" in text(result) and "select=a,b" in text(result), (tool, text(result))
            else:
                assert "Left out" not in text(result) and "select" not in text(result), (tool, text(result))


async def test_a_misspelt_tool_name_gets_the_name_it_meant(tmp_path: Path, era: str) -> None:
    """A model that writes task_lists learns task_list in the same reply, directly or through the router."""
    async with connect(make_settings(tmp_path, toolsets=["default"]), era) as client:
        with pytest.raises(MCPError, match=r"Unknown tool: task_lists.*task_list\b"):
            await client.call_tool("task_lists", {"job_id": "j"})
        routed = await call(client, "batch_call", {"name": "job_dlete", "arguments": {"job_id": "j"}})
        assert routed.is_error and "job_delete" in text(routed), text(routed)


async def test_task_counts_are_sent_once_when_slot_counts_say_the_same(tmp_path: Path, era: str) -> None:
    """job_get_task_counts, the call a model polls for progress, carried the same five numbers twice
    (taskSlotCounts equal taskCounts whenever every task takes one slot). Slot counts are kept when
    they differ."""
    async with connect(make_settings(tmp_path), era) as client:
        assert not (await call(client, "job_add", {"id": "j", "poolInfo": {"poolId": "local"}})).is_error
        assert not (await call(client, "task_add", {"job_id": "j", "id": "t", "commandLine": "/bin/true"})).is_error
        counts = await call(client, "job_get_task_counts", {"job_id": "j"})
        assert not counts.is_error and "taskCounts" in text(counts)
        assert "taskSlotCounts" not in text(counts) and "taskSlotCounts" not in (counts.structured_content or {})
        wide = {"job_id": "j", "id": "wide", "commandLine": "/bin/true", "requiredSlots": 2}
        assert not (await call(client, "task_add", wide)).is_error
        counts = await call(client, "job_get_task_counts", {"job_id": "j"})
        slots = (counts.structured_content or {}).get("taskSlotCounts") or {}
        tasks = (counts.structured_content or {}).get("taskCounts") or {}
        assert slots and slots != tasks, text(counts)


async def test_a_task_with_dependencies_on_a_job_without_them_says_what_to_do(tmp_path: Path, era: str) -> None:
    """'Fix the arguments named in the details' with no details to read: the way out is a job created
    with usesTaskDependencies (it cannot be turned on later), or no dependsOn."""
    async with connect(make_settings(tmp_path), era) as client:
        assert not (await call(client, "job_add", {"id": "j", "poolInfo": {"poolId": "local"}})).is_error
        task = {"job_id": "j", "id": "b", "commandLine": "/bin/true", "dependsOn": {"taskIds": ["a"]}}
        result = await call(client, "task_add", task)
        assert result.is_error and "TaskDependenciesNotSpecifiedOnJob" in text(result), text(result)
        assert "usesTaskDependencies" in text(result).split("what to try:")[1], text(result)


async def test_a_large_file_read_by_a_tool_says_exactly_which_bytes_it_shows(tmp_path: Path, era: str) -> None:
    """task_file_get on a 1.3 MB stdout said 'bytes 0-262143 ... (more: range=bytes=262144-)' and the
    reply was then cut at 60,000 characters: a model paging on from 262144 skipped 200 KB it never saw
    (and the cut told it to use select, filter or max_results, which file tools do not take). The
    header names the bytes the reply holds, ending at a line end, and the next range continues there."""
    async with connect(make_settings(tmp_path), era) as client:
        assert not (await call(client, "job_add", {"id": "j", "poolInfo": {"poolId": "local"}})).is_error
        task = {"job_id": "j", "id": "seq", "commandLine": "/bin/sh -c 'seq 1 200000'"}
        assert not (await call(client, "task_add", task)).is_error
        await wait_until(client, "task_get", {"job_id": "j", "task_id": "seq"}, lambda t: t.get("state") == "completed")
        whole = "".join(f"{n}\n" for n in range(1, 200_001)).encode()
        start, seen = 0, 0
        for _ in range(3):
            args = {"job_id": "j", "task_id": "seq", "file_path": "stdout.txt"}
            if start:
                args["range"] = f"bytes={start}-"
            reply = text(await call(client, "task_file_get", args))
            header, _, body = reply.partition("\n")
            assert "[cut" not in reply, reply[-200:]
            match = re.match(rf"stdout\.txt: bytes {start}-(\d+) of {len(whole)} \(more: range=bytes=(\d+)-\)$", header)
            assert match, header
            end = int(match.group(1))
            assert int(match.group(2)) == end + 1
            assert body.encode() == whole[start : end + 1], (header, body[-50:])
            assert body.endswith("\n")
            start, seen = end + 1, seen + len(body)
        assert seen > 100_000  # each read still carries a useful amount


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ({}, "Give pool_id"),
        ({"task_id": "t"}, "task_id needs its job_id"),
        ({"pool_id": "local", "job_id": "j"}, "one target, not pool_id with job_id"),
        ({"pool_id": "local", "task_id": "t"}, "one target, not pool_id with task_id"),
    ],
)
async def test_wait_for_says_what_is_wrong_with_the_target_it_was_given(
    tmp_path: Path, era: str, args: dict, says: str
) -> None:
    async with connect(make_settings(tmp_path), era) as client:
        result = await call(client, "wait_for", args)
        assert result.is_error and says in text(result), text(result)


async def test_a_tool_without_arguments_says_so_and_an_unknown_toolset_names_the_real_ones(
    tmp_path: Path, era: str
) -> None:
    async with connect(make_settings(tmp_path, toolsets=["default"]), era) as client:
        result = await call(client, "batch_overview", {"pool": "x"})
        assert result.is_error and "this tool takes no arguments" in text(result), text(result)
        result = await call(client, "batch_tools", {"toolset": "schedules"})
        assert "job_schedules" in text(result) and "certificates" in text(result), text(result)


async def test_a_formula_with_a_syntax_error_gets_the_formula_hint(tmp_path: Path, era: str) -> None:
    """The code Batch gives a formula it cannot parse is AutoScalingFormulaSyntaxError; the reply told
    the model to 'fix the arguments named in the details' instead of where to test a formula."""
    async with connect(make_settings(tmp_path), era) as client:
        result = await call(
            client, "pool_enable_auto_scale", {"pool_id": "local", "autoScaleFormula": "$TargetDedicatedNodes = ;"}
        )
        assert result.is_error and "AutoScalingFormulaSyntaxError" in text(result), text(result)
        assert "pool_evaluate_auto_scale" in text(result).split("what to try:")[1], text(result)


IMAGE = {
    "imageReference": {"publisher": "canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts"},
    "nodeAgentSKUId": "batch.node.ubuntu 22.04",
}


async def test_waiting_on_a_job_whose_pool_has_no_nodes_says_waiting_again_will_not_help(
    tmp_path: Path, era: str
) -> None:
    """A job on a pool with no nodes (and none asked for) never starts a task; 'call wait_for again to
    keep waiting' sent the model round a loop. The timeout names the pool and what to do."""
    async with connect(make_settings(tmp_path), era) as client:
        pool = {"id": "empty", "vmSize": "standard_d2s_v3", "targetDedicatedNodes": 0}
        pool["virtualMachineConfiguration"] = IMAGE
        assert not (await call(client, "pool_add", pool)).is_error
        assert not (await call(client, "job_add", {"id": "j", "poolInfo": {"poolId": "empty"}})).is_error
        assert not (await call(client, "task_add", {"job_id": "j", "id": "t", "commandLine": "/bin/true"})).is_error
        result = await call(client, "wait_for", {"job_id": "j", "timeout": 1})
        reply = text(result)
        assert reply.startswith("Timed out") and "call wait_for again" not in reply, reply
        assert "pool empty has no nodes" in reply and "pool_resize" in reply, reply
        # on a pool with nodes, a job that is merely slow is still worth waiting for
        slow = {"job_id": "j2", "id": "s", "commandLine": "/bin/sleep 5"}
        assert not (await call(client, "job_add", {"id": "j2", "poolInfo": {"poolId": "local"}})).is_error
        assert not (await call(client, "task_add", slow)).is_error
        result = await call(client, "wait_for", {"job_id": "j2", "timeout": 1})
        assert "call wait_for again" in text(result), text(result)


async def test_the_output_of_a_task_that_has_not_run_says_where_to_look(tmp_path: Path, era: str) -> None:
    async with connect(make_settings(tmp_path), era) as client:
        pool = {"id": "empty", "vmSize": "standard_d2s_v3", "targetDedicatedNodes": 0}
        pool["virtualMachineConfiguration"] = IMAGE
        assert not (await call(client, "pool_add", pool)).is_error
        assert not (await call(client, "job_add", {"id": "j", "poolInfo": {"poolId": "empty"}})).is_error
        assert not (await call(client, "task_add", {"job_id": "j", "id": "t", "commandLine": "/bin/true"})).is_error
        result = await call(client, "task_file_get", {"job_id": "j", "task_id": "t", "file_path": "stdout.txt"})
        assert result.is_error and "TaskNotStarted" in text(result), text(result)
        assert "task_diagnose" in text(result).split("what to try:")[1], text(result)


async def test_prompt_arguments_complete_to_the_ids_that_exist(tmp_path: Path, era: str) -> None:
    """The diagnose_job and right_size_pool prompts take a job or pool id; a user picking one in a
    client's prompt menu got no suggestions although the ids are one list call away."""
    import mcp_types as types

    async with connect(make_settings(tmp_path), era) as client:
        for job in ("alpha", "beta", "other"):
            assert not (await call(client, "job_add", {"id": job, "poolInfo": {"poolId": "local"}})).is_error
        jobs = await client.complete(
            types.PromptReference(type="ref/prompt", name="diagnose_job"), {"name": "job_id", "value": "a"}
        )
        assert jobs.completion.values == ["alpha"]
        pools = await client.complete(
            types.PromptReference(type="ref/prompt", name="right_size_pool"), {"name": "pool_id", "value": ""}
        )
        assert pools.completion.values == ["local"]


async def test_a_selected_field_that_comes_back_missing_is_named(tmp_path: Path, era: str) -> None:
    """select=id,executionInfo/exitCode returned bare ids, and select=id,stat just ids: the model
    could not tell a typo or a nested path (select takes top-level fields) from an empty value."""
    async with connect(make_settings(tmp_path), era) as client:
        assert not (await call(client, "job_add", {"id": "j", "poolInfo": {"poolId": "local"}})).is_error
        assert not (await call(client, "task_add", {"job_id": "j", "id": "t", "commandLine": "/bin/true"})).is_error
        await wait_until(client, "task_get", {"job_id": "j", "task_id": "t"}, lambda t: t.get("state") == "completed")
        nested = text(await call(client, "task_list", {"job_id": "j", "select": "id,executionInfo/exitCode"}))
        assert "Not in the reply: executionInfo/exitCode" in nested and "top-level" in nested, nested
        typo = text(await call(client, "task_get", {"job_id": "j", "task_id": "t", "select": "id,stat"}))
        assert "Not in the reply: stat" in typo, typo
        fine = text(await call(client, "task_list", {"job_id": "j", "select": "id,state"}))
        assert "Not in the reply" not in fine, fine


async def test_waiting_on_a_job_whose_nodes_cannot_run_tasks_points_to_the_start_task_log(
    tmp_path: Path, era: str
) -> None:
    """Every node of the pool failed its start task: the job's tasks never start, and 'call wait_for
    again' was no help. The timeout says so and names a node whose startup/stderr.txt tells why."""
    async with connect(make_settings(tmp_path), era) as client:
        pool = {"id": "broken", "vmSize": "standard_d2s_v3", "targetDedicatedNodes": 1}
        pool["virtualMachineConfiguration"] = IMAGE
        pool["startTask"] = {"commandLine": "/bin/sh -c 'echo boom >&2; exit 3'", "waitForSuccess": True}
        assert not (await call(client, "pool_add", pool)).is_error
        steady = text(await call(client, "wait_for", {"pool_id": "broken", "timeout": 30}))
        assert steady.startswith("Stopped") and "startup/stderr.txt" in steady, steady
        assert not (await call(client, "job_add", {"id": "j", "poolInfo": {"poolId": "broken"}})).is_error
        assert not (await call(client, "task_add", {"job_id": "j", "id": "t", "commandLine": "/bin/true"})).is_error
        reply = text(await call(client, "wait_for", {"job_id": "j", "timeout": 1}))
        assert reply.startswith("Timed out") and "call wait_for again" not in reply, reply
        assert "no node of pool broken can run tasks" in reply and "startup/stderr.txt" in reply, reply
        node = re.search(r"node_id=([^,\s)]+)", reply)
        assert node, reply
        tail = await call(
            client, "file_tail", {"pool_id": "broken", "node_id": node.group(1), "file_path": "startup/stderr.txt"}
        )
        assert "boom" in text(tail), text(tail)


async def test_a_bad_value_is_told_once_per_field_in_json(tmp_path: Path, era: str) -> None:
    """'' for an id broke two rules and got two lines for one field; null, true and objects were
    shown as Python (None, True, {'A': '1'}) to a model that writes JSON."""
    async with connect(make_settings(tmp_path), era) as client:
        empty = text(await call(client, "task_get", {"job_id": "", "task_id": "t"}))
        assert empty.count("$.job_id") == 1 and "expected an id of 1 to 64" in empty, empty
        null = text(await call(client, "task_get", {"job_id": None, "task_id": "t"}))
        assert "got null" in null, null
        env = {"job_id": "j", "id": "t", "commandLine": "x", "environmentSettings": {"A": "1"}}
        shown = text(await call(client, "task_add", env))
        assert 'got {"A":"1"}' in shown, shown
        flag = text(await call(client, "pool_resize", {"pool_id": "local", "targetDedicatedNodes": True}))
        assert "got true" in flag, flag


async def test_removing_nodes_a_pool_does_not_have_asks_nobody(tmp_path: Path, era: str) -> None:
    """pool_remove_nodes with a node id the pool does not have asked the user '1 -> 1 node(s) ...
    Continue?' and then failed with 404: a question for a call that cannot succeed. The plan already
    knows (it lists the pool's nodes): refused at once, naming the ids. A real node still asks."""
    questions: list[str] = []

    async def confirm(context: object, params: types.ElicitRequestParams) -> types.ElicitResult:
        questions.append(params.message)
        return types.ElicitResult(action="decline")

    async with connect(make_settings(tmp_path), era, elicitation=confirm) as client:
        for dry_run in (True, False):
            args = {"pool_id": "local", "nodeList": ["nonode"], "dry_run": dry_run}
            result = await call(client, "pool_remove_nodes", args)
            assert result.is_error and "nonode" in text(result) and "node_list" in text(result), text(result)
        assert questions == []
        node = ((await call(client, "node_list", {"pool_id": "local"})).structured_content or {})["items"][0]["id"]
        result = await call(client, "pool_remove_nodes", {"pool_id": "local", "nodeList": [node]})
        assert len(questions) == 1 and "declined" in text(result), text(result)


async def test_task_diagnose_says_batchs_failure_message_once(tmp_path: Path, era: str) -> None:
    """The verdict quotes the failure ('Batch could not run the command: CommandProgramNotFound: The
    program ... was not found.') and the task line under it repeated the same message. The text says
    it once; structuredContent keeps failureInfo whole."""
    async with connect(make_settings(tmp_path), era) as client:
        assert not (await call(client, "job_add", {"id": "j", "poolInfo": {"poolId": "local"}})).is_error
        missing = {"job_id": "j", "id": "t", "commandLine": "no-such-program-here --flag"}
        assert not (await call(client, "task_add", missing)).is_error
        await wait_until(client, "task_get", {"job_id": "j", "task_id": "t"}, lambda t: t.get("state") == "completed")
        result = await call(client, "task_diagnose", {"job_id": "j", "task_id": "t"})
        reply = text(result)
        message = ((result.structured_content or {})["task"]["failureInfo"])["message"]
        assert message and reply.count(message) == 1 and "CommandProgramNotFound" in reply, reply


async def test_a_list_too_long_for_one_reply_is_cut_between_items_and_says_how_many_fit(
    tmp_path: Path, era: str
) -> None:
    """task_list with max_results=1000 on a big job was cut at 60,000 characters mid-item, taking
    the continuation line with it; the cut told the model to narrow the call but not by how much.
    The reply ends on a whole item and names the max_results that fits (paging on from a cut page
    would skip the items not shown, so no continuation is offered)."""
    async with connect(make_settings(tmp_path), era) as client:
        assert not (await call(client, "job_add", {"id": "j", "poolInfo": {"poolId": "local"}})).is_error
        template = {
            "id": "a-task-id-as-long-as-batch-allows-it-to-be-for-this-test-{value:06d}",
            "commandLine": "/bin/true",
        }
        submitted = await call(client, "tasks_submit", {"job_id": "j", "template": template, "range": [1, 1200]})
        assert not submitted.is_error, text(submitted)
        reply = text(await call(client, "task_list", {"job_id": "j", "max_results": 1000}))
        shown = [line for line in reply.splitlines() if line.startswith('{"id":')]
        assert all(line.endswith("}") for line in shown), reply[-300:]
        fits = re.search(r"max_results=(\d+)", reply.splitlines()[-1])
        assert fits and int(fits.group(1)) == len(shown) < 1000, reply.splitlines()[-1]
        assert "continuation=" not in reply


async def test_a_destructive_call_through_batch_call_asks_the_user_in_both_eras(tmp_path: Path, era: str) -> None:
    """In the 2026-07-28 era the question travels as an InputRequiredResult, raised from inside the
    routed call: batch_call caught it as a fault of its own ('failed inside batch-mcp (NeedsInput)'),
    so no hidden destructive tool (pool_stop_resize, file and schedule deletes) could run at all."""
    from tests.server.conftest import answering

    asker = answering(True)
    async with connect(make_settings(tmp_path, toolsets=["default"]), era, elicitation=asker) as client:
        assert not (await call(client, "job_add", {"id": "j", "poolInfo": {"poolId": "local"}})).is_error
        assert not (await call(client, "task_add", {"job_id": "j", "id": "t", "commandLine": "/bin/true"})).is_error
        await wait_until(client, "task_get", {"job_id": "j", "task_id": "t"}, lambda t: t.get("state") == "completed")
        target = {"job_id": "j", "task_id": "t", "file_path": "stdout.txt"}
        result = await call(client, "batch_call", {"name": "task_file_delete", "arguments": target})
        assert not result.is_error and "failed inside" not in text(result), text(result)
        assert len(asker.questions) == 1 and "stdout.txt" in asker.questions[0], asker.questions
        gone = await call(client, "task_file_get", target)
        assert gone.is_error and "FileNotFound" in text(gone), text(gone)


async def test_stopping_a_resize_that_is_already_stopping_asks_nothing(tmp_path: Path, era: str) -> None:
    """A second pool_stop_resize while the first is still stopping asked 'Stop resizing pool p?' again,
    then Batch answered 409 PoolNotResizing."""
    from tests.server.conftest import answering

    asker = answering(True)
    settings = make_settings(tmp_path, emulator_transition_delay=2)
    async with connect(settings, era, elicitation=asker) as client:
        pool = {"id": "p", "vmSize": "standard_d2s_v3", "targetDedicatedNodes": 4}
        pool["virtualMachineConfiguration"] = IMAGE
        assert not (await call(client, "pool_add", pool)).is_error
        assert not (await call(client, "pool_stop_resize", {"pool_id": "p"})).is_error
        state = (await call(client, "pool_get", {"pool_id": "p", "select": "allocationState"})).structured_content
        assert (state or {}).get("allocationState") == "stopping", state
        again = await call(client, "pool_stop_resize", {"pool_id": "p"})
        assert again.is_error and "nothing to do" in text(again), text(again)
        assert len(asker.questions) == 1, asker.questions


async def test_an_add_collection_reply_keeps_what_each_task_got_not_its_bookkeeping(tmp_path: Path, era: str) -> None:
    """task_add_collection (through batch_call) answered each task's eTag, lastModified and URL, which a
    model cannot use; each task's status and id (and error) are what it decides on."""
    async with connect(make_settings(tmp_path, toolsets=["default"]), era) as client:
        assert not (await call(client, "job_add", {"id": "j", "poolInfo": {"poolId": "local"}})).is_error
        tasks = {"job_id": "j", "value": [{"id": "a", "commandLine": "/bin/true"}]}
        result = await call(client, "batch_call", {"name": "task_add_collection", "arguments": tasks})
        reply = text(result)
        assert '"status":"success"' in reply and '"taskId":"a"' in reply, reply
        assert "eTag" not in reply and "lastModified" not in reply and "http" not in reply, reply


async def test_task_diagnose_shows_the_line_its_verdict_quotes_once(tmp_path: Path, era: str) -> None:
    """The verdict quotes the last line of stderr ('Its stderr ends with: fatal: disk full.') and the
    stderr tail under it showed that line again; a one-line stderr was sent twice whole. The tail now
    stops before the quoted line and says so; structuredContent keeps the tail whole."""
    async with connect(make_settings(tmp_path), era) as client:
        assert not (await call(client, "job_add", {"id": "j", "poolInfo": {"poolId": "local"}})).is_error
        commands = {
            "one": "/bin/sh -c 'echo starting; echo ValueError: bad input >&2; exit 3'",
            "many": "/bin/sh -c 'echo warn 1 >&2; echo warn 2 >&2; echo fatal: disk full >&2; exit 1'",
        }
        for task_id, command in commands.items():
            assert not (await call(client, "task_add", {"job_id": "j", "id": task_id, "commandLine": command})).is_error
        for task_id, last in (("one", "ValueError: bad input"), ("many", "fatal: disk full")):
            await wait_until(
                client, "task_get", {"job_id": "j", "task_id": task_id}, lambda t: t.get("state") == "completed"
            )
            result = await call(client, "task_diagnose", {"job_id": "j", "task_id": task_id})
            reply = "\n".join(line for line in text(result).splitlines() if not line.startswith("{"))  # not the task
            assert f"Its stderr ends with: {last}." in reply and reply.count(last) == 1, reply
            assert (result.structured_content or {})["tails"]["stderr.txt"]["text"].rstrip().endswith(last)
        result = await call(client, "task_diagnose", {"job_id": "j", "task_id": "one"})
        assert "--- stderr.txt (22 bytes): quoted above ---" in text(result), text(result)
        assert "starting" in text(result)  # stdout's last line is not quoted (stderr has text): shown whole
        many = text(await call(client, "task_diagnose", {"job_id": "j", "task_id": "many"}))
        assert "(all 3 lines, 31 bytes; the last one is quoted above) ---\nwarn 1\nwarn 2\n---" in many, many


async def test_an_empty_output_is_called_empty_once(tmp_path: Path, era: str) -> None:
    """task_file_get of an empty stdout.txt answered 'stdout.txt: bytes 0--1 of 0' and a blank line;
    task_diagnose said 'Its stderr and stdout are empty.' and then '--- stderr.txt: empty ---' and
    '--- stdout.txt: empty ---' under it."""
    async with connect(make_settings(tmp_path), era) as client:
        assert not (await call(client, "job_add", {"id": "j", "poolInfo": {"poolId": "local"}})).is_error
        add = {"job_id": "j", "id": "t", "commandLine": "/bin/sh -c 'exit 4'"}
        assert not (await call(client, "task_add", add)).is_error
        await wait_until(client, "task_get", {"job_id": "j", "task_id": "t"}, lambda t: t.get("state") == "completed")
        empty = await call(client, "task_file_get", {"job_id": "j", "task_id": "t", "file_path": "stdout.txt"})
        assert not empty.is_error and text(empty) == "stdout.txt: empty (0 bytes).", text(empty)
        reply = text(await call(client, "task_diagnose", {"job_id": "j", "task_id": "t"}))
        assert "Its stderr and stdout are empty." in reply and reply.count("empty") == 1, reply


async def test_deleting_a_job_without_tasks_asks_without_counting_zeros(tmp_path: Path, era: str) -> None:
    """The question read 'Delete job j and all its 0 task(s) (0 running, 0 waiting) together with
    their output files on the nodes?': three zeros and files that do not exist."""
    asker = answering(True)
    async with connect(make_settings(tmp_path), era, elicitation=asker) as client:
        assert not (await call(client, "job_add", {"id": "j", "poolInfo": {"poolId": "local"}})).is_error
        assert not (await call(client, "job_delete", {"job_id": "j"})).is_error
        assert asker.questions == ["Delete job j? It has no tasks. This cannot be undone."]


async def test_wait_for_names_failed_tasks_once(tmp_path: Path, era: str) -> None:
    """'Stopped ...: 30 of 30 task(s) failed: t1 (exit 1), ..., t10 (exit 10).' was followed by the
    same ten tasks as JSON, each with state 'completed' and result 'failure' again (1,295 bytes for
    277). The text names them once; structuredContent keeps the list with its times."""
    async with connect(make_settings(tmp_path), era) as client:
        assert not (await call(client, "job_add", {"id": "w", "poolInfo": {"poolId": "local"}})).is_error
        template = {"id": "t{value}", "commandLine": "/bin/sh -c 'exit {value}'"}
        submitted = await call(client, "tasks_submit", {"job_id": "w", "template": template, "range": [1, 12]})
        assert not submitted.is_error, text(submitted)
        result = await call(client, "wait_for", {"job_id": "w", "timeout": 60})
        reply = text(result)
        assert "12 of 12 task(s) failed: t1 (exit 1), t2 (exit 2)" in reply, reply
        assert reply.count("t2") == 1 and "failedTasks" not in reply, reply
        failed = (result.structured_content or {})["state"]["failedTasks"]
        assert len(failed) == 10 and all(t["at"] for t in failed), failed


async def test_shrinking_a_pool_to_no_nodes_does_not_promise_another_node(tmp_path: Path, era: str) -> None:
    """Resizing to 0 with tasks running asked: '2 running task(s) would be requeued: stopped now and
    run again from the start on another node'; there is no other node. The question says they wait
    until the pool grows. Terminating the job no longer counts '0 waiting task(s)'."""
    asker = answering(False)
    async with connect(make_settings(tmp_path), era, elicitation=asker) as client:
        assert not (await call(client, "job_add", {"id": "j", "poolInfo": {"poolId": "local"}})).is_error
        for task_id in ("a", "b"):
            add = {"job_id": "j", "id": task_id, "commandLine": "sleep 30"}
            assert not (await call(client, "task_add", add)).is_error
            await wait_until(
                client, "task_get", {"job_id": "j", "task_id": task_id}, lambda t: t.get("state") == "running"
            )
        result = await call(client, "pool_resize", {"pool_id": "local", "targetDedicatedNodes": 0})
        assert "declined" in text(result), text(result)
        [question] = asker.questions
        assert "1 -> 0 node(s). 2 running task(s) would be requeued" in question, question
        assert "another node" not in question and "they wait until it grows" in question, question
        assert "declined" in text(await call(client, "job_terminate", {"job_id": "j"}))
        assert asker.questions[-1].startswith("Terminate job j? 2 running task(s) are killed. The job"), asker.questions
