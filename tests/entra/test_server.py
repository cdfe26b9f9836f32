"""`batch-mcp --http-auth entra` end to end: a real server process signs users in against the test
identity provider and calls the test Batch endpoint on each user's behalf.

Every Batch request the gate sees carries the user it was made for, so the tests can say exactly
what reached Batch, and as whom."""

from __future__ import annotations

import json
import secrets
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp
import mcp_types as types
import pytest
from mcp.client.streamable_http import streamable_http_client
from mcp.client.subscriptions import ResourceUpdated
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError

from tests.entra.batch_gate import BatchGate
from tests.entra.conftest import EntraServer, entra_env, entra_process, free_port
from tests.entra.provider import ALICE, BATCH_RESOURCE, BOB, CAROL, DAVE, IdentityProvider, SigningKey
from tests.entra.tls import LoopbackTls
from tests.server.conftest import ERAS, answering, text

pytestmark = pytest.mark.anyio

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
JSON_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
YES = {"confirm": types.ElicitResult(action="accept", content={"confirm": True})}


@asynccontextmanager
async def signed_in(
    server: EntraServer, token: str, era: str = "2026-07-28", **options: Any
) -> AsyncIterator[mcp.Client]:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http,
        mcp.Client(streamable_http_client(server.url, http_client=http), mode=era, **options) as client,
    ):
        yield client


async def call(client: mcp.Client, name: str, args: dict[str, Any]) -> types.CallToolResult:
    with anyio.fail_after(60):
        return await client.call_tool(name, args)


def audit(server: EntraServer) -> list[dict[str, Any]]:
    if not server.audit.exists():
        return []
    return [json.loads(line) for line in server.audit.read_text(encoding="utf-8").splitlines()]


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


# -- a signed-in user works as themselves ------------------------------------------------------------------


@pytest.mark.parametrize("era", ERAS)
async def test_a_signed_in_user_calls_batch_as_themselves_in_both_eras(
    entra_server: EntraServer, idp: IdentityProvider, batch: tuple[str, BatchGate], era: str
) -> None:
    gate = batch[1]
    exchanges = idp.count("obo")
    job = new_id(f"alice-{era}")
    async with signed_in(entra_server, idp.token(ALICE), era) as client:
        pool = await call(client, "pool_get", {"pool_id": "local"})
        assert not pool.is_error, text(pool)
        added = await call(client, "job_add", {"id": job, "poolInfo": {"poolId": "local"}})
        assert not added.is_error, text(added)
        listed = await call(client, "job_list", {"filter": f"id eq '{job}'"})
        assert [item["id"] for item in listed.structured_content["items"]] == [job]
    mine = gate.by(ALICE.oid)
    assert any(s.method == "POST" and s.path == "/jobs" and s.status == 201 for s in mine)
    assert all(s.oid is not None for s in gate.snapshot())  # nothing reached Batch without a user
    assert idp.count("obo") - exchanges <= 1  # one exchange per user while the Batch token lasts
    entry = next(e for e in reversed(audit(entra_server)) if e["tool"] == "job_add" and e["arguments"]["id"] == job)
    assert entry["outcome"] == "ok"
    assert entry["user"] == {"oid": ALICE.oid, "tid": idp.tenant_id, "name": ALICE.name, "username": ALICE.username}


async def test_the_users_own_token_never_reaches_batch(
    entra_server: EntraServer, idp: IdentityProvider, batch: tuple[str, BatchGate]
) -> None:
    """Batch gets a token issued to the server's app for Batch, never the one the client sent."""
    gate = batch[1]
    before = len(gate.snapshot())
    async with signed_in(entra_server, idp.token(ALICE)) as client:
        assert not (await call(client, "pool_list", {})).is_error
    seen = gate.snapshot()[before:]
    assert seen and all(s.oid == ALICE.oid and s.status == 200 for s in seen)  # the gate accepts Batch tokens only


# -- tokens that are not for us: 401/403, and nothing reaches Batch ------------------------------------------


