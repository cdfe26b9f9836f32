"""A record of used confirmation states that several server processes share: one SQLite file.

Replicas of one deployment that can all open the same file (processes on one host, or a volume
whose file locks work across hosts) accept each confirmation once between them: the first replica
to claim a state's id inserts its row, every later claim anywhere finds it. Rows are deleted once
their state has expired, since an expired state is refused anyway. A database error refuses the
claim: an unrecordable "yes" is not a "yes".
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)

PURGE_EVERY = 256  # claims between deletions of expired rows


class SqliteUsedStates:
    """`UsedStates` (see `confirmations`) in a SQLite file shared by every replica."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time, timeout: float = 5.0) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS used_states (id TEXT PRIMARY KEY, expires REAL NOT NULL)")
        self._clock = clock
        self._lock = threading.Lock()
        self._claims = 0

    def claim(self, state_id: str, expires_at: float) -> bool:
        now = self._clock()
        if not expires_at > now:
            return False
        with self._lock:
            self._claims += 1
            try:
                if self._claims % PURGE_EVERY == 0:
                    self._db.execute("DELETE FROM used_states WHERE expires <= ?", (now,))
                self._db.execute("INSERT INTO used_states (id, expires) VALUES (?, ?)", (state_id, expires_at))
            except sqlite3.IntegrityError:
                return False  # claimed before, here or on another replica
            except sqlite3.Error as exc:
                logger.error("the used-confirmation record cannot be written, refusing the answer: %s", exc)
                return False
            return True

    def close(self) -> None:
        self._db.close()
