"""Authentication: Shared Key signatures checked against the official SDK (azure-batch 15.1.0) in both
directions, Entra ID token handling, and choosing a credential from settings."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel
import httpx2
import pytest
from azure.batch import BatchClient as SdkClient
from azure.batch import models
from azure.batch._patch import BatchSharedKeyAuthPolicy
from azure.core import MatchConditions
from azure.core.credentials import AccessToken, AzureNamedKeyCredential
from azure.core.exceptions import ClientAuthenticationError
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest import HttpRequest as SdkRequest

from batch_mcp.batch import (
    BATCH_SCOPE,
    BatchAuthError,
    BatchClient,
    BatchSettings,
    EntraIdAuth,
    SharedKeyAuth,
    connect,
    make_auth,
)
from batch_mcp.catalog import Catalog
from tests.batch.conftest import FakeTime
from tests.batch.fakebatch import ENDPOINT

ACCOUNT = "sdkaccount"
KEY = "dGhpcyBpcyBub3QgYSByZWFsIGJhdGNoIGFjY291bnQga2V5IQ=="
WHEN = datetime.datetime(2026, 11, 25, 17, 14, 36, tzinfo=datetime.UTC)

# -- Shared Key against the official SDK ------------------------------------------------------------


class _Captured(Exception):
    def __init__(self, request: Any) -> None:
        self.request = request


class _CaptureTransport(HttpTransport):
    """Stops the SDK's pipeline at the wire and hands back the signed request."""

    def __enter__(self) -> _CaptureTransport:
        return self

    def __exit__(self, *args: object) -> None:
        pass

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def send(self, request: Any, **kwargs: Any) -> Any:
        raise _Captured(request)


def _sdk_request(call: Callable[[SdkClient], Any]) -> Any:
    sdk = SdkClient("http://127.0.0.1:7357", AzureNamedKeyCredential(ACCOUNT, KEY), transport=_CaptureTransport())
    try:
        result = call(sdk)
        if hasattr(result, "__next__"):
            next(result)
        elif hasattr(result, "result"):
            result.result()
    except _Captured as captured:
        return captured.request
    raise AssertionError("the SDK sent nothing")


SDK_CALLS: dict[str, Callable[[SdkClient], Any]] = {
    "GET with $filter, $select and maxresults": lambda c: c.list_jobs(
        filter="state eq 'active' and priority gt 10", select=["id", "state"], max_results=10
    ),
    "POST with a JSON body": lambda c: c.create_job(
        models.BatchJobCreateOptions(id="job-1", pool_info=models.BatchPoolInfo(pool_id="pool-1"), display_name="été"),
        ocp_date=WHEN,
    ),
    "GET with If-Modified-Since and If-None-Match": lambda c: c.get_job(
        "job-1", if_modified_since=WHEN, etag="0x8D4EDFEBFADF4AB", match_condition=MatchConditions.IfModified
    ),
    "DELETE with If-Match and If-Unmodified-Since": lambda c: c.begin_delete_job(
        "job-1", etag="0x8D4EDFEBFADF4AB", match_condition=MatchConditions.IfNotModified, if_unmodified_since=WHEN
    ),
    "POST with a body and If-Match": lambda c: c.begin_resize_pool(
        "pool-1",
        models.BatchPoolResizeOptions(target_dedicated_nodes=3),
        etag="0x8D",
        match_condition=MatchConditions.IfNotModified,
    ),
    "ranged GET of a file with a space in its path": lambda c: c.download_task_file(
        "job-1", "task-1", "wd/out file.txt", ocp_range="bytes=0-99"
    ),
    "HEAD of file properties": lambda c: c.get_task_file_properties("job-1", "task-1", "stdout.txt", ocp_date=WHEN),
    "POST without a body": lambda c: c.enable_job_schedule("sched-1"),
}


@pytest.mark.parametrize("case", sorted(SDK_CALLS))
def test_shared_key_signs_sdk_requests_exactly_as_the_sdk_does(case: str) -> None:
    sdk_request = _sdk_request(SDK_CALLS[case])
    headers = {k: v for k, v in sdk_request.headers.items() if k.lower() != "authorization"}
    body = sdk_request.body
    content = body.encode("utf-8") if isinstance(body, str) else body
    request = httpx2.Request(sdk_request.method, sdk_request.url, headers=headers, content=content)
    flow = SharedKeyAuth(ACCOUNT, KEY).sync_auth_flow(request)
    signed = next(flow)
    assert signed.headers["Authorization"] == sdk_request.headers["Authorization"]


