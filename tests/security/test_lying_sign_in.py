"""An OpenID provider that lies: the signing keys and issuers batch-mcp trusts for Entra ID sign-in
come only from the configured tenant, whatever its discovery documents say, and a provider that
trickles or floods cannot hold a fetch (and every request waiting for it) open."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx2
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from batch_mcp.server.entra.config import EntraConfig
from batch_mcp.server.entra.keys import KeysUnavailable, SigningKeys

pytestmark = pytest.mark.anyio

AUTHORITY = "https://login.example.com"
TENANT = "11111111-2222-3333-4444-555555555555"
ISSUER = f"{AUTHORITY}/{TENANT}/v2.0"
V1_ISSUER = f"https://sts.example.net/{TENANT}/"
CONFIG = EntraConfig(
    tenant_id=TENANT,
    client_id="c",
    app_id_uri="api://c",
    scope="user_impersonation",
    authority=AUTHORITY,
    resource_url="https://mcp.example.com/mcp",
)


def jwk() -> dict[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    return {**RSAAlgorithm.to_jwk(key, as_dict=True), "kid": "k1", "use": "sig"}


def provider(v2: dict[str, Any], v1_issuer: str = V1_ISSUER, keys: Any = None) -> httpx2.AsyncClient:
    def answer(request: httpx2.Request) -> httpx2.Response:
        url = str(request.url)
        if url == f"{ISSUER}/.well-known/openid-configuration":
            return httpx2.Response(200, json=v2)
        if url == f"{AUTHORITY}/{TENANT}/.well-known/openid-configuration":
            return httpx2.Response(200, json={"issuer": v1_issuer})
        return httpx2.Response(200, json={"keys": keys if keys is not None else [jwk()]})

    return httpx2.AsyncClient(transport=httpx2.MockTransport(answer))


async def test_a_discovery_document_naming_another_issuer_is_not_trusted() -> None:
    elsewhere = "https://login.example.com/99999999-0000-0000-0000-000000000000/v2.0"
    keys = SigningKeys(CONFIG, provider({"issuer": elsewhere, "jwks_uri": f"{AUTHORITY}/{TENANT}/keys"}))
    with pytest.raises(KeysUnavailable, match="issuer"):
        await keys.issuers()


async def test_keys_listed_on_another_host_are_not_fetched() -> None:
    asked: list[str] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        asked.append(str(request.url))
        if request.url.path.endswith("openid-configuration"):
            return httpx2.Response(200, json={"issuer": ISSUER, "jwks_uri": "https://attacker.example/keys"})
        return httpx2.Response(200, json={"keys": [jwk()]})

    keys = SigningKeys(CONFIG, httpx2.AsyncClient(transport=httpx2.MockTransport(answer)))
    with pytest.raises(KeysUnavailable, match="attacker"):
        await keys.issuers()
    assert not any("attacker.example" in url for url in asked), asked


async def test_a_v1_issuer_of_another_tenant_is_not_accepted() -> None:
    keys = SigningKeys(
        CONFIG,
        provider({"issuer": ISSUER, "jwks_uri": f"{AUTHORITY}/{TENANT}/keys"}, v1_issuer="https://sts.example.net/other/"),
    )
    assert await keys.issuers() == frozenset({ISSUER})


async def test_a_trickling_provider_cannot_hold_a_fetch_open() -> None:
    async def trickle() -> AsyncIterator[bytes]:
        yield b'{"issuer": "'
        while True:
            await anyio.sleep(0.2)
            yield b"a"

    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=trickle(), headers={"content-type": "application/json"})

    keys = SigningKeys(CONFIG, httpx2.AsyncClient(transport=httpx2.MockTransport(answer)), fetch_timeout=1.0)
    with anyio.fail_after(20):
        with pytest.raises(KeysUnavailable, match="answer"):
            await keys.issuers()


async def test_a_flooding_provider_is_cut_off() -> None:
    async def flood() -> AsyncIterator[bytes]:
        yield b'{"issuer": "'
        while True:
            yield b"a" * (1 << 20)

    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=flood(), headers={"content-type": "application/json"})

    keys = SigningKeys(CONFIG, httpx2.AsyncClient(transport=httpx2.MockTransport(answer)))
    with anyio.fail_after(20):
        with pytest.raises(KeysUnavailable, match="larger"):
            await keys.issuers()
