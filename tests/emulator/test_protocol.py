"""The wire conventions every operation shares: versions, error envelope, request ids,
conditional requests, paging, $select/$expand/$filter, body validation and size limits."""

from __future__ import annotations

import pytest

from tests.emulator.conftest import V2018, fast_config, running

pytestmark = pytest.mark.anyio


async def test_unknown_api_version_gets_the_services_error() -> None:
    async with running() as (_, api):
        r = await api.at("2099-01-01").get("/pools")
        assert r.status_code == 400
        assert r.json()["code"] == "UnsupportedRequestVersion"
        r = await api.http.get("/pools")
        assert (r.status_code, r.json()["code"]) == (400, "MissingRequiredQueryParameter")


async def test_2025_06_01_is_served_like_2024_and_tolerates_timeOut() -> None:
    async with running() as (_, api):
        sdk = api.at("2025-06-01")
        assert (
            await sdk.post("/jobs", {"id": "j", "poolInfo": {"poolId": "p"}}, params={"timeOut": "30"})
        ).status_code == 201
        r = await sdk.get("/jobs/j", params={"timeOut": "30"})
        assert r.status_code == 200 and r.json()["state"] == "active"


async def test_errors_carry_code_message_request_id_and_values() -> None:
    async with running() as (_, api):
        r = await api.get("/pools/missing")
        body = r.json()
        assert r.status_code == 404 and body["code"] == "PoolNotFound"
        assert body["odata.metadata"].endswith(
            "$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element"
        )
        assert body["message"]["lang"] == "en-US"
        assert f"RequestId:{r.headers['request-id']}" in body["message"]["value"]
        r = await api.post("/pools", {"id": "bad id!", "vmSize": "s"})
        assert r.json()["code"] == "InvalidPropertyValue"
        assert {v["key"] for v in r.json()["values"]} >= {"PropertyName", "PropertyValue"}


async def test_client_request_id_is_echoed_only_when_asked() -> None:
    async with running() as (_, api):
        r = await api.get("/pools", headers={"client-request-id": "abc"})
        assert "client-request-id" not in r.headers
        r = await api.get("/pools", headers={"client-request-id": "abc", "return-client-request-id": "true"})
        assert r.headers["client-request-id"] == "abc"


