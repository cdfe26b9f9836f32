"""The execution policy holds when the server reaches the local emulator as an endpoint.

A developer runs `batch-mcp emulator` and points `batch-mcp` at it (`AZURE_BATCH_ENDPOINT=http://127.0.0.1:8089`
with the development account): tasks then run on this computer exactly as with the embedded emulator,
so a call bringing a new command line must ask (or the emulator must sandbox it). The emulator says
how it runs tasks at `GET /.emulator` (signed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch_mcp.emulator import EmbeddedEmulator, EmulatorConfig
from batch_mcp.emulator.config import DEV_ACCOUNT_KEY, DEV_ACCOUNT_NAME
from tests.server.conftest import answering, call, connect, make_settings, text

pytestmark = pytest.mark.anyio

EVIL = "/bin/sh -c 'echo owned > $HOME/owned'"


async def test_a_standalone_emulator_endpoint_without_a_sandbox_asks_before_running_a_command(
    tmp_path: Path,
) -> None:
    config = EmulatorConfig(
        data_dir=":memory:",
        account_name=DEV_ACCOUNT_NAME,
        account_key=DEV_ACCOUNT_KEY,
        seed_pool=True,
        transition_delay=0.01,
    )
    said_no = answering(False)
    async with EmbeddedEmulator(config) as emulator:
        settings = make_settings(
            tmp_path,
            endpoint=emulator.url,
            account=DEV_ACCOUNT_NAME,
            access_key=DEV_ACCOUNT_KEY,
            emulator_exec="confirm",
        )
        async with connect(settings, "legacy", elicitation=said_no) as client:
            assert not (await call(client, "job_add", {"id": "j", "poolInfo": {"poolId": "local"}})).is_error
            result = await call(client, "task_add", {"job_id": "j", "id": "t", "commandLine": EVIL})
            missing = await call(client, "task_get", {"job_id": "j", "task_id": "t"})
    assert len(said_no.questions) == 1 and EVIL in said_no.questions[0], (said_no.questions, text(result))
    assert missing.is_error


async def test_an_endpoint_that_is_not_an_emulator_is_azure_for_good_after_one_probe() -> None:
    """Azure Batch runs command lines on its own machines: it answers the probe with an error and is
    not asked again; an emulator is read on every refresh; no answer means "cannot say" for now."""
    import httpx2

    from batch_mcp.batch import BatchClient
    from batch_mcp.catalog import load_catalog
    from batch_mcp.server.backend import EndpointProbe

    answers = {"kind": "azure"}
    probes: list[str] = []

    def batch(request: httpx2.Request) -> httpx2.Response:
        probes.append(request.url.path)
        if answers["kind"] == "down":
            raise httpx2.ConnectError("refused", request=request)
        if answers["kind"] == "emulator":
            return httpx2.Response(200, json={"pid": 1, "isolation": "none"})
        return httpx2.Response(400, json={"code": "InvalidUri", "message": {"value": "no such path"}})

    catalog = load_catalog("2024-02-01.19.0")
    for kind, expected, calls in (("azure", None, 1), ("emulator", "none", 2), ("down", None, 2)):
        answers["kind"], probes[:] = kind, []
        transport = httpx2.MockTransport(batch)
        async with BatchClient(catalog, "https://acct.westeurope.batch.azure.com", transport=transport) as client:
            probe = EndpointProbe(client)
            await probe.refresh()
            await probe.refresh()
        assert (probe.isolation(), len(probes)) == (expected, calls), kind
