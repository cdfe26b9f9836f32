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
