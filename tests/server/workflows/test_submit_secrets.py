"""Secrets that reach a task through a template stay out of tool output and the audit log.

`DB_PASSWORD` in a task's environment settings is masked wherever the task is shown. A template
moves the value out of the name/value entry (`{"name": "DB_PASSWORD", "value": "{value}"}` with
`values: ["..."]`), where name-based masking cannot see it: the server must still keep it out of the
dry run's preview, the result and the audit log."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.server.conftest import call, text
from tests.server.workflows.conftest import ok, workflow_client
from tests.server.workflows.test_submit import idle_job

pytestmark = pytest.mark.anyio

SECRET = "hunter2-very-secret"
TOKEN = "tok-abcdef-123456"
TEMPLATE = {
    "id": "s{i}",
    "commandLine": "/bin/true",
    "environmentSettings": [{"name": "DB_PASSWORD", "value": "{value}"}],
}


async def test_a_dry_run_preview_masks_secret_entries(tmp_path: Path) -> None:
    async with workflow_client(tmp_path) as client:
        await idle_job(client)
        args = {"job_id": "bulk", "template": TEMPLATE, "values": [SECRET], "dry_run": True}
        result = await ok(client, "tasks_submit", args)
    assert SECRET not in text(result) and SECRET not in str(result.structured_content), text(result)
    assert "DB_PASSWORD" in text(result)


async def test_template_values_that_fill_secret_entries_stay_out_of_the_audit_log(tmp_path: Path) -> None:
    async with workflow_client(tmp_path) as client:
        await idle_job(client)
        await ok(client, "tasks_submit", {"job_id": "bulk", "template": TEMPLATE, "values": [SECRET]})
        by_key = {"id": "k{i}", "commandLine": "/bin/true", "environmentSettings": [{"name": "{n}", "value": "{v}"}]}
        by_key_values = [{"n": "API_TOKEN", "v": TOKEN}]
        await ok(client, "tasks_submit", {"job_id": "bulk", "template": by_key, "values": by_key_values})
        # A secret quoted elsewhere in the same call (its command line) is masked there too.
        env = [{"name": "DB_PASSWORD", "value": SECRET}]
        result = await call(
            client,
            "task_add",
            {"job_id": "bulk", "id": "q", "commandLine": f"/bin/echo {SECRET}", "environmentSettings": env},
        )
        assert not result.is_error, text(result)
    audit = (tmp_path / "audit.jsonl").read_text(encoding="utf-8")
    assert "tasks_submit" in audit and "task_add" in audit
    assert SECRET not in audit and TOKEN not in audit, audit
