"""Calling Batch on behalf of users: one Batch token per user, cached; no user, no call; and the real
azure-identity credential against the test provider (exchange, refresh, errors)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest

from batch_mcp.batch.errors import BatchAuthError
from batch_mcp.batch.obo import OnBehalfOfAuth, UserAssertion, obo_credential_factory
from batch_mcp.server.entra import EntraConfig
from tests.entra.conftest import entra_settings
from tests.entra.provider import ALICE, BOB, DAVE, IdentityProvider
from tests.entra.tls import LoopbackTls, make_client_certificate

pytestmark = pytest.mark.anyio

BATCH = "https://acct.westeurope.batch.azure.com"


@dataclass
class Token:
    token: str
    expires_on: int


@dataclass
class FakeCredential:
    """Stands in for OnBehalfOfCredential where the test is about our caching, not Entra ID."""

    assertion: str
    clock: list[float]
    lifetime: int = 3600
    calls: int = 0
    closed: bool = False

    async def get_token(self, *scopes: str, **kwargs: Any) -> Token:
        self.calls += 1
        return Token(f"batch-for-{self.assertion}-{self.calls}", int(self.clock[0]) + self.lifetime)

    async def close(self) -> None:
        self.closed = True


@dataclass
class Factory:
    clock: list[float] = field(default_factory=lambda: [1_000_000.0])
    made: list[FakeCredential] = field(default_factory=list)

    def __call__(self, assertion: str) -> FakeCredential:
        credential = FakeCredential(assertion, self.clock)
        self.made.append(credential)
        return credential


def user(name: str, token: str, expires_at: float = 2_000_000.0) -> UserAssertion:
    return UserAssertion(f"tenant/{name}", name, token, expires_at)


class Batch:
    """A Batch endpoint that records the bearer token of each request."""

    def __init__(self, status: int = 200) -> None:
        self.seen: list[str] = []
        self.status = status

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.seen.append(request.headers.get("authorization", ""))
        return httpx2.Response(self.status, json={})


def client(auth: OnBehalfOfAuth, batch: Batch) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(auth=auth, transport=httpx2.MockTransport(batch))


async def test_without_a_signed_in_user_nothing_is_sent() -> None:
    factory, batch = Factory(), Batch()
    auth = OnBehalfOfAuth(factory, lambda: None)
    async with client(auth, batch) as http:
        with pytest.raises(BatchAuthError, match="no signed-in user"):
            await http.get(BATCH + "/pools")
    assert batch.seen == [] and factory.made == []


async def test_each_user_gets_their_own_batch_token_cached_until_near_expiry() -> None:
    factory, batch = Factory(), Batch()
    current: list[UserAssertion | None] = [user("alice", "a1")]
    auth = OnBehalfOfAuth(factory, lambda: current[0], clock=lambda: factory.clock[0], refresh_window=300)
    async with client(auth, batch) as http:
        for _ in range(3):
            await http.get(BATCH + "/pools")
        current[0] = user("bob", "b1")
        await http.get(BATCH + "/pools")
        current[0] = user("alice", "a1")
        factory.clock[0] += 3600 - 299  # inside the refresh window: a new token
        await http.get(BATCH + "/pools")
    assert batch.seen == [
        "Bearer batch-for-a1-1",
        "Bearer batch-for-a1-1",
        "Bearer batch-for-a1-1",
        "Bearer batch-for-b1-1",
        "Bearer batch-for-a1-2",
    ]
    assert auth.exchanges == 3


async def test_the_newest_token_a_user_presented_is_kept_and_an_older_one_does_not_replace_it() -> None:
    factory, batch = Factory(), Batch()
    current = [user("alice", "old", expires_at=100)]
    auth = OnBehalfOfAuth(factory, lambda: current[0], clock=lambda: factory.clock[0], refresh_window=10**9)
    async with client(auth, batch) as http:
        await http.get(BATCH + "/pools")
        current[0] = user("alice", "new", expires_at=200)  # the client refreshed its token
        await http.get(BATCH + "/pools")
        current[0] = user("alice", "old", expires_at=100)  # a watcher still holding the first one
        await http.get(BATCH + "/pools")
    assert [c.assertion for c in factory.made] == ["old", "new"]
    assert factory.made[0].closed  # the superseded credential was closed
    assert batch.seen[-1] == "Bearer batch-for-new-2"


async def test_a_401_from_batch_gets_one_fresh_exchange_then_batchs_answer() -> None:
    factory, batch = Factory(), Batch(status=401)
    auth = OnBehalfOfAuth(factory, lambda: user("alice", "a1"), clock=lambda: factory.clock[0])
    async with client(auth, batch) as http:
        response = await http.get(BATCH + "/pools")
    assert response.status_code == 401
    assert batch.seen == ["Bearer batch-for-a1-1", "Bearer batch-for-a1-2"]


async def test_users_beyond_the_limit_are_forgotten_and_their_credentials_closed() -> None:
    factory, batch = Factory(), Batch()
    current = [user("u0", "t0")]
    auth = OnBehalfOfAuth(factory, lambda: current[0], max_users=2, clock=lambda: factory.clock[0])
    async with client(auth, batch) as http:
        for index in range(4):
            current[0] = user(f"u{index}", f"t{index}")
            await http.get(BATCH + "/pools")
    assert auth.cached_users() == 2
    assert [c.closed for c in factory.made] == [True, True, False, False]


async def test_a_bearer_token_is_never_sent_over_plain_http() -> None:
    factory, batch = Factory(), Batch()
    auth = OnBehalfOfAuth(factory, lambda: user("alice", "a1"))
    async with client(auth, batch) as http:
        with pytest.raises(BatchAuthError, match="plain HTTP"):
            await http.get("http://acct.westeurope.batch.azure.com/pools")
    assert batch.seen == [] and factory.made == []


# -- the real credential against the test provider ----------------------------------------------------------------


def real_factory(idp: IdentityProvider, tls: LoopbackTls, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls.ca_file))  # azure-identity's requests transport trusts the test CA
    return obo_credential_factory(
        tenant_id=idp.tenant_id, client_id=idp.client_id, client_secret=idp.client_secret, authority=idp.url
    )


async def test_the_exchange_yields_a_batch_token_for_the_same_user(
    idp: IdentityProvider, tls: LoopbackTls, monkeypatch: pytest.MonkeyPatch
) -> None:
    credential = real_factory(idp, tls, monkeypatch)(idp.token(BOB))
    try:
        access = await credential.get_token("https://batch.core.windows.net//.default")
    finally:
        await credential.close()
    claims = idp.decode(access.token, audience="https://batch.core.windows.net/")
    assert claims["oid"] == BOB.oid and claims["appid"] == idp.client_id


async def test_a_subscription_keeps_polling_after_the_users_token_can_no_longer_be_exchanged(
    idp: IdentityProvider, tls: LoopbackTls, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The credential's refresh token renews the Batch token; the user's own token is not needed again."""
    factory = real_factory(idp, tls, monkeypatch)
    batch = Batch()
    alice = UserAssertion(f"{idp.tenant_id}/{ALICE.oid}", ALICE.name, idp.token(ALICE), 0)
    auth = OnBehalfOfAuth(factory, lambda: alice)
    idp.batch_token_lifetime = 0  # born expired: every call renews it
    try:
        async with client(auth, batch) as http:
            await http.get(BATCH + "/pools")
            idp.refused_assertions.add(ALICE.oid)  # the user's token can no longer be exchanged
            refreshes = idp.count("refresh")
            await http.get(BATCH + "/pools")
        assert idp.count("refresh") == refreshes + 1
        assert len(set(batch.seen)) == 2  # a renewed Batch token, for Alice
    finally:
        idp.batch_token_lifetime = 3600
        idp.refused_assertions.discard(ALICE.oid)
        await auth.aclose()


