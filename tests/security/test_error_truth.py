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


async def test_a_refused_operation_is_not_called_an_authentication_failure(tmp_path: Path) -> None:
    refusals = {
        "/pools/p/nodes/n": ("TVMCurrentOperationUnsupported", "The operation is not supported.", "low-priority node"),
        "/pools/p": ("Forbidden", "This request is not allowed.", "pool is in a policy scope"),
        "/jobs/j": ("AuthenticationFailed", "Server failed to authenticate the request.", "signature mismatch"),
    }

    def batch(request: httpx2.Request) -> httpx2.Response:
        code, message, reason = refusals[request.url.path]
        return batch_reply(403, code, message, [{"key": "Reason", "value": reason}])

    async with scripted_server(tmp_path, batch) as client:
        node = await call(client, "node_get", {"pool_id": "p", "node_id": "n"})
        pool = await call(client, "pool_get", {"pool_id": "p"})
        job = await call(client, "job_get", {"job_id": "j"})
    for result, path in ((node, "/pools/p/nodes/n"), (pool, "/pools/p")):
        code, message, reason = refusals[path]
        shown = text(result)
        assert result.is_error and "authentication" not in shown.lower()
        assert f"403 {code}" in shown and message in shown and reason in shown
    assert job.is_error and "authentication" in text(job).lower()  # a refused credential still says so
