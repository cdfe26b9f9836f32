"""A client that cancels a call mid-way (notifications/cancelled) never leaves the record silent.

The attack: `tasks_submit` of 250 tasks; Batch has acknowledged the first 100 when the client gives
up. Tasks must never be sent twice, and since the cancelled call gets no reply, the audit log must say
that the call was interrupted and how far it got. A cancel while the user is being asked must send
nothing and be recorded as such.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest

from tests.security.conftest import scripted_server

pytestmark = pytest.mark.anyio


def audit_entries(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_a_submit_cancelled_mid_way_is_audited_with_what_batch_acknowledged(tmp_path: Path) -> None:
    sent_ids: list[str] = []
    first_answered, all_sent = anyio.Event(), anyio.Event()
    never = anyio.Event()

    async def batch(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        ids = [task["id"] for task in body["value"]]
        sent_ids.extend(ids)
        if len(sent_ids) >= 250:
            all_sent.set()
        if "t0" not in ids:
            await never.wait()  # Batch is slow with the rest
        first_answered.set()
        return httpx2.Response(200, json={"value": [{"status": "Success", "taskId": i} for i in ids]})

    tasks = [{"id": f"t{i}", "commandLine": "true"} for i in range(250)]
    # MockTransport also takes an async handler (the client is async): this Batch can keep a request waiting
    async with scripted_server(tmp_path, batch) as client:  # pyright: ignore[reportArgumentType]
        async with anyio.create_task_group() as group:

            async def submit() -> None:
                await client.call_tool("tasks_submit", {"job_id": "j", "tasks": tasks})

            group.start_soon(submit)
            with anyio.fail_after(10):
                await first_answered.wait()
                await all_sent.wait()
            group.cancel_scope.cancel()  # the client gives up: notifications/cancelled
        for _ in range(1000):  # the cancelled call's record is written as the cancel reaches it
            if audit_entries(tmp_path):
                break
            await anyio.sleep(0.01)
        listed = await client.list_tools()  # the session goes on
    assert listed.tools
    assert sorted(sent_ids) == sorted(task["id"] for task in tasks)  # each task sent once, none again
    [entry] = audit_entries(tmp_path)
    assert entry["tool"] == "tasks_submit" and entry["outcome"] == "interrupted", entry
    assert "100 of 250" in entry["detail"], entry


async def test_a_call_cancelled_while_the_user_is_asked_sends_nothing_and_is_recorded(tmp_path: Path) -> None:
    methods: list[str] = []
    asked = anyio.Event()

    def batch(request: httpx2.Request) -> httpx2.Response:
        methods.append(request.method)
        return httpx2.Response(
            200, json={"id": "j", "state": "active", "executionInfo": {}, "poolInfo": {"poolId": "p"}}
        )

    async def user_never_answers(context: Any, params: Any) -> Any:
        asked.set()
        await anyio.Event().wait()

    async with scripted_server(tmp_path, batch, elicitation=user_never_answers) as client:
        async with anyio.create_task_group() as group:

            async def delete() -> None:
                await client.call_tool("job_delete", {"job_id": "j"})

            group.start_soon(delete)
            with anyio.fail_after(10):
                await asked.wait()
            group.cancel_scope.cancel()
        for _ in range(1000):
            if audit_entries(tmp_path):
                break
            await anyio.sleep(0.01)
    assert "DELETE" not in methods
    [entry] = audit_entries(tmp_path)
    assert entry["tool"] == "job_delete" and entry["outcome"] == "cancelled", entry
    assert "nothing was sent" in entry["detail"], entry


async def test_two_questions_pending_at_once_get_their_own_answers(tmp_path: Path) -> None:
    """Two destructive calls ask at the same time; the user says yes to one and no to the other, in the
    opposite order: each answer acts on its own call only."""
    deleted: list[str] = []
    both_asked = anyio.Event()
    questions: list[str] = []

    def batch(request: httpx2.Request) -> httpx2.Response:
        job = request.url.path.rsplit("/", 1)[-1]
        if request.method == "DELETE":
            deleted.append(job)
            return httpx2.Response(202)
        return httpx2.Response(
            200, json={"id": job, "state": "active", "executionInfo": {}, "poolInfo": {"poolId": "p"}}
        )

    async def user(context: Any, params: Any) -> Any:
        questions.append(params.message)
        if len(questions) == 2:
            both_asked.set()
        await both_asked.wait()
        if "keep" in params.message:
            await anyio.sleep(0.05)  # answered last
            return types.ElicitResult(action="decline")
        return types.ElicitResult(action="accept", content={"confirm": True})

    results: dict[str, Any] = {}
    async with scripted_server(tmp_path, batch, elicitation=user) as client, anyio.create_task_group() as group:
        for job in ("keep", "drop"):

            async def delete(job: str = job) -> None:
                results[job] = await client.call_tool("job_delete", {"job_id": job})

            group.start_soon(delete)
    assert deleted == ["drop"]
    assert "accepted" in results["drop"].content[0].text
    assert "Not done: the user declined" in results["keep"].content[0].text
    outcomes = {entry["arguments"]["job_id"]: entry["outcome"] for entry in audit_entries(tmp_path)}
    assert outcomes == {"keep": "declined", "drop": "ok"}


async def test_a_question_nobody_answers_expires_and_sends_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that never answers (it went away, or the user walked off) must not keep a destructive
    call waiting until the session idles out, ready to run on a late yes: the question expires."""
    from batch_mcp.server import app

    monkeypatch.setattr(app, "CONFIRM_TTL_SECONDS", 0.5)  # five minutes in the product
    methods: list[str] = []
    returned = anyio.Event()
    answers: list[str] = []

    def batch(request: httpx2.Request) -> httpx2.Response:
        methods.append(request.method)
        if request.method == "DELETE":
            return httpx2.Response(202)
        return httpx2.Response(
            200, json={"id": "j", "state": "active", "executionInfo": {}, "poolInfo": {"poolId": "p"}}
        )

    async def user(context: Any, params: Any) -> Any:
        if not answers:  # the first question: answered yes only after the call has come back
            answers.append("late")
            with anyio.move_on_after(10, shield=True):  # a cancel from the server does not stop this user
                await returned.wait()
        else:
            answers.append("prompt")
        return types.ElicitResult(action="accept", content={"confirm": True})

    async with scripted_server(tmp_path, batch, elicitation=user) as client:
        with anyio.fail_after(10):
            expired = await client.call_tool("job_delete", {"job_id": "j"})
        returned.set()
        await anyio.sleep(0.1)  # the late yes reaches the server, which has stopped waiting for it
        assert "DELETE" not in methods
        with anyio.fail_after(10):
            again = await client.call_tool("job_delete", {"job_id": "j"})  # asked again, answered at once
    assert expired.is_error
    text = expired.content[0].text
    assert "expired after 0.5 s" in text and "nothing was sent" in text and "call again" in text.lower(), text
    assert not again.is_error and methods.count("DELETE") == 1, again
    first, second = audit_entries(tmp_path)
    assert first["tool"] == "job_delete" and first["outcome"] == "expired", first
    assert "nothing was sent" in first["detail"], first
    assert second["outcome"] == "ok", second