def bad_tokens(idp: IdentityProvider) -> dict[str, str]:
    forged = SigningKey(idp.keys[-1].kid, SigningKey.new().private)
    return {
        "expired": idp.token(ALICE, lifetime=-300),
        "wrong audience": idp.token(ALICE, audience="api://11111111-2222-4333-8444-555555555555"),
        "another resource (Batch)": idp.token(ALICE, audience=BATCH_RESOURCE),
        "wrong issuer": idp.token(ALICE, issuer="https://login.microsoftonline.com/other-tenant/v2.0"),
        "bad signature": idp.token(ALICE, key=forged),
        "unknown key": idp.token(ALICE, key=SigningKey.new()),
        "not a JWT": "not-a-token",
    }


async def test_invalid_tokens_get_401_with_the_metadata_and_nothing_reaches_batch(
    entra_server: EntraServer, idp: IdentityProvider, batch: tuple[str, BatchGate]
) -> None:
    gate = batch[1]
    before, exchanges = len(gate.snapshot()), len(idp.requests)
    call_tool = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "pool_list", "arguments": {}}}
    async with httpx2.AsyncClient(timeout=10) as http:
        for what, token in bad_tokens(idp).items():
            for body in (INIT, call_tool):
                reply = await http.post(
                    entra_server.url, json=body, headers={**JSON_HEADERS, "Authorization": f"Bearer {token}"}
                )
                assert reply.status_code == 401, (what, reply.status_code)
                challenge = reply.headers["www-authenticate"]
                assert challenge.startswith("Bearer ") and 'error="invalid_token"' in challenge, what
                assert f'scope="{idp.full_scope}"' in challenge
                assert 'resource_metadata="http://127.0.0.1:' in challenge
        missing = await http.post(entra_server.url, json=INIT, headers=JSON_HEADERS)
        files = await http.get(entra_server.base + "/files/jobs/j/tasks/t/files/stdout.txt")
    assert missing.status_code == 401 and "error=" not in missing.headers["www-authenticate"]
    assert files.status_code == 401
    assert len(gate.snapshot()) == before  # not one request reached Batch
    assert not [r for r in idp.requests[exchanges:] if r[0] == "obo"]  # nor was any token exchanged


async def test_the_401_says_why_the_token_was_refused(entra_server: EntraServer, idp: IdentityProvider) -> None:
    async with httpx2.AsyncClient(timeout=10) as http:
        expired = await http.post(
            entra_server.url,
            json=INIT,
            headers={**JSON_HEADERS, "Authorization": f"Bearer {idp.token(ALICE, lifetime=-300)}"},
        )
        other = await http.post(
            entra_server.url,
            json=INIT,
            headers={**JSON_HEADERS, "Authorization": f"Bearer {idp.token(ALICE, audience=BATCH_RESOURCE)}"},
        )
    assert 'error_description="the token has expired"' in expired.headers["www-authenticate"]
    assert "another resource" in other.headers["www-authenticate"]


async def test_a_token_that_expired_within_the_clock_skew_is_still_served(
    entra_server: EntraServer, idp: IdentityProvider
) -> None:
    async with httpx2.AsyncClient(timeout=10) as http:
        late = await http.post(
            entra_server.url,
            json=INIT,
            headers={**JSON_HEADERS, "Authorization": f"Bearer {idp.token(ALICE, lifetime=-10)}"},
        )
    assert late.status_code == 200


async def test_a_token_without_the_scope_gets_403_insufficient_scope(
    entra_server: EntraServer, idp: IdentityProvider, batch: tuple[str, BatchGate]
) -> None:
    gate = batch[1]
    before = len(gate.snapshot())
    async with httpx2.AsyncClient(timeout=10) as http:
        for token in (idp.token(ALICE, scopes="Files.Read"), idp.app_token()):
            reply = await http.post(
                entra_server.url, json=INIT, headers={**JSON_HEADERS, "Authorization": f"Bearer {token}"}
            )
            assert reply.status_code == 403
            challenge = reply.headers["www-authenticate"]
            assert 'error="insufficient_scope"' in challenge and f'scope="{idp.full_scope}"' in challenge
    assert len(gate.snapshot()) == before


