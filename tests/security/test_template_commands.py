"""A fan-out template must not hide what it runs from the user who is asked.

`tasks_submit` fills a template's `{placeholders}` from `values` or from the `lines` of a Batch
file. Under the `confirm` execution policy the question showed the template (`$ {value}`), so a
prompt-injected model could have the user approve `{value}` while the values (or a file on a node)
held any command. The question must show the command lines that will run, filled in, and exactly
those must be what runs, even if the file changes after the question."""

from __future__ import annotations

from pathlib import Path

import mcp_types as types
import pytest

from tests.server.conftest import answering, call, connect, make_settings, text

pytestmark = pytest.mark.anyio

EVIL = "/bin/sh -c 'echo owned > $HOME/owned'"
LOCAL = {"poolId": "local"}


def _list_file(state: Path) -> Path:
    """shared/list.txt of the first node of pool local, in the emulator's state folder."""
    nodes = sorted((state / "nodes" / "local").iterdir())
    return nodes[0] / "shared" / "list.txt"


async def test_values_are_shown_filled_in_and_a_no_changes_nothing(tmp_path: Path) -> None:
    said_no = answering(False)
    async with connect(make_settings(tmp_path, emulator_exec="confirm"), "legacy", elicitation=said_no) as client:
        assert not (await call(client, "job_add", {"id": "j", "poolInfo": LOCAL})).is_error
        args = {"job_id": "j", "template": {"id": "v{i}", "commandLine": "{value}"}, "values": ["/bin/true", EVIL]}
        result = await call(client, "tasks_submit", args)
        listed = await call(client, "task_list", {"job_id": "j"})
    assert "declined" in text(result), text(result)
    assert len(said_no.questions) == 1
    assert EVIL in said_no.questions[0] and "/bin/true" in said_no.questions[0], said_no.questions[0]
    assert (listed.structured_content or {})["items"] == []


async def test_lines_of_a_file_are_shown_filled_in_and_what_runs_is_what_was_shown(tmp_path: Path) -> None:
    state = tmp_path / "state"
    asked: list[str] = []

    async def rewrite_then_yes(context: object, params: types.ElicitRequestParams) -> types.ElicitResult:
        """Says yes, but the file changes while the user reads the question (a task could rewrite it)."""
        asked.append(params.message)
        _list_file(state).write_text(EVIL + "\n")
        return types.ElicitResult(action="accept", content={"confirm": True})

    settings = make_settings(tmp_path, emulator_exec="confirm", emulator_data_dir=state)
    async with connect(settings, "legacy", elicitation=rewrite_then_yes) as client:
        assert not (await call(client, "job_add", {"id": "j", "poolInfo": LOCAL})).is_error
        nodes = await call(client, "node_list", {"pool_id": "local"})
        node = (nodes.structured_content or {})["items"][0]["id"]
        _list_file(state).write_text("/bin/echo one\n/bin/echo two\n")
        uri = f"batch://pools/local/nodes/{node}/files/shared/list.txt"
        template = {"id": "l{i}", "commandLine": "{value}"}
        result = await call(client, "tasks_submit", {"job_id": "j", "template": template, "lines": uri})
        assert not result.is_error, text(result)
        listed = await call(client, "task_list", {"job_id": "j", "select": "id,commandLine"})
    assert len(asked) == 1 and "/bin/echo one" in asked[0] and "/bin/echo two" in asked[0], asked
    ran = sorted(task["commandLine"] for task in (listed.structured_content or {})["items"])
    assert ran == ["/bin/echo one", "/bin/echo two"]


async def test_a_dry_run_runs_nothing_and_asks_nothing(tmp_path: Path) -> None:
    never = answering(False)
    async with connect(make_settings(tmp_path, emulator_exec="confirm"), "legacy", elicitation=never) as client:
        assert not (await call(client, "job_add", {"id": "j", "poolInfo": LOCAL})).is_error
        args = {"job_id": "j", "template": {"id": "v{i}", "commandLine": "{value}"}, "values": [EVIL], "dry_run": True}
        result = await call(client, "tasks_submit", args)
    assert not result.is_error, text(result)
    assert never.questions == []


async def test_a_2026_era_yes_is_for_the_command_lines_shown_not_for_a_file_changed_since(tmp_path: Path) -> None:
    state = tmp_path / "state"
    settings = make_settings(tmp_path, emulator_exec="confirm", emulator_data_dir=state)
    async with connect(settings, "2026-07-28", elicitation=answering(True)) as client:
        assert not (await call(client, "job_add", {"id": "j", "poolInfo": LOCAL})).is_error
        nodes = await call(client, "node_list", {"pool_id": "local"})
        node = (nodes.structured_content or {})["items"][0]["id"]
        _list_file(state).write_text("/bin/echo one\n")
        uri = f"batch://pools/local/nodes/{node}/files/shared/list.txt"
        args = {"job_id": "j", "template": {"id": "l{i}", "commandLine": "{value}"}, "lines": uri}
        first = await client.session.call_tool("tasks_submit", args, allow_input_required=True)
        assert isinstance(first, types.InputRequiredResult)
        assert "/bin/echo one" in first.input_requests["confirm"].params.message
        _list_file(state).write_text(EVIL + "\n")  # changed while the user reads the question
        yes = types.ElicitResult(action="accept", content={"confirm": True})
        second = await client.session.call_tool(
            "tasks_submit",
            args,
            input_responses={"confirm": yes},
            request_state=first.request_state,
            allow_input_required=True,
        )
        listed = await call(client, "task_list", {"job_id": "j", "select": "id,commandLine"})
    ran = [task["commandLine"] for task in (listed.structured_content or {})["items"]]
    assert EVIL not in ran, (second, ran)
    # The yes was for "/bin/echo one": the user is asked again, about what would run now.
    assert isinstance(second, types.InputRequiredResult), second
    assert EVIL in second.input_requests["confirm"].params.message
