"""The tenant's token-signing keys and issuers, fetched from its OpenID configuration and cached.

Entra ID rolls its signing keys over without notice: a token signed with a key we have not seen
makes us fetch the key set again, at most once per `min_refresh_interval` (so a stream of
tokens with made-up key ids cannot turn the server into a load generator against the tenant),
and the set is refreshed anyway once it is `max_age` old. When a refresh fails, the keys we have
stay in use; with none at all, every token is refused until a fetch succeeds.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import anyio
import httpx2
import jwt

from batch_mcp.server.entra.config import EntraConfig

logger = logging.getLogger(__name__)

MIN_REFRESH_INTERVAL = 60.0  # seconds between fetches caused by an unknown key id
MAX_AGE = 24 * 3600.0  # refresh the key set at least this often
FETCH_TIMEOUT = 10.0
MAX_DOCUMENT = 1024 * 1024  # an OpenID configuration or key set is a few KiB


def _origin(url: str) -> tuple[str, str, int | None]:
    parsed = httpx2.URL(url)
    return parsed.scheme, parsed.host.lower(), parsed.port


class KeysUnavailable(RuntimeError):
    """No signing keys could be fetched; the message says from where and why."""


class SigningKeys:
    def __init__(
        self,
        config: EntraConfig,
        http: httpx2.AsyncClient | None = None,
        *,
        min_refresh_interval: float = MIN_REFRESH_INTERVAL,
        max_age: float = MAX_AGE,
        clock: Callable[[], float] = time.monotonic,
        fetch_timeout: float = FETCH_TIMEOUT,
    ) -> None:
        self._config = config
        self._fetch_timeout = fetch_timeout
        self._http = http or httpx2.AsyncClient(timeout=FETCH_TIMEOUT, follow_redirects=False)
        self._min_refresh_interval = min_refresh_interval
        self._max_age = max_age
        self._clock = clock
        self._lock = anyio.Lock()
        self._keys: dict[str, jwt.PyJWK] = {}
        self._issuers: frozenset[str] = frozenset()
        self._fetched_at: float | None = None  # the last successful fetch
        self._tried_at: float | None = None  # the last attempt, successful or not
        self._attempts = 0
        self._failure = "not fetched yet"
        self.fetches = 0  # how many times the key set was fetched, for tests and the bench

    async def issuers(self) -> frozenset[str]:
        """The issuers a token of this tenant may name (v2.0, and v1 when the tenant publishes it)."""
        await self._ensure_fresh()
        return self._issuers

    async def key(self, kid: str) -> jwt.PyJWK | None:
        """The public key with this id, fetching the set again if it is new to us (rate-limited)."""
        await self._ensure_fresh()
        found = self._keys.get(kid)
        if found is None and self._may_try():
            await self._refresh(reason=f"unknown key id {kid[:64]!r}")
            found = self._keys.get(kid)
        return found

    async def _ensure_fresh(self) -> None:
        if self._fetched_at is None:
            if not self._may_try():
                raise KeysUnavailable(f"no signing keys yet for tenant {self._config.tenant_id}: {self._failure}")
            await self._refresh(reason="first use")
        elif self._clock() - self._fetched_at >= self._max_age and self._may_try():
            await self._refresh(reason="age")

    def _may_try(self) -> bool:
        return self._tried_at is None or self._clock() - self._tried_at >= self._min_refresh_interval

    async def _refresh(self, *, reason: str) -> None:
        attempt = self._attempts
        async with self._lock:
            if self._attempts != attempt:  # another caller fetched while we waited for the lock
                if self._fetched_at is None:
                    raise KeysUnavailable(f"no signing keys for tenant {self._config.tenant_id}: {self._failure}")
                return
            self._attempts += 1
            self._tried_at = self._clock()  # the rate limit counts failures too
            try:
                keys, issuers = await self._fetch()
            except KeysUnavailable as exc:
                self._failure = str(exc)
                if self._keys:
                    logger.warning("keeping the cached signing keys: %s", exc)
                    return
                logger.error("cannot fetch the signing keys: %s", exc)
                raise
            self._keys, self._issuers, self._fetched_at = keys, issuers, self._clock()
            self.fetches += 1
            logger.info("fetched %d signing key(s) of tenant %s (%s)", len(keys), self._config.tenant_id, reason)

    async def _fetch(self) -> tuple[dict[str, jwt.PyJWK], frozenset[str]]:
        v2_url, v1_url = self._config.discovery_urls
        v2 = await self._get_json(v2_url)
        issuer, jwks_uri = v2.get("issuer"), v2.get("jwks_uri")
        if not isinstance(issuer, str) or not isinstance(jwks_uri, str) or not jwks_uri.startswith("https://"):
            raise KeysUnavailable(f"{v2_url} has no issuer or no https jwks_uri")
        # Only what the configured tenant vouches for: its own issuer, keys served by its own authority
        # (a document naming anything else would let another party's tokens in).
        if issuer.rstrip("/") != self._config.issuer.rstrip("/"):
            raise KeysUnavailable(f"{v2_url} names the issuer {issuer[:200]!r}, not {self._config.issuer!r}")
        if _origin(jwks_uri) != _origin(self._config.authority):
            raise KeysUnavailable(f"{v2_url} lists its keys at {jwks_uri[:200]}, outside {self._config.authority}")
        issuers = {issuer}
        try:
            v1_issuer = (await self._get_json(v1_url)).get("issuer")
        except KeysUnavailable as exc:  # v1 tokens are then refused; v2 ones still work
            logger.info("no v1 issuer for tenant %s: %s", self._config.tenant_id, exc)
        else:
            if isinstance(v1_issuer, str) and f"/{self._config.tenant_id}/" in v1_issuer + "/":
                issuers.add(v1_issuer)
            elif v1_issuer is not None:
                logger.warning("ignoring the v1 issuer %r: not of tenant %s", v1_issuer, self._config.tenant_id)
        document = await self._get_json(jwks_uri)
        keys: dict[str, jwt.PyJWK] = {}
        for entry in document.get("keys") or ():
            if not isinstance(entry, dict) or entry.get("kty") != "RSA" or entry.get("use", "sig") != "sig":
                continue
            kid = entry.get("kid")
            if not isinstance(kid, str):
                continue
            try:
                keys[kid] = jwt.PyJWK(entry, algorithm="RS256")
            except jwt.PyJWTError as exc:
                logger.info("skipping signing key %s: %s", kid, exc)
        if not keys:
            raise KeysUnavailable(f"{jwks_uri} lists no usable RSA signing key")
        return keys, frozenset(issuers)

    async def _get_json(self, url: str) -> dict[str, Any]:
        """The JSON object at `url`, read whole within the fetch timeout (httpx's timeouts are per
        read: a provider trickling a byte at a time would hold every request that waits for keys)."""
        try:
            with anyio.fail_after(self._fetch_timeout):
                async with self._http.stream("GET", url) as response:
                    if response.status_code != 200:
                        raise KeysUnavailable(f"{url} answered {response.status_code}")
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > MAX_DOCUMENT:
                            raise KeysUnavailable(f"{url} answered more than {MAX_DOCUMENT // 1024} KiB: larger")
        except TimeoutError:
            raise KeysUnavailable(f"{url} did not answer within {self._fetch_timeout:g} s") from None
        except httpx2.HTTPError as exc:
            raise KeysUnavailable(f"{url}: {type(exc).__name__}: {exc}") from None
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            raise KeysUnavailable(f"{url} did not answer JSON") from None
        if not isinstance(data, dict):
            raise KeysUnavailable(f"{url} did not answer a JSON object")
        return data

    async def aclose(self) -> None:
        await self._http.aclose()