async def test_a_refused_exchange_says_who_and_why(
    idp: IdentityProvider, tls: LoopbackTls, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = OnBehalfOfAuth(
        real_factory(idp, tls, monkeypatch), lambda: UserAssertion("t/dave", DAVE.name, idp.token(DAVE), 0)
    )
    batch = Batch()
    async with client(auth, batch) as http:
        with pytest.raises(BatchAuthError) as refused:
            await http.get(BATCH + "/pools")
    await auth.aclose()
    assert "on behalf of Dave Dunn" in str(refused.value) and "AADSTS65001" in str(refused.value)
    assert idp.client_secret not in str(refused.value)
    assert batch.seen == []


async def test_the_app_registration_can_prove_itself_with_a_certificate_instead_of_a_secret(
    idp: IdentityProvider, tls: LoopbackTls, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls.ca_file))
    pem, certificate = make_client_certificate(tmp_path)
    settings = entra_settings(idp, tmp_path, entra_client_secret=None, entra_client_certificate=pem)
    config = EntraConfig.from_settings(settings)
    assert config.client_secret is None and config.client_certificate == pem.read_bytes()
    factory = obo_credential_factory(
        tenant_id=idp.tenant_id,
        client_id=idp.client_id,
        client_certificate=config.client_certificate,
        authority=idp.url,
    )
    idp.client_certificate = None  # not registered yet: Entra ID refuses the app
    credential = factory(idp.token(BOB))
    try:
        with pytest.raises(Exception, match="AADSTS700027"):
            await credential.get_token("https://batch.core.windows.net//.default")
        idp.client_certificate = certificate
        registered = factory(idp.token(BOB))
        access = await registered.get_token("https://batch.core.windows.net//.default")
        await registered.close()
    finally:
        idp.client_certificate = None
        await credential.close()
    assert idp.decode(access.token, audience="https://batch.core.windows.net/")["oid"] == BOB.oid