async def test_conditional_requests_answer_304_and_412() -> None:
    async with running() as (_, api):
        assert (await api.post("/jobs", {"id": "j", "poolInfo": {"poolId": "p"}})).status_code == 201
        r = await api.get("/jobs/j")
        etag, modified = r.headers["etag"], r.headers["last-modified"]
        assert r.json()["eTag"] == etag
        assert (await api.get("/jobs/j", headers={"If-None-Match": etag})).status_code == 304
        assert (await api.get("/jobs/j", headers={"If-Modified-Since": modified})).status_code == 304
        r = await api.call("PATCH", "/jobs/j", json={"priority": 5}, headers={"If-Match": "0x8D0000000000000"})
        assert (r.status_code, r.json()["code"]) == (412, "ConditionNotMet")
        r = await api.call("PATCH", "/jobs/j", json={"priority": 5}, headers={"If-Match": etag})
        assert r.status_code == 200 and r.headers["etag"] != etag
        r = await api.call("DELETE", "/jobs/j", headers={"If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})
        assert r.status_code == 412
        assert (await api.get("/jobs/j", headers={"If-None-Match": etag})).status_code == 200


async def test_paging_follows_absolute_next_links_until_every_item_is_seen() -> None:
    async with running() as (_, api):
        for i in range(7):
            assert (await api.post("/jobs", {"id": f"job{i}", "poolInfo": {"poolId": "p"}})).status_code == 201
        seen: list[str] = []
        r = await api.get("/jobs", params={"maxresults": 3})
        pages = 1
        while "odata.nextLink" in r.json():
            seen += [j["id"] for j in r.json()["value"]]
            link = r.json()["odata.nextLink"]
            assert link.startswith("https://test.local.batch.azure.com/jobs?")
            r = await api.http.get(link)
            pages += 1
        seen += [j["id"] for j in r.json()["value"]]
        assert seen == [f"job{i}" for i in range(7)] and pages == 3
        assert (await api.get("/jobs", params={"maxresults": 0})).json()["code"] == "InvalidQueryParameterValue"


async def test_a_continuation_token_the_service_never_issued_is_refused() -> None:
    """Tokens are the emulator's own; `-3`, `1_0`, ` 1` or Arabic-Indic digits were read as
    positions (a page from the middle, or the last items again) instead of the service's 400."""
    async with running() as (_, api):
        for i in range(3):
            await api.post("/jobs", {"id": f"job{i}", "poolInfo": {"poolId": "p"}})
        for forged in ("-3", "1_0", " 1", "+1", "\u0661", "1" * 40):
            r = await api.get("/jobs", params={"maxresults": 2, "$skiptoken": forged})
            assert (r.status_code, r.json()["code"]) == (400, "InvalidQueryParameterValue"), forged
        issued = (await api.get("/jobs", params={"maxresults": 2})).json()["odata.nextLink"]
        assert [j["id"] for j in (await api.http.get(issued)).json()["value"]] == ["job2"]


async def test_select_expand_and_filter() -> None:
    async with running() as (_, api):
        for i, priority in enumerate((1, 5, 9)):
            await api.post("/jobs", {"id": f"j{i}", "priority": priority, "poolInfo": {"poolId": "p"}})
        r = await api.get("/jobs", params={"$filter": "id ge 'j1' and startswith(id, 'j')", "$select": "id,priority"})
        assert r.json()["value"] == [{"id": "j1", "priority": 5}, {"id": "j2", "priority": 9}]
        r = await api.get("/jobs/j0", params={"$expand": "stats"})
        assert r.json()["stats"]["numSucceededTasks"] == "0"  # 64-bit integers are JSON strings on the wire
        assert (await api.get("/jobs/j0", params={"$expand": "tasks"})).status_code == 400
        r = await api.get("/jobs", params={"$filter": "id add 1 eq 2"})
        assert (r.status_code, r.json()["code"]) == (400, "InvalidQueryParameterValue")


async def test_bodies_are_validated_against_the_spec() -> None:
    async with running() as (_, api):
        r = await api.post("/jobs", {"poolInfo": {"poolId": "p"}})
        assert (r.json()["code"], r.json()["values"][0]["value"]) == ("MissingRequiredProperty", "id")
        r = await api.post("/jobs", {"id": "j", "priority": "high", "poolInfo": {"poolId": "p"}})
        assert r.json()["code"] == "InvalidPropertyValue"
        r = await api.post("/jobs", {"id": "j", "poolInfo": {"poolId": "p"}, "colour": "blue"})
        assert r.json()["code"] == "InvalidRequestBody"
        json_type = {"Content-Type": "application/json"}
        r = await api.http.post("/jobs", params={"api-version": api.version}, content=b"{not json", headers=json_type)
        assert r.json()["code"] == "InvalidRequestBody"
        r = await api.at("2025-06-01").post("/jobs", {"id": "j", "poolInfo": {"poolId": "p"}, "newerField": 1})
        assert (r.status_code, r.json()["code"]) == (400, "InvalidRequestBody")  # every version knows its fields
        r = await api.at("2025-06-01").post("/jobs", {"id": "j", "poolInfo": {"poolId": "p"}})
        assert r.status_code == 201


async def test_a_lone_surrogate_in_a_body_is_refused_and_never_poisons_the_account() -> None:
    """`"\\ud800"` is valid JSON but no character: stored, it made every later list of its kind a
    500. Refused before anything is made, wherever it appears (id, display name, metadata key)."""
    async with running() as (_, api):
        json_type = {"Content-Type": "application/json"}
        for body in (
            rb'{"id":"\ud800","poolInfo":{"poolId":"p"}}',
            rb'{"id":"j","displayName":"a\udfffb","poolInfo":{"poolId":"p"}}',
            rb'{"id":"j","poolInfo":{"poolId":"p"},"metadata":[{"name":"\uD83D","value":"v"}]}',
        ):
            r = await api.http.post("/jobs", params={"api-version": api.version}, content=body, headers=json_type)
            assert (r.status_code, r.json()["code"]) == (400, "InvalidRequestBody")
        listed = await api.get("/jobs")
        assert (listed.status_code, listed.json()["value"]) == (200, [])
        paired = rb'{"id":"j","displayName":"\ud83d\ude00","poolInfo":{"poolId":"p"}}'  # a real pair is fine
        r = await api.http.post("/jobs", params={"api-version": api.version}, content=paired, headers=json_type)
        assert r.status_code == 201
        assert (await api.get("/jobs/j")).json()["displayName"] == "\U0001f600"


async def test_oversized_bodies_and_collections_are_refused() -> None:
    async with running(fast_config(max_request_body=4096)) as (_, api):
        await api.post("/jobs", {"id": "j", "poolInfo": {"poolId": "p"}})
        big = {"value": [{"id": f"t{i}", "commandLine": "echo " + "x" * 100} for i in range(60)]}
        r = await api.post("/jobs/j/addtaskcollection", big)
        assert (r.status_code, r.json()["code"]) == (413, "RequestBodyTooLarge")
    async with running() as (_, api):
        await api.post("/jobs", {"id": "j", "poolInfo": {"poolId": "p"}})
        r = await api.post(
            "/jobs/j/addtaskcollection", {"value": [{"id": f"t{i}", "commandLine": "x"} for i in range(101)]}
        )
        assert r.status_code == 400


async def test_duplicates_conflict_with_the_services_codes() -> None:
    async with running() as (_, api):
        job = {"id": "j", "poolInfo": {"poolId": "p"}}
        await api.post("/jobs", job)
        assert (await api.post("/jobs", {**job, "id": "J"})).json()["code"] == "JobExists"  # ids ignore case
        await api.post("/jobs/j/tasks", {"id": "a", "commandLine": "x"})
        r = await api.post(
            "/jobs/j/addtaskcollection", {"value": [{"id": "a", "commandLine": "x"}, {"id": "b", "commandLine": "x"}]}
        )
        results = {x["taskId"]: x for x in r.json()["value"]}
        assert results["a"]["status"] == "clienterror" and results["a"]["error"]["code"] == "TaskExists"
        assert results["b"]["status"] == "success"


async def test_2018_speaks_max_tasks_per_node_and_flat_task_counts() -> None:
    async with running() as (_, api):
        old = api.at(V2018)
        pool = {"id": "p", "vmSize": "small", "cloudServiceConfiguration": {"osFamily": "5"}, "maxTasksPerNode": 3}
        assert (await old.post("/pools", pool)).status_code == 201
        assert (await old.get("/pools/p")).json()["maxTasksPerNode"] == 3
        assert (await api.get("/pools/p")).json()["taskSlotsPerNode"] == 3
        await old.post("/jobs", {"id": "j", "poolInfo": {"poolId": "p"}})
        counts = (await old.get("/jobs/j/taskcounts")).json()
        assert counts["active"] == 0 and "taskCounts" not in counts
        assert (await api.get("/supportedimages")).status_code == 200
        assert (await api.get("/nodeagentskus")).json()["code"] == "InvalidUri"  # retired after 2018
        assert (await old.get("/nodeagentskus")).status_code == 200


async def test_a_known_path_with_another_verb_is_refused() -> None:
    async with running() as (_, api):
        r = await api.call("PUT", "/pools")
        assert (r.status_code, r.json()["code"]) == (405, "UnsupportedHttpVerb")
