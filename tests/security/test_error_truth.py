"""A 403 is an authentication failure only when Batch says so.

Batch answers 403 for a refused credential (`AuthenticationFailed`) and for operations it refuses
on a good credential (`Forbidden`, `TVMCurrentOperationUnsupported`, ...). Reporting the latter as
"authentication failed, check your key" sends the operator after the wrong problem and drops the
real reason, which Batch puts in the code, the message and `values`.
"""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest

from tests.security.conftest import batch_reply, scripted_server
from tests.server.conftest import call, text

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("code", "message", "reason"),
    [
        ("TVMCurrentOperationUnsupported", "The operation is not supported on this node.", "node is a low-priority VM"),
        ("Forbidden", "This request is not allowed.", "pool is in a subscription policy scope"),
    ],
)
async def test_a_refused_operation_is_not_called_an_authentication_failure(
    tmp_path: Path, code: str, message: str, reason: str
) -> None:
    def batch(request: httpx2.Request) -> httpx2.Response:
        return batch_reply(403, code, message, [{"key": "Reason", "value": reason}])

    async with scripted_server(tmp_path, batch) as client:
        result = await call(client, "node_get", {"pool_id": "p", "node_id": "n"})
    shown = text(result)
    assert result.is_error
    assert "authentication" not in shown.lower()
    assert f"403 {code}" in shown and message in shown and reason in shown


async def test_a_refused_credential_is_still_an_authentication_failure(tmp_path: Path) -> None:
    def batch(request: httpx2.Request) -> httpx2.Response:
        return batch_reply(403, "AuthenticationFailed", "Server failed to authenticate the request.")

    async with scripted_server(tmp_path, batch) as client:
        result = await call(client, "pool_get", {"pool_id": "p"})
    assert result.is_error and "authentication" in text(result).lower()