@pytest.mark.anyio
async def test_the_executor_requests_carry_the_signature_the_sdk_computes_for_them(catalog: Catalog) -> None:
    """Our own requests (our headers, our path encoding, our query encoding), signed by the SDK's policy."""
    sent: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        sent.append(request)
        return httpx2.Response(200, json={"value": []})

    async with BatchClient(
        catalog, "http://127.0.0.1:7357", auth=SharedKeyAuth(ACCOUNT, KEY), transport=httpx2.MockTransport(handler)
    ) as client:
        await client.list(
            "job_list", {"filter": "state eq 'active' and id ne 'a+b'", "select": "id,state"}, max_items=5
        )
        await client.call("job_add", {"id": "job-1", "poolInfo": {"poolId": "pool-1"}, "displayName": "été"})
        await client.call("pool_resize", {"pool_id": "pool-1", "if_match": "0x8D", "targetDedicatedNodes": 3})
        await client.call("pool_get", {"pool_id": "p"}, headers={"If-None-Match": "0x8D", "If-Modified-Since": "x"})
        await client.call("task_file_delete", {"job_id": "j", "task_id": "t", "file_path": "wd/a b", "recursive": True})
        await client.call("task_file_get_properties", {"job_id": "j", "task_id": "t", "file_path": "std out.txt"})
        await client.call("job_delete", {"job_id": "job-1"})
        async with client.open_stream(
            "task_file_get", {"job_id": "j", "task_id": "t", "file_path": "d/e f"}, byte_range=(5, 9)
        ):
            pass
    policy = BatchSharedKeyAuthPolicy(AzureNamedKeyCredential(ACCOUNT, KEY))
    assert len(sent) == 8
    for request in sent:
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        sdk = PipelineRequest(SdkRequest(request.method, str(request.url), headers=headers), context=None)  # type: ignore[arg-type]
        policy.on_request(sdk)
        assert request.headers["Authorization"] == sdk.http_request.headers["Authorization"], request.url


def test_shared_key_adds_ocp_date_when_missing_and_never_shows_the_key() -> None:
    auth = SharedKeyAuth(ACCOUNT, KEY, now=lambda: "Wed, 25 Nov 2026 17:14:36 GMT")
    signed = next(auth.sync_auth_flow(httpx2.Request("GET", "https://a.b/pools?api-version=1")))
    assert signed.headers["ocp-date"] == "Wed, 25 Nov 2026 17:14:36 GMT"
    assert signed.headers["Authorization"].startswith(f"SharedKey {ACCOUNT}:")
    assert KEY not in repr(auth) and KEY not in str(vars(auth).get("credential_name"))


def test_an_unusable_key_is_reported_without_echoing_it() -> None:
    with pytest.raises(BatchAuthError) as caught:
        SharedKeyAuth(ACCOUNT, "not base64 at all!!")
    assert "not valid base64" in str(caught.value) and "not base64 at all" not in str(caught.value)
    assert "AZURE_BATCH_ACCESS_KEY" in str(caught.value)


# -- Entra ID ---------------------------------------------------------------------------------------


class FakeCredential:
    def __init__(self, lifetime: float = 3600.0, clock: Callable[[], float] | None = None) -> None:
        self.scopes: list[tuple[str, ...]] = []
        self.lifetime = lifetime
        self.clock = clock or (lambda: 0.0)
        self.closed = False

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        await anyio.lowlevel.checkpoint()  # let concurrent callers pile up on the lock
        return AccessToken(f"token-number-{len(self.scopes)}", int(self.clock() + self.lifetime))

    async def close(self) -> None:
        self.closed = True


class FailingCredential:
    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        raise ClientAuthenticationError(
            "DefaultAzureCredential failed to retrieve a token from the included credentials."
        )


def _entra_client(catalog: Catalog, auth: EntraIdAuth, handler: Any, endpoint: str = ENDPOINT) -> BatchClient:
    return BatchClient(catalog, endpoint, auth=auth, transport=httpx2.MockTransport(handler), retry=FakeTime().policy())


def _ok(seen: list[str]) -> Callable[[httpx2.Request], httpx2.Response]:
    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.headers["Authorization"])
        return httpx2.Response(200, json={"id": "p"})

    return handler


@pytest.mark.anyio
async def test_a_token_is_fetched_once_for_the_batch_scope_and_reused(catalog: Catalog) -> None:
    credential = FakeCredential()
    auth = EntraIdAuth(credential, clock=lambda: 0.0)
    seen: list[str] = []
    async with _entra_client(catalog, auth, _ok(seen)) as client, anyio.create_task_group() as group:
        for _ in range(10):
            group.start_soon(client.call, "pool_get", {"pool_id": "p"})
    assert credential.scopes == [(BATCH_SCOPE,)] and BATCH_SCOPE == "https://batch.core.windows.net//.default"
    assert seen == ["Bearer token-number-1"] * 10


