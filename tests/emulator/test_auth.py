"""Shared Key: off by default; with an account key, only correctly signed requests get through,
and a refusal is the service's 403 AuthenticationFailed without echoing anything secret."""

from __future__ import annotations

import base64
from email.utils import formatdate

import pytest

from batch_mcp import sharedkey
from batch_mcp.emulator import DEV_ACCOUNT_KEY, DEV_ACCOUNT_NAME
from tests.emulator.conftest import fast_config, serving

pytestmark = pytest.mark.anyio
URL = "/pools?api-version=2024-02-01.19.0"


def signed(method: str, url: str, account: str, key: str, body: bytes = b"") -> dict[str, str]:
    headers = {"ocp-date": formatdate(usegmt=True)}
    if body:
        headers.update({"content-type": "application/json", "content-length": str(len(body))})
    headers["Authorization"] = sharedkey.authorization(method, url, headers, account, key)
    return headers


async def test_without_a_key_every_request_is_accepted() -> None:
    async with serving() as (_, api):
        assert (await api.http.get(URL)).status_code == 200
        assert (await api.http.get(URL, headers={"Authorization": "SharedKey someone:bm9wZQ=="})).status_code == 200


async def test_with_a_key_only_correct_signatures_pass() -> None:
    config = fast_config(account_name=DEV_ACCOUNT_NAME, account_key=DEV_ACCOUNT_KEY)
    async with serving(config) as (_, api):
        r = await api.http.get(URL)
        assert (r.status_code, r.json()["code"]) == (403, "AuthenticationFailed")
        assert (
            await api.http.get(URL, headers=signed("GET", URL, DEV_ACCOUNT_NAME, DEV_ACCOUNT_KEY))
        ).status_code == 200
        other_key = base64.b64encode(b"another key entirely").decode()
        r = await api.http.get(URL, headers=signed("GET", URL, DEV_ACCOUNT_NAME, other_key))
        assert (r.status_code, r.json()["code"]) == (403, "AuthenticationFailed")
        assert DEV_ACCOUNT_KEY not in r.text
        r = await api.http.get(URL, headers=signed("GET", URL, "otheraccount", DEV_ACCOUNT_KEY))
        assert r.status_code == 403
        body = b'{"id":"j","poolInfo":{"poolId":"p"}}'
        post = "/jobs?api-version=2024-02-01.19.0"
        r = await api.http.post(
            post, content=body, headers=signed("POST", post, DEV_ACCOUNT_NAME, DEV_ACCOUNT_KEY, body)
        )
        assert r.status_code == 201
        tampered = signed("POST", post, DEV_ACCOUNT_NAME, DEV_ACCOUNT_KEY, body)
        r = await api.http.post(post.replace("jobs", "pools"), content=body, headers=tampered)
        assert r.status_code == 403
