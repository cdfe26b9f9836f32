"""The access-token checks, against the test identity provider over TLS: what a token must be to
be accepted, and that every other kind is refused with a reason."""

from __future__ import annotations

import time
from pathlib import Path

import httpx2
import jwt
import pytest

from batch_mcp.server.entra.keys import SigningKeys
from batch_mcp.server.entra.tokens import EntraTokenVerifier, rejection
from tests.entra.conftest import authorization
from tests.entra.provider import ALICE, BATCH_RESOURCE, IdentityProvider, SigningKey
from tests.entra.tls import LoopbackTls

pytestmark = pytest.mark.anyio


@pytest.fixture
def verifier(idp: IdentityProvider, tls: LoopbackTls, tmp_path: Path) -> EntraTokenVerifier:
    return authorization(idp, tls, tmp_path, cache_size=0).verifier


async def refused(verifier: EntraTokenVerifier, token: str) -> str:
    rejection.set(None)
    assert await verifier.verify_token(token) is None
    reason = rejection.get()
    assert reason
    return reason


async def test_a_v2_token_for_this_server_names_the_user_and_the_full_scope(
    verifier: EntraTokenVerifier, idp: IdentityProvider
) -> None:
    access = await verifier.verify_token(idp.token(ALICE))
    assert access is not None
    assert access.subject == ALICE.oid and access.scopes == [idp.full_scope]
    assert access.claims and access.claims["name"] == ALICE.name and access.claims["tid"] == idp.tenant_id
    assert access.claims["iss"] == idp.issuer and access.client_id == "aebc6443-996d-45c2-90f0-388ff96faa56"


async def test_a_v1_token_is_accepted_too(verifier: EntraTokenVerifier, idp: IdentityProvider) -> None:
    access = await verifier.verify_token(idp.token(ALICE, version=1))
    assert access is not None and access.claims and access.claims["iss"] == idp.v1_issuer
    assert access.claims["upn"] == ALICE.username


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("expired", "expired"),
        ("wrong_audience", "another resource"),
        ("batch_token", "another resource"),
        ("shared_audience", "several resources"),
        ("wrong_issuer", "another tenant"),
        ("not_yet_valid", "not valid yet"),
        ("no_oid", "'oid'"),
        ("no_tid", "'tid'"),
    ],
)
async def test_tokens_that_are_not_for_us_or_not_valid_now_are_refused(
    verifier: EntraTokenVerifier, idp: IdentityProvider, case: str, expected: str
) -> None:
    tokens = {
        "expired": idp.token(ALICE, lifetime=-120),
        "wrong_audience": idp.token(ALICE, audience="api://00000000-aaaa-4bbb-8ccc-000000000000"),
        "batch_token": idp.token(ALICE, audience=BATCH_RESOURCE),
        "shared_audience": idp.token(ALICE, audience=[idp.client_id, BATCH_RESOURCE]),
        "wrong_issuer": idp.token(ALICE, issuer="https://login.microsoftonline.com/another-tenant/v2.0"),
        "not_yet_valid": idp.token(ALICE, not_before=10**10),
        "no_oid": idp.token(ALICE, omit=["oid"]),
        "no_tid": idp.token(ALICE, omit=["tid"]),
    }
    assert expected in await refused(verifier, tokens[case])


async def test_a_token_that_expired_within_the_clock_skew_still_passes(
    verifier: EntraTokenVerifier, idp: IdentityProvider
) -> None:
    access = await verifier.verify_token(idp.token(ALICE, lifetime=-10))
    assert access is not None


async def test_forged_and_unsigned_tokens_are_refused(verifier: EntraTokenVerifier, idp: IdentityProvider) -> None:
    published = idp.keys[-1]
    forged_key = SigningKey(published.kid, SigningKey.new().private)  # a real key id, another private key
    assert "signature" in await refused(verifier, idp.token(ALICE, key=forged_key))
    assert "does not publish" in await refused(verifier, idp.token(ALICE, key=SigningKey.new()))
    header, body, _ = idp.token(ALICE).split(".")
    assert "signature" in await refused(verifier, f"{header}.{body}.")  # the signature stripped
    none_token = jwt.encode({"oid": ALICE.oid}, key=None, algorithm="none")
    assert "algorithm" in await refused(verifier, none_token)
    assert "not a JWT" in await refused(verifier, "opaque-token-from-somewhere")


