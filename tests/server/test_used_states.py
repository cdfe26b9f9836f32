"""The shared record of used confirmation states: two processes' views of one SQLite file."""

from __future__ import annotations

from pathlib import Path

from batch_mcp.server import used_states
from batch_mcp.server.used_states import SqliteUsedStates


def test_a_state_is_claimed_once_across_every_replica_sharing_the_file(tmp_path: Path) -> None:
    now = [1000.0]
    first = SqliteUsedStates(tmp_path / "used.db", clock=lambda: now[0])
    second = SqliteUsedStates(tmp_path / "used.db", clock=lambda: now[0])
    assert first.claim("s1", 1300.0)
    assert not second.claim("s1", 1300.0)
    assert not first.claim("s1", 1300.0)
    assert second.claim("s2", 1300.0)
    assert not first.claim("s3", 999.0)  # already expired: never accepted


def test_expired_rows_are_deleted_as_claims_go_by(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(used_states, "PURGE_EVERY", 2)
    now = [1000.0]
    record = SqliteUsedStates(tmp_path / "used.db", clock=lambda: now[0])
    assert record.claim("old", 1010.0)
    now[0] = 2000.0
    assert record.claim("new", 2300.0)  # the second claim purges what has expired
    rows = record._db.execute("SELECT id FROM used_states").fetchall()
    assert rows == [("new",)]


def test_an_unwritable_record_refuses_the_answer(tmp_path: Path) -> None:
    record = SqliteUsedStates(tmp_path / "used.db", clock=lambda: 0.0)
    record.close()
    assert not record.claim("s1", 10.0)