async def test_the_protected_resource_metadata_names_the_tenant_and_the_scope(
    entra_server: EntraServer, idp: IdentityProvider
) -> None:
    async with httpx2.AsyncClient(timeout=10) as http:
        suffixed = await http.get(entra_server.base + "/.well-known/oauth-protected-resource/mcp")
        root = await http.get(entra_server.base + "/.well-known/oauth-protected-resource")
        refused = await http.post(entra_server.url, json=INIT, headers=JSON_HEADERS)
    assert suffixed.status_code == 200 and root.status_code == 200
    assert suffixed.json() == root.json()
    for document in (suffixed.json(), root.json()):
        assert document["resource"] == entra_server.url
        assert document["authorization_servers"] == [idp.issuer]
        assert document["scopes_supported"] == [idp.full_scope]
        assert document["bearer_methods_supported"] == ["header"]
    assert (
        f'resource_metadata="{entra_server.base}/.well-known/oauth-protected-resource/mcp"'
        in refused.headers["www-authenticate"]
    )


# -- Batch's own refusals reach the agent as clear errors -------------------------------------------------------


async def test_a_user_without_a_batch_role_is_told_which_permission_is_missing(
    entra_server: EntraServer, idp: IdentityProvider, batch: tuple[str, BatchGate]
) -> None:
    gate = batch[1]
    job = new_id("carol")
    async with signed_in(entra_server, idp.token(CAROL)) as client:
        listed = await call(client, "pool_list", {})
        added = await call(client, "job_add", {"id": job, "poolInfo": {"poolId": "local"}})
    assert listed.is_error and added.is_error
    assert "Batch refused Carol Clark (HTTP 403" in text(listed)
    assert "Microsoft.Batch/batchAccounts/pools/read" in text(listed) and "Azure Batch Account Reader" in text(listed)
    assert "Microsoft.Batch/batchAccounts/jobs/write" in text(added) and "Azure Batch Job Submitter" in text(added)
    assert "Traceback" not in text(added)
    assert {s.status for s in gate.by(CAROL.oid)} == {403}  # her calls were made as her, and refused
    entry = next(e for e in reversed(audit(entra_server)) if e["tool"] == "job_add" and e["arguments"]["id"] == job)
    assert entry["outcome"] == "error" and entry["user"]["oid"] == CAROL.oid


async def test_a_failed_on_behalf_of_exchange_is_a_clear_error_and_nothing_reaches_batch(
    entra_server: EntraServer, idp: IdentityProvider, batch: tuple[str, BatchGate]
) -> None:
    async with signed_in(entra_server, idp.token(DAVE)) as client:
        result = await call(client, "pool_list", {})
    assert result.is_error
    message = text(result)
    assert "on behalf of Dave Dunn" in message and "AADSTS65001" in message and "consent" in message
    assert batch[1].by(DAVE.oid) == []


# -- two users are kept apart -----------------------------------------------------------------------------------


async def test_one_users_session_cannot_be_used_with_another_users_token(
    entra_server: EntraServer, idp: IdentityProvider
) -> None:
    alice, bob = idp.token(ALICE), idp.token(BOB)
    async with httpx2.AsyncClient(timeout=10) as http:
        opened = await http.post(
            entra_server.url, json=INIT, headers={**JSON_HEADERS, "Authorization": f"Bearer {alice}"}
        )
        assert opened.status_code == 200
        session = opened.headers["mcp-session-id"]
        listing = {"jsonrpc": "2.0", "id": 3, "method": "tools/list"}
        as_bob = await http.post(
            entra_server.url,
            json=listing,
            headers={**JSON_HEADERS, "Authorization": f"Bearer {bob}", "Mcp-Session-Id": session},
        )
        as_alice = await http.post(
            entra_server.url,
            json={"jsonrpc": "2.0", "method": "notifications/initialized"},
            headers={**JSON_HEADERS, "Authorization": f"Bearer {alice}", "Mcp-Session-Id": session},
        )
    assert as_bob.status_code == 404  # as if the session did not exist
    assert as_alice.status_code == 202


