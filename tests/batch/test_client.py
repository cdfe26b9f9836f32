"""Results and errors of single calls: what each result kind returns, and how failures read."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx2
import pytest

from batch_mcp.batch import (
    ArgumentError,
    BatchAuthError,
    BatchClient,
    BatchServiceError,
    SharedKeyAuth,
)
from batch_mcp.catalog import Catalog
from tests.batch.conftest import FakeTime
from tests.batch.fakebatch import ENDPOINT, FakeBatch, Fault, batch_error

pytestmark = pytest.mark.anyio

KEY = "c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seQ=="


def _client(catalog: Catalog, handler: Any, fake_time: FakeTime, **options: Any) -> BatchClient:
    return BatchClient(catalog, ENDPOINT, transport=httpx2.MockTransport(handler), retry=fake_time.policy(), **options)


async def test_json_results_are_parsed_with_odata_keys_stripped(client: BatchClient, fake: FakeBatch) -> None:
    await client.call("job_add", {"id": "j1", "poolInfo": {"poolId": "p"}})
    result = await client.call("job_get", {"job_id": "j1"})
    assert result.kind == "json" and result.status == 200
    assert result.data["id"] == "j1" and result.data["poolInfo"] == {"poolId": "p"}
    fake.jobs["j1"]["odata.metadata"] = "https://x/$metadata#jobs/@Element"
    assert "odata.metadata" not in (await client.call("job_get", {"job_id": "j1"})).data


async def test_creates_report_the_interesting_response_headers(client: BatchClient) -> None:
    result = await client.call("job_add", {"id": "j1", "poolInfo": {"poolId": "p"}})
    assert result.status == 201 and result.request_id == "req-add"
    assert result.data == {"eTag": "0x1", "dataServiceId": f"{ENDPOINT}/jobs/j1", "requestId": "req-add"}


async def test_exists_is_an_answer_either_way(client: BatchClient) -> None:
    assert (await client.call("job_schedule_exists", {"job_schedule_id": "nope"})).data == {"exists": False}

    async def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200)

    async with _client(client.catalog, handler, FakeTime()) as other:
        assert (await other.call("pool_exists", {"pool_id": "p"})).data == {"exists": True}


async def test_file_properties_come_from_head_headers(client: BatchClient, fake: FakeBatch) -> None:
    fake.files[("j", "t", "wd/my out.txt")] = b"x" * 1234
    args = {"job_id": "j", "task_id": "t", "file_path": "wd/my out.txt"}
    result = await client.call("task_file_get_properties", args)
    assert result.data == {"contentLength": 1234, "contentType": "application/octet-stream", "isDirectory": False}
    assert await client.file_properties("task_file_get", args) == result.data
    assert fake.requests[-1].method == "HEAD"
    assert fake.requests[-1].url.raw_path.startswith(b"/jobs/j/tasks/t/files/wd/my%20out.txt?")


async def test_a_not_modified_reply_is_a_result(catalog: Catalog, fake_time: FakeTime) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        assert request.headers["If-None-Match"] == "0x8D"
        return httpx2.Response(304, headers={"ETag": "0x8D"})

    async with _client(catalog, handler, fake_time) as client:
        result = await client.call("pool_get", {"pool_id": "p"}, headers={"If-None-Match": "0x8D"})
    assert result.status == 304 and result.not_modified and result.data == {}


async def test_every_request_carries_the_plumbing(catalog: Catalog, fake_time: FakeTime) -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, json={"id": "p"})

    async with _client(catalog, handler, fake_time) as client:
        await client.call("pool_get", {"pool_id": "p"})
    headers = seen[0].headers
    assert seen[0].url.params["api-version"] == "2024-02-01.19.0"
    assert uuid.UUID(headers["client-request-id"]) and headers["return-client-request-id"] == "true"
    assert headers["ocp-date"].endswith(" GMT")


async def test_list_and_content_tools_point_to_their_own_methods(client: BatchClient) -> None:
    with pytest.raises(ArgumentError):
        await client.call("job_list", {})
    with pytest.raises(ArgumentError):
        await client.call("task_file_get", {"job_id": "j", "task_id": "t", "file_path": "x"})
    with pytest.raises(ArgumentError):
        await client.call("no_such_tool", {})


async def test_batch_error_replies_become_one_typed_error(client: BatchClient) -> None:
    with pytest.raises(BatchServiceError) as caught:
        await client.call("job_get", {"job_id": "missing"})
    err = caught.value
    assert (err.status, err.code, err.request_id) == (404, "JobNotFound", "req-JobNotFound")
    assert err.message == "The specified job does not exist."
    assert str(err) == (
        "404 JobNotFound: The specified job does not exist. [GET /jobs/missing] request-id req-JobNotFound"
    )


async def test_error_details_and_non_json_bodies_read_well(catalog: Catalog, fake_time: FakeTime) -> None:
    replies = [
        batch_error(
            400, "InvalidPropertyValue", "A property is invalid.", [{"key": "PropertyName", "value": "vmSize"}]
        ),
        httpx2.Response(400, content=b"<html><body>Bad gateway config</body></html>", headers={"request-id": "r9"}),
    ]

    async with _client(catalog, lambda request: replies.pop(0), fake_time) as client:
        with pytest.raises(BatchServiceError) as first:
            await client.call("pool_get", {"pool_id": "p"})
        with pytest.raises(BatchServiceError) as second:
            await client.call("pool_get", {"pool_id": "p"})
    assert first.value.values == [{"key": "PropertyName", "value": "vmSize"}]
    assert "(PropertyName: vmSize)" in str(first.value)
    assert first.value.to_dict()["code"] == "InvalidPropertyValue"
    assert second.value.code is None and second.value.request_id == "r9"
    assert "Bad gateway config" in second.value.message


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_failures_name_the_credential_and_what_to_set(
    catalog: Catalog, fake_time: FakeTime, status: int
) -> None:
    signature_echo = [{"key": "AuthenticationErrorDetail", "value": "The MAC signature found is 'c2lnbmF0dXJl'"}]

    def handler(request: httpx2.Request) -> httpx2.Response:
        return batch_error(status, "AuthenticationFailed", "Server failed to authenticate the request.", signature_echo)

    async with _client(catalog, handler, fake_time, auth=SharedKeyAuth("fakeaccount", KEY)) as client:
        with pytest.raises(BatchAuthError) as caught:
            await client.call("pool_get", {"pool_id": "p"})
    text = str(caught.value)
    assert caught.value.status == status and caught.value.code == "AuthenticationFailed"
    assert "Shared Key for account 'fakeaccount'" in text and "AZURE_BATCH_ACCESS_KEY" in text
    assert KEY not in text and "c2lnbmF0dXJl" not in text
    assert fake_time.sleeps == []  # never retried


async def test_auth_failure_without_a_credential_says_what_to_configure(catalog: Catalog, fake_time: FakeTime) -> None:
    async with _client(catalog, lambda r: httpx2.Response(401), fake_time) as client:
        with pytest.raises(BatchAuthError) as caught:
            await client.call("pool_get", {"pool_id": "p"})
    assert "no credential" in str(caught.value) and "AZURE_BATCH_ACCESS_KEY" in str(caught.value)


async def test_a_retried_create_that_finds_its_own_entity_succeeds_once(
    client: BatchClient, fake: FakeBatch, fake_time: FakeTime
) -> None:
    fake.inject("POST", "/jobs", Fault("timeout_after"))
    result = await client.call("job_add", {"id": "j1", "poolInfo": {"poolId": "p"}, "priority": 5})
    assert result.recovered and result.status == 201 and result.attempts == 2
    assert result.data["dataServiceId"] == f"{ENDPOINT}/jobs/j1" and result.data["eTag"] == "0x1"
    assert fake.creates == {"job:j1": 1}
    sent = [r for r in fake.requests if r.method == "POST"]
    assert len(sent) == 2 and sent[0].headers["client-request-id"] == sent[1].headers["client-request-id"]


async def test_a_retried_create_that_finds_someone_elses_entity_fails(client: BatchClient, fake: FakeBatch) -> None:
    fake.jobs["j1"] = {"id": "j1", "priority": 1, "creationTime": "2026-01-01T00:00:00+00:00", "eTag": "0x0"}
    fake.inject("POST", "/jobs", Fault("timeout_before"))
    with pytest.raises(BatchServiceError) as caught:
        await client.call("job_add", {"id": "j1", "poolInfo": {"poolId": "p"}, "priority": 5})
    assert caught.value.code == "JobExists" and "did not create it" in caught.value.message


async def test_a_first_attempt_conflict_is_reported_as_is(client: BatchClient, fake: FakeBatch) -> None:
    fake.jobs["j1"] = {"id": "j1", "poolInfo": {"poolId": "p"}, "eTag": "0x0"}
    with pytest.raises(BatchServiceError) as caught:
        await client.call("job_add", {"id": "j1", "poolInfo": {"poolId": "p"}})
    assert caught.value.code == "JobExists" and caught.value.attempts == 1
    assert [r.method for r in fake.requests] == ["POST"]  # no read-back for a conflict on the first try


async def test_the_body_sent_is_compact_utf8_json(catalog: Catalog, fake_time: FakeTime) -> None:
    seen: list[bytes] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.content)
        return httpx2.Response(201)

    async with _client(catalog, handler, fake_time) as client:
        await client.call("job_add", {"id": "j1", "poolInfo": {"poolId": "p"}, "displayName": "été"})
    assert seen[0] == json.dumps(
        {"id": "j1", "poolInfo": {"poolId": "p"}, "displayName": "été"}, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def test_the_public_surface_is_pinned() -> None:
    """What the server imports; a change here is a change of interface."""
    import batch_mcp.batch

    assert set(batch_mcp.batch.__all__) == {
        "BATCH_SCOPE", "AddTasksResult", "ArgumentError", "BatchAuthError", "BatchClient", "BatchError",
        "BatchProtocolError", "BatchServiceError", "BatchSettings", "BatchTimeoutError", "BatchTransportError",
        "BatchUnreachableError", "CallResult", "ContinuationError", "EntraIdAuth", "FileStream", "ListPage",
        "RetryPolicy", "RetrySettings",
        "SharedKeyAuth", "choose_auth_kind", "connect", "make_auth",
    }  # fmt: skip
    assert all(hasattr(batch_mcp.batch, name) for name in batch_mcp.batch.__all__)


async def test_an_invalid_byte_range_is_refused_before_sending(client: BatchClient, fake: FakeBatch) -> None:
    with pytest.raises(ArgumentError):
        async with client.open_stream(
            "task_file_get", {"job_id": "j", "task_id": "t", "file_path": "x"}, byte_range=(9, 2)
        ):
            pass
    assert fake.requests == []