async def test_a_token_without_the_scope_is_authenticated_without_it(
    verifier: EntraTokenVerifier, idp: IdentityProvider
) -> None:
    """So the SDK answers 403 insufficient_scope (not 401): the client should ask for the scope."""
    for scopes in ("", "Files.Read", f"{idp.scope}.other"):
        access = await verifier.verify_token(idp.token(ALICE, scopes=scopes))
        assert access is not None and idp.full_scope not in access.scopes
    app_only = await verifier.verify_token(idp.app_token())
    assert app_only is not None and app_only.scopes == []


async def test_a_rotated_signing_key_is_fetched_once_and_made_up_key_ids_are_rate_limited(
    idp: IdentityProvider, tls: LoopbackTls, tmp_path: Path
) -> None:
    now = [1000.0]
    auth = authorization(idp, tls, tmp_path, cache_size=0)
    keys = SigningKeys(auth.config, auth.keys._http, min_refresh_interval=60, clock=lambda: now[0])
    verifier = EntraTokenVerifier(auth.config, keys)
    assert await verifier.verify_token(idp.token(ALICE)) is not None
    assert keys.fetches == 1
    new_key = idp.rotate(keep_old=True)
    try:
        now[0] += 61
        assert await verifier.verify_token(idp.token(ALICE)) is not None  # signed with the new key
        assert keys.fetches == 2
        stranger = SigningKey.new()
        for _ in range(5):  # made-up key ids within the interval: no fetch at all
            assert await verifier.verify_token(idp.token(ALICE, key=stranger)) is None
        assert keys.fetches == 2
        now[0] += 61
        assert await verifier.verify_token(idp.token(ALICE, key=stranger)) is None
        assert keys.fetches == 3  # one fetch per interval at most
    finally:
        idp.published = [k for k in idp.published if k is not new_key] or idp.published
        idp.keys.remove(new_key)


async def test_keys_are_refreshed_at_their_age_limit_and_kept_when_the_tenant_is_unreachable(
    idp: IdentityProvider, tls: LoopbackTls, tmp_path: Path
) -> None:
    now = [0.0]
    auth = authorization(idp, tls, tmp_path)
    unreachable = [False]
    real = auth.keys._http

    async def forward(request: httpx2.Request) -> httpx2.Response:
        if unreachable[0]:
            raise httpx2.ConnectError("tenant unreachable")
        return await real.send(request)

    http = httpx2.AsyncClient(transport=httpx2.MockTransport(forward))
    keys = SigningKeys(auth.config, http, min_refresh_interval=60, max_age=3600, clock=lambda: now[0])
    verifier = EntraTokenVerifier(auth.config, keys, cache_size=0)
    assert await verifier.verify_token(idp.token(ALICE)) is not None
    unreachable[0] = True
    now[0] += 3601  # too old: a refresh is attempted, fails, and the cached keys carry on
    assert await verifier.verify_token(idp.token(ALICE)) is not None
    assert keys.fetches == 1


async def test_with_no_keys_at_all_every_token_is_refused_without_hammering_the_tenant(
    idp: IdentityProvider, tls: LoopbackTls, tmp_path: Path
) -> None:
    calls = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(request.url)
        return httpx2.Response(503)

    auth = authorization(idp, tls, tmp_path)
    keys = SigningKeys(auth.config, httpx2.AsyncClient(transport=httpx2.MockTransport(handler)), clock=lambda: 5.0)
    verifier = EntraTokenVerifier(auth.config, keys, cache_size=0)
    for _ in range(3):
        assert "unavailable" in await refused(verifier, idp.token(ALICE))
    assert len(calls) == 1


async def test_accepted_tokens_are_remembered_for_a_while_but_never_past_expiry(
    idp: IdentityProvider, tls: LoopbackTls, tmp_path: Path
) -> None:
    now = [time.time()]
    auth = authorization(idp, tls, tmp_path)
    verifier = EntraTokenVerifier(auth.config, auth.keys, clock=lambda: now[0], leeway=0, cache_seconds=300)
    token = idp.token(ALICE, lifetime=3600)
    first = await verifier.verify_token(token)
    assert first is not None
    assert await verifier.verify_token(token) is first  # from the cache
    now[0] += 301
    again = await verifier.verify_token(token)
    assert again is not None and again is not first  # checked again after cache_seconds
    short = idp.token(ALICE, lifetime=60)
    cached = await verifier.verify_token(short)
    assert cached is not None
    now[0] += 61  # the cache entry ends with the token, whatever cache_seconds says
    assert await verifier.verify_token(short) is not cached
