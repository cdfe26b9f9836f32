"""Subscriptions through `mcp.Client` against the emulator: a task's completion and a growing stdout
reach the client in both protocol eras (`resources/subscribe` and `subscriptions/listen`), watchers
are shared, capped, and end with their last subscriber, even one that just disconnects."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import anyio
import mcp
import mcp_types as types
import pytest
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError

from batch_mcp.server.resources import FILE_META_KEY
from tests.server.conftest import call, text
from tests.server.resources.conftest import Served, Updates, http_serve, idle_pool, serve, watchers_settle

pytestmark = pytest.mark.anyio

TASK = "batch://jobs/j1/tasks/t1"
STDOUT = "batch://jobs/j1/tasks/t1/files/stdout.txt"


async def start_task_on_idle_pool(client: mcp.Client, command: str) -> None:
    """j1/t1 on a pool with no nodes: the task waits (active) until `resize` gives the pool a node."""
    await idle_pool(client, "p0")
    assert not (await call(client, "job_add", {"id": "j1", "poolInfo": {"poolId": "p0"}})).is_error
    result = await call(client, "task_add", {"job_id": "j1", "id": "t1", "commandLine": command})
    assert not result.is_error, text(result)


async def resize(client: mcp.Client) -> None:
    result = await call(client, "pool_resize", {"pool_id": "p0", "targetDedicatedNodes": 1})
    assert not result.is_error, text(result)


@pytest.mark.parametrize("api_version", ["2018-08-01.7.0", "2024-02-01.19.0"])
async def test_a_task_subscriber_is_told_when_the_task_completes(tmp_path: Path, era: str, api_version: str) -> None:
    async with serve(tmp_path, era, api_version=api_version) as served:
        client = served.client
        await start_task_on_idle_pool(client, "/bin/sh -c 'echo done'")
        async with served.watch(TASK) as next_update:
            assert len(served.events.pool) == 1
            await resize(client)
            states = []
            with anyio.fail_after(30):
                while not states or states[-1] != "completed":
                    assert await next_update() == TASK
                    states.append(json.loads((await client.read_resource(TASK)).contents[0].text)["state"])
        assert states[-1] == "completed"
        await watchers_settle(served.events)  # unsubscribed / stream closed: the watcher is gone


@pytest.mark.parametrize("api_version", ["2018-08-01.7.0", "2024-02-01.19.0"])
async def test_a_stdout_subscriber_is_told_as_the_file_grows(tmp_path: Path, era: str, api_version: str) -> None:
    async with serve(tmp_path, era, api_version=api_version) as served:
        client = served.client
        await start_task_on_idle_pool(client, "/bin/sh -c 'while true; do echo tick; sleep 0.2; done'")
        async with served.watch(STDOUT) as next_update:  # the file does not exist yet: the task has not started
            await resize(client)
            sizes: list[int] = []
            with anyio.fail_after(30):
                while len(sizes) < 3:
                    assert await next_update() == STDOUT
                    window = (await client.read_resource(STDOUT + "?tail=1")).contents[0]
                    assert window.text in ("", "tick\n")
                    sizes.append(window.meta[FILE_META_KEY]["size"])
        assert sizes == sorted(sizes) and sizes[-1] > sizes[0]  # each update saw a longer file
        await call(client, "task_terminate", {"job_id": "j1", "task_id": "t1"})


async def test_a_listen_stream_is_acknowledged_for_the_batch_uris_it_asked_for_only(tmp_path: Path) -> None:
    async with serve(tmp_path, "2026-07-28") as served:
        asked = [TASK, "https://example.com/x", "batch://accounts/a", "batch://jobs/j1"]
        async with served.client.listen(resource_subscriptions=asked) as subscription:
            assert subscription.honored.resource_subscriptions == [TASK, "batch://jobs/j1"]
            assert set(served.events.pool.watchers) == {"batch://jobs/j1", TASK}
        await watchers_settle(served.events)


async def test_subscribers_of_one_resource_share_its_watcher_until_the_last_leaves(tmp_path: Path) -> None:
    async with serve(tmp_path, "2026-07-28") as served:
        client = served.client
        async with client.listen(resource_subscriptions=[TASK]):
            async with client.listen(resource_subscriptions=[TASK, "batch://pools/local"]):
                assert set(served.events.pool.watchers) == {"batch://pools/local", TASK}
                assert len(served.events.pool.watchers[TASK].leases) == 2
            await watchers_settle(served.events, 1)
            assert list(served.events.pool.watchers) == [TASK]


async def test_a_handshake_era_unsubscribe_stops_the_watcher(tmp_path: Path) -> None:
    async with serve(tmp_path, "legacy") as served:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            await served.client.subscribe_resource(TASK)
            await served.client.subscribe_resource(TASK)  # twice from one connection is one subscription
            assert len(served.events.pool.watchers[TASK].leases) == 1
            await served.client.unsubscribe_resource(TASK)
        assert len(served.events.pool) == 0


async def test_subscribing_to_something_that_is_not_a_batch_resource_is_invalid_params(tmp_path: Path) -> None:
    async with serve(tmp_path, "legacy") as served:
        with warnings.catch_warnings(), pytest.raises(MCPError) as caught:
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            await served.client.subscribe_resource("batch://jobs/j1/oops")
        assert caught.value.error.code == types.INVALID_PARAMS


async def test_the_watcher_cap_refuses_a_new_resource_in_both_eras(tmp_path: Path, era: str) -> None:
    async with serve(tmp_path, era, max_watchers=2) as served:
        client = served.client
        if era == "legacy":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", MCPDeprecationWarning)
                await client.subscribe_resource("batch://jobs/a")
                await client.subscribe_resource("batch://jobs/b")
                with pytest.raises(MCPError) as caught:
                    await client.subscribe_resource("batch://jobs/c")
                await client.subscribe_resource("batch://jobs/a?")  # another spelling of a watched one is fine
        else:
            with pytest.raises(MCPError) as caught:
                async with client.listen(resource_subscriptions=["batch://jobs/a", "batch://jobs/b", "batch://jobs/c"]):
                    pass
        assert caught.value.error.code == types.INVALID_REQUEST
        assert "at most 2" in caught.value.error.message
        assert len(served.events.pool) == (2 if era == "legacy" else 0)  # a refused listen holds nothing


async def test_a_handshake_era_client_that_disconnects_without_unsubscribing_leaves_no_watcher(tmp_path: Path) -> None:
    async with http_serve(tmp_path) as served:
        async with (
            served.http(served.token) as http,
            mcp.Client(streamable_http_client(served.base + "/mcp", http_client=http), mode="legacy") as client,
        ):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", MCPDeprecationWarning)
                await client.subscribe_resource("batch://pools/local")
                await client.subscribe_resource(TASK)
            assert len(served.events.pool) == 2
        await watchers_settle(served.events)


async def test_updates_reach_a_client_over_streamable_http_in_both_eras(tmp_path: Path, era: str) -> None:
    async with http_serve(tmp_path) as http_served:
        updates = Updates()
        async with (
            http_served.http(http_served.token) as http,
            mcp.Client(
                streamable_http_client(http_served.base + "/mcp", http_client=http), mode=era, message_handler=updates
            ) as client,
        ):
            served = Served(client, http_served.ref, updates, era)
            await start_task_on_idle_pool(client, "/bin/true")
            async with served.watch(TASK) as next_update:
                await resize(client)
                with anyio.fail_after(30):
                    assert await next_update() == TASK
