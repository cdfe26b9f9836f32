"""Paths batch-mcp writes to may have been prepared by someone else: a link planted where the audit
log goes, or a log file that another user created and can read. Entries must never be appended to
whatever such a link points at, nor to a file others can read, and the operator must hear why."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from batch_mcp.server.audit import AuditLog


def write_one(log: AuditLog) -> None:
    log.record(tool="job_delete", arguments={"job_id": "j", "commandLine": "echo secret-run"}, outcome="ok")


def test_the_audit_log_does_not_follow_a_planted_link(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    victim = tmp_path / "bashrc"
    victim.write_text("# the user's shell start-up file\n")
    planted = tmp_path / "logs" / "audit.jsonl"
    planted.parent.mkdir()
    planted.symlink_to(victim)
    with caplog.at_level(logging.ERROR):
        write_one(AuditLog(planted))
    assert victim.read_text() == "# the user's shell start-up file\n"
    assert "audit" in caplog.text and "link" in caplog.text, caplog.text


def test_an_audit_log_others_can_read_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text("")
    path.chmod(0o644)
    write_one(AuditLog(path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "job_delete" in path.read_text()


def test_the_audit_log_is_never_written_into_a_fifo_or_device(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "audit.jsonl"
    os.mkfifo(path)
    with caplog.at_level(logging.ERROR):
        write_one(AuditLog(path))  # must not block waiting for a reader
    assert "audit log" in caplog.text and "not writable" in caplog.text, caplog.text


@pytest.mark.anyio
async def test_uploading_service_logs_does_not_follow_a_startup_folder_swapped_for_a_link(tmp_path: Path) -> None:
    """A node's start task can replace its `startup` folder with a link; the log upload copies the
    start task's output only from the node's own folder, never what the link points at."""
    from tests.emulator.conftest import fast_config, make_pool, running

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "stdout.txt").write_text("SECRET from outside the node\n")
    data = tmp_path / "data"
    async with running(fast_config(data_dir=str(data))) as (_, api):
        start_task = {"commandLine": "/bin/sh -c 'echo node is ready'", "waitForSuccess": True}
        [node] = await make_pool(api, "p", startTask=start_task)
        [startup] = [p for p in data.rglob("startup") if p.is_dir() and node["id"] in str(p)]
        startup.rename(startup.with_name("startup.old"))
        startup.symlink_to(outside)
        url = "https://store.blob.core.windows.net/logs?sv=2024&sig=c2VjcmV0"
        body = {"containerUrl": url, "startTime": "2020-01-01T00:00:00Z"}
        reply = await api.post(f"/pools/p/nodes/{node['id']}/uploadbatchservicelogs", body)
        assert reply.status_code == 200, reply.text
        folder = data / "storage" / "store.blob.core.windows.net" / "logs" / reply.json()["virtualDirectoryName"]
        copied = [p.read_text() for p in folder.rglob("*") if p.is_file()]
    assert copied and not any("SECRET" in text for text in copied), copied
