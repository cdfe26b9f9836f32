"""Secrets in name/value lists are masked in results, errors and the audit log.

A task's `environmentSettings` (and a job's, a pool's start task's, metadata, ...) is where
secrets end up in practice: `DB_PASSWORD`, `API_TOKEN`, `STORAGE_CONNECTION_STRING`. Their names
say so; their values must never reach the model, the operator's terminal or the audit log.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest

from batch_mcp.redaction import is_secret_name, redact
from tests.security.conftest import batch_reply, scripted_server
from tests.server.conftest import call, text

pytestmark = pytest.mark.anyio

CANARIES = {
    "DB_PASSWORD": "canary-db-password-1",
    "apiToken": "canary-api-token-2",
    "STORAGE_CONNECTION_STRING": "canary-connection-string-3",
    "SAS_URL": "canary-sas-url-4",
    "STORAGE_KEY": "canary-storage-key-5",
    "clientSecret": "canary-client-secret-6",
}
ENVIRONMENT = [{"name": k, "value": v} for k, v in CANARIES.items()] + [{"name": "PATH", "value": "/usr/bin:/bin"}]


def leaked(blob: str) -> list[str]:
    return [v for v in CANARIES.values() if v in blob]


async def test_secrets_in_a_tasks_environment_never_reach_the_model(tmp_path: Path) -> None:
    task = {"id": "t1", "state": "active", "commandLine": "run", "environmentSettings": ENVIRONMENT}

    def batch(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json=task)

    async with scripted_server(tmp_path, batch) as client:
        result = await call(client, "task_get", {"job_id": "j", "task_id": "t1"})
    assert not result.is_error
    shown = text(result) + json.dumps(result.structured_content)
    assert leaked(shown) == []
    assert "/usr/bin:/bin" in shown  # what is not a secret is still shown


async def test_secrets_sent_in_a_request_stay_out_of_errors_and_the_audit_log(tmp_path: Path) -> None:
    def batch(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        quoted = "; ".join(f"{e['name']}={e['value']}" for e in body["environmentSettings"])
        return batch_reply(
            400,
            "InvalidPropertyValue",
            f"The environment is invalid: {quoted}",
            [{"key": e["name"], "value": e["value"]} for e in body["environmentSettings"]],
        )

    args: dict[str, Any] = {"job_id": "j", "id": "t1", "commandLine": "run", "environmentSettings": ENVIRONMENT}
    async with scripted_server(tmp_path, batch) as client:
        result = await call(client, "task_add", args)
    assert result.is_error and "InvalidPropertyValue" in text(result)
    assert leaked(text(result)) == []
    audit = (tmp_path / "audit.jsonl").read_text(encoding="utf-8")
    assert "task_add" in audit and leaked(audit) == []


@pytest.mark.parametrize(
    "name",
    [
        "DB_PASSWORD",
        "dbPassword",
        "API_TOKEN",
        "apiKey",
        "APIKey",
        "STORAGE_CONNECTION_STRING",
        "SAS_URL",
        "pwd",
        "ClientSecret",
        "AZURE_STORAGE_KEY",
        "AccessKey",
        "Authorization",
        "Proxy-Authorization",
        "Cookie",
        "AUTH_HEADER",
    ],
)
def test_names_that_say_secret_are_secret(name: str) -> None:
    assert is_secret_name(name)
    assert redact([{"name": name, "value": "s3cr3t"}]) == [{"name": name, "value": "***"}]


@pytest.mark.parametrize(
    "name", ["PATH", "HOME", "JOB_NAME", "MONKEY_COUNT", "REGION", "AUTHOR", "x-ms-blob-content-type"]
)
def test_ordinary_names_are_left_alone(name: str) -> None:
    assert not is_secret_name(name)


def test_a_connection_string_loses_its_key_wherever_it_appears() -> None:
    value = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=canaryKey0123==;EndpointSuffix=core"
    assert "canaryKey0123" not in redact({"note": value})["note"]


async def test_a_secret_of_the_wrong_type_is_not_echoed_in_the_validation_error(tmp_path: Path) -> None:
    def batch(request: httpx2.Request) -> httpx2.Response:
        raise AssertionError("nothing may be sent")

    environment = [{"name": "DB_PASSWORD", "value": 987654321}]
    async with scripted_server(tmp_path, batch) as client:
        result = await call(
            client, "task_add", {"job_id": "j", "id": "t", "commandLine": "x", "environmentSettings": environment}
        )
    assert result.is_error and "$.environmentSettings[0].value" in text(result)
    assert "987654321" not in text(result)


# Credentials that hide in plain fields: a URL's user:password, a header sent with uploaded files.
URL_PASSWORD = "canary-url-password-7"
HEADER_CREDENTIAL = "Y2FuYXJ5LWJhc2ljLWNyZWRlbnRpYWwtOA=="
COOKIE = "session=canary-cookie-9"
TASK_WITH_CREDENTIALS: dict[str, Any] = {
    "id": "t1",
    "state": "active",
    "commandLine": "run",
    "resourceFiles": [{"httpUrl": f"https://builder:{URL_PASSWORD}@artifacts.example.com/tool.tgz", "filePath": "t"}],
    "outputFiles": [
        {
            "filePattern": "out/*",
            "destination": {
                "container": {
                    "containerUrl": "https://store.example.com/out",
                    "uploadHeaders": [
                        {"name": "Authorization", "value": f"Basic {HEADER_CREDENTIAL}"},
                        {"name": "Cookie", "value": COOKIE},
                        {"name": "x-ms-blob-content-type", "value": "text/plain"},
                    ],
                }
            },
            "uploadOptions": {"uploadCondition": "taskcompletion"},
        }
    ],
}


def credentials_in(blob: str) -> list[str]:
    return [v for v in (URL_PASSWORD, HEADER_CREDENTIAL, COOKIE) if v in blob]


async def test_credentials_in_urls_and_upload_headers_never_reach_the_model(tmp_path: Path) -> None:
    def batch(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json=TASK_WITH_CREDENTIALS)

    async with scripted_server(tmp_path, batch) as client:
        result = await call(client, "task_get", {"job_id": "j", "task_id": "t1"})
    assert not result.is_error
    shown = text(result) + json.dumps(result.structured_content)
    assert credentials_in(shown) == []
    assert "artifacts.example.com/tool.tgz" in shown and "text/plain" in shown  # the rest is still shown


async def test_credentials_in_urls_and_upload_headers_stay_out_of_errors_and_the_audit_log(tmp_path: Path) -> None:
    def batch(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        url = body["resourceFiles"][0]["httpUrl"]
        header = body["outputFiles"][0]["destination"]["container"]["uploadHeaders"][0]["value"]
        return batch_reply(400, "InvalidPropertyValue", f"Cannot use {url} with header {header}", [])

    args = {"job_id": "j", **{k: v for k, v in TASK_WITH_CREDENTIALS.items() if k != "state"}}
    async with scripted_server(tmp_path, batch) as client:
        result = await call(client, "task_add", args)
    assert result.is_error and "InvalidPropertyValue" in text(result)
    assert credentials_in(text(result)) == []
    audit = (tmp_path / "audit.jsonl").read_text(encoding="utf-8")
    assert "task_add" in audit and credentials_in(audit) == []


@pytest.mark.parametrize(
    "url",
    [
        "https://acct.blob.core.windows.net/c/f?sv=2022&amp;sig=canarySig10",  # as quoted in XML or HTML
        "https://proxy.example.com/get?target=https%3A%2F%2Facct.blob.core.windows.net%2Fc%3Fsv%3D1%26sig%3DcanarySig10",
    ],
)
def test_a_sas_signature_is_masked_however_the_url_is_escaped(url: str) -> None:
    assert "canarySig10" not in redact({"note": url})["note"]