@pytest.mark.anyio
async def test_a_token_is_refreshed_five_minutes_before_it_expires(catalog: Catalog) -> None:
    now = [0.0]
    credential = FakeCredential(lifetime=3600, clock=lambda: now[0])
    seen: list[str] = []
    async with _entra_client(catalog, EntraIdAuth(credential, clock=lambda: now[0]), _ok(seen)) as client:
        await client.call("pool_get", {"pool_id": "p"})
        now[0] = 3600 - 301
        await client.call("pool_get", {"pool_id": "p"})
        now[0] = 3600 - 299
        await client.call("pool_get", {"pool_id": "p"})
    assert seen == ["Bearer token-number-1", "Bearer token-number-1", "Bearer token-number-2"]


@pytest.mark.anyio
async def test_a_401_gets_one_fresh_token_and_one_retry(catalog: Catalog) -> None:
    credential = FakeCredential()
    seen: list[str] = []
    statuses = [401, 200, 401, 401]

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.headers["Authorization"])
        return httpx2.Response(statuses.pop(0), json={"id": "p"})

    async with _entra_client(catalog, EntraIdAuth(credential, clock=lambda: 0.0), handler) as client:
        assert (await client.call("pool_get", {"pool_id": "p"})).data == {"id": "p"}
        assert seen == ["Bearer token-number-1", "Bearer token-number-2"]
        seen.clear()
        with pytest.raises(BatchAuthError) as caught:
            await client.call("pool_get", {"pool_id": "p"})  # 401, then 401 again
    assert seen == ["Bearer token-number-2", "Bearer token-number-3"]
    assert "Microsoft Entra ID (FakeCredential)" in str(caught.value) and "token-number" not in str(caught.value)


@pytest.mark.anyio
async def test_a_credential_that_cannot_get_a_token_says_what_to_set(catalog: Catalog) -> None:
    async with _entra_client(catalog, EntraIdAuth(FailingCredential()), _ok([])) as client:
        with pytest.raises(BatchAuthError) as caught:
            await client.call("pool_get", {"pool_id": "p"})
    text = str(caught.value)
    assert "Microsoft Entra ID (FailingCredential)" in text and "az login" in text and "AZURE_BATCH_ACCESS_KEY" in text


@pytest.mark.anyio
async def test_bearer_tokens_are_never_sent_over_plain_http(catalog: Catalog) -> None:
    credential = FakeCredential()
    async with _entra_client(catalog, EntraIdAuth(credential), _ok([]), endpoint="http://127.0.0.1:1") as client:
        with pytest.raises(BatchAuthError):
            await client.call("pool_get", {"pool_id": "p"})
    assert credential.scopes == []


# -- choosing a credential --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_connect_picks_the_credential_from_the_settings(catalog: Catalog) -> None:
    azure = "https://myaccount.westeurope.batch.azure.com"
    async with connect(catalog, azure, key=KEY) as client:
        assert isinstance(client._auth, SharedKeyAuth) and client._auth.account == "myaccount"
    async with connect(catalog, azure, credential=FakeCredential()) as client:  # type: ignore[arg-type]
        assert isinstance(client._auth, EntraIdAuth)
    async with connect(catalog, "http://127.0.0.1:8123") as client:
        assert client._auth is None
    async with connect(catalog, "myaccount.westeurope.batch.azure.com", auth_kind="entra", credential="cli") as client:
        assert isinstance(client._auth, EntraIdAuth) and client.endpoint == azure


@pytest.mark.anyio
async def test_make_auth_builds_owned_azure_identity_credentials_and_closes_them() -> None:
    auth = make_auth("entra", credential="default")
    assert isinstance(auth, EntraIdAuth) and type(auth._credential).__name__ == "DefaultAzureCredential"
    await auth.aclose()
    assert make_auth("none") is None
    with pytest.raises(BatchAuthError):
        make_auth("shared_key", account="a")
    with pytest.raises(BatchAuthError):
        make_auth("entra", credential="carrier-pigeon")  # type: ignore[arg-type]


def test_settings_come_from_the_azure_cli_variables_and_hide_the_key() -> None:
    settings = BatchSettings.from_environment(
        {
            "AZURE_BATCH_ENDPOINT": "https://a.b.batch.azure.com",
            "AZURE_BATCH_ACCOUNT": "a",
            "AZURE_BATCH_ACCESS_KEY": KEY,
        }
    )
    assert (settings.endpoint, settings.account, settings.key) == ("https://a.b.batch.azure.com", "a", KEY)
    assert KEY not in repr(settings)