async def test_a_confirmation_asked_of_one_user_cannot_be_answered_by_another(
    entra_server: EntraServer, idp: IdentityProvider
) -> None:
    job = new_id("shared")
    async with (
        signed_in(entra_server, idp.token(ALICE), elicitation_callback=answering(True)) as alice,
        signed_in(entra_server, idp.token(BOB), elicitation_callback=answering(True)) as bob,
    ):
        assert not (await call(alice, "job_add", {"id": job, "poolInfo": {"poolId": "local"}})).is_error
        asked = await alice.session.call_tool("job_delete", {"job_id": job}, allow_input_required=True)
        assert isinstance(asked, types.InputRequiredResult) and asked.request_state
        with pytest.raises(MCPError, match="requestState"):
            await bob.session.call_tool(
                "job_delete",
                {"job_id": job},
                input_responses=YES,
                request_state=asked.request_state,
                allow_input_required=True,
            )
        still = await call(alice, "job_get", {"job_id": job})
        assert not still.is_error and still.structured_content["state"] == "active"
        done = await alice.session.call_tool(
            "job_delete",
            {"job_id": job},
            input_responses=YES,
            request_state=asked.request_state,
            allow_input_required=True,
        )
        assert isinstance(done, types.CallToolResult) and not done.is_error, done
    deletes = [e for e in audit(entra_server) if e["tool"] == "job_delete" and e["arguments"] == {"job_id": job}]
    assert [e["user"]["oid"] for e in deletes if e["outcome"] == "ok"] == [ALICE.oid]


async def test_two_users_audit_entries_name_each_of_them(entra_server: EntraServer, idp: IdentityProvider) -> None:
    jobs = {ALICE.oid: new_id("a"), BOB.oid: new_id("b")}
    async with (
        signed_in(entra_server, idp.token(ALICE), "legacy") as alice,
        signed_in(entra_server, idp.token(BOB)) as bob,
        anyio.create_task_group() as group,
    ):
        for user, client in ((ALICE, alice), (BOB, bob)):
            group.start_soon(call, client, "job_add", {"id": jobs[user.oid], "poolInfo": {"poolId": "local"}})
    entries = {e["arguments"]["id"]: e for e in audit(entra_server) if e["tool"] == "job_add"}
    for user in (ALICE, BOB):
        entry = entries[jobs[user.oid]]
        assert entry["user"]["oid"] == user.oid and entry["user"]["name"] == user.name


async def test_each_user_watches_batch_as_themselves_and_hears_only_their_own_events(
    entra_server: EntraServer, idp: IdentityProvider, batch: tuple[str, BatchGate]
) -> None:
    gate = batch[1]
    job = new_id("watched")
    uri = f"batch://jobs/{job}"

    def polls(user: Any) -> list[Any]:
        return [s for s in gate.by(user.oid) if s.path == f"/jobs/{job}"]

    async with (
        signed_in(entra_server, idp.token(ALICE)) as alice,
        signed_in(entra_server, idp.token(BOB)) as bob,
        signed_in(entra_server, idp.token(CAROL)) as carol,
    ):
        assert not (await call(alice, "job_add", {"id": job, "poolInfo": {"poolId": "local"}})).is_error
        async with (
            alice.listen(resource_subscriptions=[uri]) as alice_events,
            bob.listen(resource_subscriptions=[uri]) as bob_events,
            carol.listen(resource_subscriptions=[uri]) as carol_events,
        ):
            assert alice_events.honored.resource_subscriptions == [uri]
            assert not carol_events.honored.resource_subscriptions  # Batch refuses her the job: not honored
            received: dict[str, list[str]] = {"alice": [], "bob": []}

            async def collect(name: str, events: Any) -> None:
                async for event in events:
                    if isinstance(event, ResourceUpdated):
                        received[name].append(event.uri)

            async with anyio.create_task_group() as group:
                group.start_soon(collect, "alice", alice_events)
                group.start_soon(collect, "bob", bob_events)
                assert polls(ALICE) and polls(BOB)  # a watcher each, polling as its own user
                changed = await call(alice, "job_update", {"job_id": job, "priority": 7})
                assert not changed.is_error, text(changed)
                with anyio.fail_after(30):
                    while not (received["alice"] and received["bob"]):  # noqa: ASYNC110 - events arrive on their own time
                        await anyio.sleep(0.05)
                group.cancel_scope.cancel()
    assert received == {"alice": [uri], "bob": [uri]}
    assert [s.status for s in polls(CAROL)] == [403]  # one probe as her, refused: no watcher polls for her


