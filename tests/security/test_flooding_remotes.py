"""A Batch that lies about how much it has to say cannot make the server hold it all in memory.

The attacker controls "Batch" (a hostile proxy, a compromised endpoint) and answers a read, a list
page or an error with an endless body, fast enough for every deadline. The client reads a JSON
reply up to a bound far above any real Batch answer, and an error body up to a few KiB; beyond
that the call ends with a clear error, and the body is not read further."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import httpx2
import pytest

from batch_mcp.batch import BatchClient, BatchError, RetryPolicy, RetrySettings
from batch_mcp.batch.client import MAX_ERROR_BODY, MAX_JSON_BODY
from batch_mcp.catalog import load_catalog

pytestmark = pytest.mark.anyio

ENDPOINT = "https://acct.westeurope.batch.azure.com"
CHUNK = 1 << 20


def client_on(transport: httpx2.AsyncBaseTransport) -> BatchClient:
    retry = RetryPolicy(RetrySettings(budget=20, backoff_factor=0.01, backoff_max=0.05, max_attempts=2))
    return BatchClient(load_catalog(), ENDPOINT, transport=transport, retry=retry, timeout=15)


class Flood:
    """An endless body, counting what was taken from it."""

    def __init__(self, first: bytes) -> None:
        self.first, self.sent = first, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.first
        filler = b" " * CHUNK
        while True:
            self.sent += CHUNK
            yield filler


@pytest.mark.parametrize(("status", "first"), [(200, b'{"id": "p", "x": "'), (400, b'{"code": "Bad", "message": "')])
async def test_an_endless_reply_is_cut_off_with_a_clear_error(status: int, first: bytes) -> None:
    floods: list[Flood] = []

    def batch(request: httpx2.Request) -> httpx2.Response:
        floods.append(Flood(first))
        return httpx2.Response(status, headers={"Content-Type": "application/json"}, content=floods[-1])

    async with client_on(httpx2.MockTransport(batch)) as client:
        with anyio.fail_after(30):
            try:
                await client.call("pool_get", {"pool_id": "p"})
            except BatchError as exc:
                said = str(exc)
            else:
                pytest.fail("an endless body was accepted")
    bound = MAX_JSON_BODY if status == 200 else MAX_ERROR_BODY
    assert all(flood.sent <= bound + 2 * CHUNK for flood in floods), [f.sent for f in floods]
    if status == 200:
        assert "larger than" in said, said
