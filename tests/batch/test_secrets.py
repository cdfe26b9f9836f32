"""With a canary account key, bearer token and SAS signature in play, none of them appears in logs,
results or error texts, even when the service echoes them back."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import httpx2
import pytest
from azure.core.credentials import AccessToken

from batch_mcp.batch import BatchClient, BatchError, EntraIdAuth, SharedKeyAuth
from batch_mcp.catalog import Catalog
from tests.batch.conftest import FakeTime
from tests.batch.fakebatch import ENDPOINT, batch_error

pytestmark = pytest.mark.anyio

CANARY_KEY = base64.b64encode(b"canary-account-key-0123456789abcdef").decode()
CANARY_TOKEN = "eyCanaryBearerToken.0123456789.abcdefghij"
CANARY_SIG = "CanarySasSignature0123456789abcdef%3D"
SAS_URL = f"https://store.blob.core.windows.net/in/data.csv?sv=2022-11-02&sr=b&sig={CANARY_SIG}"
CANARIES = (CANARY_KEY, CANARY_TOKEN, CANARY_SIG)


class CanaryCredential:
    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(CANARY_TOKEN, 2**31)


def echoing_service(request: httpx2.Request) -> httpx2.Response:
    """A service that repeats secrets back: in task bodies, error messages and error details."""
    path = request.url.path
    auth = request.headers.get("Authorization", "")
    if path.endswith("/denied"):
        return batch_error(403, "AuthenticationFailed", f"Refused {auth}", [{"key": "Authorization", "value": auth}])
    if request.method == "POST":
        return batch_error(
            400, "InvalidPropertyValue", f"Cannot read {SAS_URL}", [{"key": "PropertyValue", "value": SAS_URL}]
        )
    task = {"id": "t1", "resourceFiles": [{"httpUrl": SAS_URL, "filePath": "data.csv"}], "note": f"by {auth}"}
    if path.endswith("/tasks"):
        return httpx2.Response(200, json={"value": [task]})
    return httpx2.Response(200, json=task)


@pytest.mark.parametrize("which", ["shared_key", "entra"])
async def test_no_secret_reaches_logs_results_or_errors(
    catalog: Catalog, which: str, caplog: pytest.LogCaptureFixture
) -> None:
    auth: httpx2.Auth = SharedKeyAuth("acct", CANARY_KEY) if which == "shared_key" else EntraIdAuth(CanaryCredential())
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    async with BatchClient(
        catalog, ENDPOINT, auth=auth, transport=httpx2.MockTransport(echoing_service), retry=FakeTime().policy()
    ) as client:
        texts.append(json.dumps((await client.call("task_get", {"job_id": "j", "task_id": "t1"})).data))
        texts.append(json.dumps((await client.list("task_list", {"job_id": "j"}, max_items=5)).items))
        texts.extend([json.dumps(item) async for item in client.iter_items("task_list", {"job_id": "j"})])
        for tool, args in [
            ("task_add", {"job_id": "j", "id": "t2", "commandLine": "x", "resourceFiles": [{"httpUrl": SAS_URL}]}),
            ("job_get", {"job_id": "denied"}),
        ]:
            with pytest.raises(BatchError) as caught:
                await client.call(tool, args)
            texts += [str(caught.value), repr(caught.value), json.dumps(caught.value.to_dict())]
        texts.append(repr(auth))
    texts.append(caplog.text)
    assert len(texts) == 11 and "GET /jobs/j/tasks/t1 -> 200" in caplog.text  # the calls were logged ...
    assert any("resourceFiles" in text for text in texts)  # ... the results are really there ...
    for text in texts:
        for canary in CANARIES:
            assert canary not in text  # ... without the secrets


def test_the_servers_log_lines_mask_registered_secrets_and_sas_signatures() -> None:
    from batch_mcp.redaction import RedactingFormatter, register_secret

    register_secret(CANARY_TOKEN)
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "retrying %s with %s", (SAS_URL, CANARY_TOKEN), None)
    line = RedactingFormatter("%(message)s").format(record)
    assert CANARY_SIG not in line and CANARY_TOKEN not in line and "sig=***" in line


def test_a_jwt_anywhere_in_a_text_is_masked() -> None:
    """Entra ID tokens (each user's, and those obtained on their behalf) are never registered one by one."""
    from batch_mcp.redaction import redact_text

    token = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJvaWQiOiI2ZDFjN2YzZSIsInRpZCI6Ijcy" + "In0.c2lnbmF0dXJlLWJ5dGVz"
    text = redact_text(f"AADSTS50013: Assertion failed signature validation: {token} (trace 1)")
    assert token not in text and "eyJ" not in text and "trace 1" in text