async def test_handshake_era_subscriptions_are_per_user_too(
    entra_server: EntraServer, idp: IdentityProvider, batch: tuple[str, BatchGate]
) -> None:
    job = new_id("subscribed")
    uri = f"batch://jobs/{job}"
    received: list[str] = []

    async def collect(message: Any) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            received.append(str(message.params.uri))

    async with (
        signed_in(entra_server, idp.token(ALICE), "legacy", message_handler=collect) as alice,
        signed_in(entra_server, idp.token(CAROL), "legacy") as carol,
    ):
        assert not (await call(alice, "job_add", {"id": job, "poolInfo": {"poolId": "local"}})).is_error
        with warnings.catch_warnings():  # resources/subscribe is how handshake-era clients subscribe
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            await alice.subscribe_resource(uri)
            with pytest.raises(MCPError) as refused:
                await carol.subscribe_resource(uri)
        assert "Batch refused Carol Clark" in str(refused.value)
        assert "Microsoft.Batch/batchAccounts/jobs/read" in str(refused.value)
        assert not (await call(alice, "job_update", {"job_id": job, "priority": 3})).is_error
        with anyio.fail_after(30):
            while not received:  # noqa: ASYNC110 - events arrive on their own time
                await anyio.sleep(0.05)
    assert received == [uri]
    assert [s.status for s in batch[1].by(CAROL.oid) if s.path == f"/jobs/{job}"] == [403]


async def test_one_user_cannot_take_every_watcher(
    idp: IdentityProvider, batch: tuple[str, BatchGate], tls: LoopbackTls, tmp_path: Path
) -> None:
    env = entra_env(idp, batch[0], tls, tmp_path, free_port()) | {
        "BATCH_MCP_MAX_WATCHERS": "3",
        "BATCH_MCP_MAX_WATCHERS_PER_USER": "2",
    }
    jobs = [new_id("capped") for _ in range(3)]
    with entra_process(env, tmp_path) as server:
        async with signed_in(server, idp.token(ALICE)) as alice, signed_in(server, idp.token(BOB)) as bob:
            for job in jobs:
                assert not (await call(alice, "job_add", {"id": job, "poolInfo": {"poolId": "local"}})).is_error
            uris = [f"batch://jobs/{job}" for job in jobs]
            with pytest.raises(MCPError) as refused:
                async with alice.listen(resource_subscriptions=uris):
                    pass
            assert "at most 2 resources can be watched at once by one user" in str(refused.value)
            async with alice.listen(resource_subscriptions=uris[:2]) as alice_events:
                assert alice_events.honored.resource_subscriptions == uris[:2]
                async with signed_in(server, idp.token(ALICE), "legacy") as alice_again:
                    with warnings.catch_warnings(), pytest.raises(MCPError) as also_refused:  # the other route
                        warnings.simplefilter("ignore", MCPDeprecationWarning)
                        await alice_again.subscribe_resource(uris[2])
                    assert "by one user" in str(also_refused.value)
                async with bob.listen(resource_subscriptions=[uris[2]]) as bob_events:  # room left for Bob
                    assert bob_events.honored.resource_subscriptions == [uris[2]]


async def test_the_file_endpoint_streams_as_the_signed_in_user(
    entra_server: EntraServer, idp: IdentityProvider, batch: tuple[str, BatchGate]
) -> None:
    job = new_id("files")
    async with signed_in(entra_server, idp.token(ALICE)) as client:
        assert not (await call(client, "job_add", {"id": job, "poolInfo": {"poolId": "local"}})).is_error
        added = await call(client, "task_add", {"job_id": job, "id": "t1", "commandLine": "/bin/sh -c 'echo hello'"})
        assert not added.is_error, text(added)
        with anyio.fail_after(60):
            while True:
                task = await call(client, "task_get", {"job_id": job, "task_id": "t1"})
                if task.structured_content.get("state") == "completed":
                    break
                await anyio.sleep(0.1)
    path = f"/files/jobs/{job}/tasks/t1/files/stdout.txt"
    async with httpx2.AsyncClient(timeout=30) as http:
        as_alice = await http.get(entra_server.base + path, headers={"Authorization": f"Bearer {idp.token(ALICE)}"})
        as_carol = await http.get(entra_server.base + path, headers={"Authorization": f"Bearer {idp.token(CAROL)}"})
        no_scope = await http.get(
            entra_server.base + path, headers={"Authorization": f"Bearer {idp.token(ALICE, scopes='Files.Read')}"}
        )
    assert as_alice.status_code == 200 and as_alice.text.strip() == "hello"
    assert as_carol.status_code == 403 and "hello" not in as_carol.text
    assert no_scope.status_code == 403
    assert any(s.path.endswith("/stdout.txt") for s in batch[1].by(CAROL.oid))
