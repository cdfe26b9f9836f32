"""Checking the access tokens MCP clients send: Entra ID tokens issued for this server only.

A token is accepted when it is an RS256 JWT signed by one of the tenant's current keys, issued by
the tenant (v2.0 or v1 issuer), for this server (audience: the Application ID URI or the client
id), within its lifetime (with `leeway` seconds of clock skew), on behalf of a user (`oid`), and
names the delegated scope in `scp`. A token that passes everything but the scope becomes an
`AccessToken` without it, so the SDK answers 403 `insufficient_scope` rather than 401. Anything
else is refused: a token for another resource (Batch, Graph, ...) is never accepted, let alone
passed on; Batch tokens come from the on-behalf-of exchange.

Accepted tokens are remembered (by SHA-256, up to `cache_size`, for at most `cache_seconds` and
never past expiry), so a client's next calls skip the signature check.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import jwt
from mcp.server.auth.provider import AccessToken

from batch_mcp.server.entra.config import EntraConfig
from batch_mcp.server.entra.keys import KeysUnavailable, SigningKeys

logger = logging.getLogger(__name__)

LEEWAY_SECONDS = 30
CACHE_SIZE = 1024
CACHE_SECONDS = 300.0
USER_CLAIMS = ("iss", "tid", "oid", "name", "preferred_username", "upn", "unique_name", "azp", "appid", "idtyp")

# Why the last token on this request was refused, for the WWW-Authenticate header's error_description.
rejection: ContextVar[str | None] = ContextVar("batch_mcp_token_rejection", default=None)


class EntraTokenVerifier:
    """The SDK's `TokenVerifier` for Entra ID access tokens (see the module docstring)."""

    def __init__(
        self,
        config: EntraConfig,
        keys: SigningKeys,
        *,
        leeway: int = LEEWAY_SECONDS,
        cache_size: int = CACHE_SIZE,
        cache_seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._keys = keys
        self._leeway = leeway
        self._cache_size = cache_size
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._accepted: OrderedDict[bytes, tuple[float, AccessToken]] = OrderedDict()

    async def verify_token(self, token: str) -> AccessToken | None:
        digest = hashlib.sha256(token.encode()).digest()
        now = self._clock()
        cached = self._accepted.get(digest)
        if cached is not None:
            until, access = cached
            if now < until:
                self._accepted.move_to_end(digest)
                return access
            del self._accepted[digest]
        try:
            access = await self._verify(token, now)
        except _Refused as refused:
            rejection.set(refused.reason)
            logger.info("refused a bearer token: %s", refused.reason)
            return None
        if self._cache_size > 0:
            expires = float(access.expires_at or now)
            self._accepted[digest] = (min(expires, now + self._cache_seconds), access)
            while len(self._accepted) > self._cache_size:
                self._accepted.popitem(last=False)
        return access

    async def _verify(self, token: str, now: float) -> AccessToken:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _Refused("not a JWT") from None
        if header.get("alg") != "RS256":
            raise _Refused(f"signing algorithm {str(header.get('alg'))[:16]!r} is not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise _Refused("the token names no signing key")
        try:
            key = await self._keys.key(kid)
            issuers = await self._keys.issuers()
        except KeysUnavailable as exc:
            raise _Refused(f"the tenant's signing keys are unavailable ({exc})") from None
        if key is None:
            raise _Refused("signed with a key the tenant does not publish")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                audience=list(self._config.audiences),
                issuer=list(issuers),
                leeway=self._leeway,
                options={"require": ["exp", "iat", "iss", "aud", "tid", "oid"]},
            )
        except jwt.ExpiredSignatureError:
            raise _Refused("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise _Refused("the token was issued for another resource (audience)") from None
        except jwt.InvalidIssuerError:
            raise _Refused("the token was issued by another tenant or authority") from None
        except jwt.ImmatureSignatureError:
            raise _Refused("the token is not valid yet") from None
        except jwt.InvalidSignatureError:
            raise _Refused("the signature does not verify") from None
        except jwt.MissingRequiredClaimError as exc:
            raise _Refused(f"the token has no {exc.claim!r} claim") from None
        except jwt.PyJWTError as exc:
            raise _Refused(f"invalid token ({type(exc).__name__})") from None
        if isinstance(claims["aud"], list) and len(claims["aud"]) != 1:
            raise _Refused("the token is issued for several resources, not for this server alone")
        scp = claims.get("scp")
        delegated = scp.split() if isinstance(scp, str) else []
        prefix = self._config.app_id_uri.rstrip("/")
        client = claims.get("azp") or claims.get("appid") or "unknown-client"
        return AccessToken(
            token=token,
            client_id=str(client),
            scopes=[f"{prefix}/{name}" for name in delegated],
            expires_at=int(claims["exp"]) + self._leeway,  # the SDK checks this again, without skew
            subject=str(claims["oid"]),
            claims={name: claims[name] for name in USER_CLAIMS if name in claims},
        )


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
