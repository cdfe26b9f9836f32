"""Append-only audit log of every call that could change something (JSON lines).

One line per non-read call: time, tool, arguments with secrets masked, outcome (ok, error,
invalid, refused, declined: the user said no, cancelled: the user dismissed the question (or the client
cancelled during it), expired: nobody answered the question within its lifetime, nothing was sent,
interrupted: the client cancelled the call while it ran, detail says how far, dry_run),
Batch request-id, the reply's headers of a create or action (eTag, new entity URL), and the HTTP
principal when there is one (with Entra ID sign-in, the user's object id, tenant and name).
A long list argument (thousands of tasks) is kept as its length and a SHA-256 of its canonical
JSON, which identifies exactly what was sent without copying megabytes into the log (a hash
reveals nothing of the secrets it covers, so it is taken before masking).
Lines are written with a single O_APPEND write each, so concurrent writers never interleave.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import stat
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from batch_mcp.redaction import redact

logger = logging.getLogger(__name__)


BULK_ITEMS = 20


def _summarize_bulk(value: Any) -> Any:
    if isinstance(value, list) and len(value) > BULK_ITEMS:
        canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return {"items": len(value), "sha256": hashlib.sha256(canonical.encode()).hexdigest()}
    if isinstance(value, dict):
        return {k: _summarize_bulk(v) for k, v in value.items()}
    return value


class AuditLog:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._warned = False

    def record(
        self,
        *,
        tool: str,
        arguments: Mapping[str, Any],
        outcome: str,
        request_id: str | None = None,
        principal: str | None = None,
        user: Mapping[str, Any] | None = None,
        detail: str | None = None,
        response: Mapping[str, Any] | None = None,
    ) -> None:
        if self.path is None:
            return
        entry: dict[str, Any] = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "tool": tool,
            "arguments": redact(_summarize_bulk(dict(arguments))),
            "outcome": outcome,
        }
        if request_id:
            entry["requestId"] = request_id
        if principal:
            entry["principal"] = principal
        if user:  # with Entra ID sign-in: who, by object id and name
            entry["user"] = dict(user)
        if detail:
            entry["detail"] = redact(detail[:500])
        if response:  # eTag, dataServiceId, ... of a create or action: left out of the tool result
            entry["response"] = redact(dict(response))
        line = (json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = _open_private(self.path)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        except OSError as exc:  # an unwritable log must not break the call, but must be noticed
            if not self._warned:
                logger.error("audit log %s is not writable: %s", self.path, exc.strerror or exc)
                self._warned = True


def _open_private(path: Path) -> int:
    """The log file for appending: never through a link planted at its path (entries would land in
    whatever it points at), never a FIFO or device (the write would block or go elsewhere), never a
    file of another user; made private (0600) if others could read it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(exc.errno, "it is a symbolic link; give the real file's path") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "it is not a regular file")
        if info.st_uid != os.geteuid():
            raise OSError(errno.EPERM, "it belongs to another user")
        if info.st_mode & 0o077:
            os.fchmod(fd, 0o600)
    except OSError:
        os.close(fd)
        raise
    return fd
