"""A small OpenID provider in the image of Microsoft Entra ID, made for the tests.

It has its own RSA signing keys (rotatable), publishes the tenant's v2.0 and v1 OpenID
configurations and its key set at Entra ID's paths, mints access tokens for the MCP server's app
registration (v2 shape by default, v1 on request), and runs Entra ID's token endpoint for the
grants the tests need: on-behalf-of (jwt-bearer, with the server's client secret), refresh
tokens, and the authorization code flow with PKCE (its authorize endpoint signs in a fixed user
without a form, so a client's browser step can be scripted). Errors come back the way Entra ID
words them (`error`, `error_description` with an AADSTS code).

It is an ASGI app: tests serve it over TLS on loopback (azure-identity insists on https).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

BATCH_RESOURCE = "https://batch.core.windows.net/"
BATCH_DEFAULT_SCOPE = "https://batch.core.windows.net//.default"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
V1_ISSUER = "https://sts.windows.net/{tenant}/"


@dataclass(frozen=True)
class TestUser:
    oid: str
    name: str
    username: str
    consented: bool = True  # False: the on-behalf-of exchange fails as without admin consent


ALICE = TestUser("6d1c7f3e-5b0a-4c55-9a51-1a2b3c4d5e01", "Alice Adams", "alice@contoso.test")
BOB = TestUser("6d1c7f3e-5b0a-4c55-9a51-1a2b3c4d5e02", "Bob Brown", "bob@contoso.test")
CAROL = TestUser("6d1c7f3e-5b0a-4c55-9a51-1a2b3c4d5e03", "Carol Clark", "carol@contoso.test")
DAVE = TestUser("6d1c7f3e-5b0a-4c55-9a51-1a2b3c4d5e04", "Dave Dunn", "dave@contoso.test", consented=False)


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey = field(repr=False)

    @classmethod
    def new(cls) -> SigningKey:
        return cls(uuid.uuid4().hex, rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def jwk(self) -> dict[str, Any]:
        numbers = self.private.public_key().public_numbers()
        return {"kty": "RSA", "use": "sig", "kid": self.kid, "n": _b64url_uint(numbers.n), "e": _b64url_uint(numbers.e)}


@dataclass
class _Grant:
    user: TestUser
    client_id: str
    scope: str
    expires: float
    redirect_uri: str = ""
    challenge: str = ""


class IdentityProvider:
    """One tenant with one app registration (the MCP server's) and a handful of users."""

    def __init__(
        self,
        *,
        tenant_id: str = "72f988bf-0000-4000-8000-00000000c0de",
        client_id: str = "0b7e2a54-1c3d-4e5f-8a9b-0c1d2e3f4a5b",
        client_secret: str = "server-app-secret-4f9c2a7d81e3b6",
        app_id_uri: str | None = None,
        scope: str = "user_impersonation",
        users: Iterable[TestUser] = (ALICE, BOB, CAROL, DAVE),
        public_clients: Iterable[str] = ("aebc6443-996d-45c2-90f0-388ff96faa56",),
    ) -> None:
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.app_id_uri = app_id_uri or f"api://{client_id}"
        self.scope = scope
        self.users = {user.oid: user for user in users}
        self.public_clients = set(public_clients)
        self.url = "https://127.0.0.1:0"  # set by whoever serves it
        self.keys = [SigningKey.new()]
        self.published = list(self.keys)  # what the key set lists
        self.signed_in_user = ALICE  # who the authorize endpoint signs in
        self.batch_token_lifetime = 3600  # seconds; short ones make clients refresh
        self.refused_assertions: set[str] = set()  # oids whose tokens on-behalf-of now refuses (as if expired)
        self.client_certificate: x509.Certificate | None = None  # registered on the app, besides the secret
        self._lock = threading.Lock()
        self._refresh: dict[str, _Grant] = {}
        self._codes: dict[str, _Grant] = {}
        self.requests: list[tuple[str, str]] = []  # (kind, detail): keys, discovery, obo:<oid>, refresh, code, ...
        self.app = Starlette(
            routes=[
                Route(f"/{tenant_id}/v2.0/.well-known/openid-configuration", self._discovery_v2),
                Route(f"/{tenant_id}/.well-known/openid-configuration", self._discovery_v1),
                Route(f"/{tenant_id}/discovery/v2.0/keys", self._jwks),
                Route(f"/{tenant_id}/oauth2/v2.0/token", self._token, methods=["POST"]),
                Route(f"/{tenant_id}/oauth2/v2.0/authorize", self._authorize),
            ]
        )

    # -- what tests use ------------------------------------------------------------------------------

    @property
    def issuer(self) -> str:
        return f"{self.url}/{self.tenant_id}/v2.0"

    @property
    def v1_issuer(self) -> str:
        return V1_ISSUER.format(tenant=self.tenant_id)

    @property
    def full_scope(self) -> str:
        return f"{self.app_id_uri}/{self.scope}"

    def count(self, kind: str) -> int:
        with self._lock:
            return sum(1 for k, _ in self.requests if k == kind)

    def rotate(self, *, keep_old: bool = True) -> SigningKey:
        """Sign with a new key from now on; the old one stays published unless `keep_old` is False."""
        key = SigningKey.new()
        with self._lock:
            self.keys.append(key)
            self.published = [*self.published, key] if keep_old else [key]
        return key

    def token(
        self,
        user: TestUser = ALICE,
        *,
        audience: str | list[str] | None = None,
        scopes: str | None = None,
        issuer: str | None = None,
        version: int = 2,
        lifetime: float = 3600,
        not_before: float | None = None,
        key: SigningKey | None = None,
        client_id: str = "aebc6443-996d-45c2-90f0-388ff96faa56",
        headers: dict[str, Any] | None = None,
        omit: Iterable[str] = (),
        **claims: Any,
    ) -> str:
        """An access token for the MCP server's app registration (what a client sends), as Entra ID shapes it."""
        now = int(time.time())
        body: dict[str, Any] = {
            "aud": audience or (self.client_id if version == 2 else self.app_id_uri),
            "iss": issuer or (self.issuer if version == 2 else self.v1_issuer),
            "iat": now - 5,
            "nbf": int(not_before) if not_before is not None else now - 5,
            "exp": int(now + lifetime),
            "oid": user.oid,
            "tid": self.tenant_id,
            "sub": hashlib.sha256(f"{user.oid}:{self.client_id}".encode()).hexdigest()[:43],
            "name": user.name,
            "scp": self.scope if scopes is None else scopes,
            "uti": secrets.token_urlsafe(16),
            "ver": "2.0" if version == 2 else "1.0",
        }
        if version == 2:
            body.update({"azp": client_id, "preferred_username": user.username})
        else:
            body.update({"appid": client_id, "upn": user.username, "unique_name": user.username})
        body.update(claims)
        for name in omit:
            body.pop(name, None)
        return self._sign(body, key, headers)

    def app_token(self, *, audience: str | None = None) -> str:
        """An application (client credentials) token: roles, no user, no scp."""
        now = int(time.time())
        body = {
            "aud": audience or self.client_id,
            "iss": self.issuer,
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "oid": str(uuid.uuid4()),
            "tid": self.tenant_id,
            "azp": str(uuid.uuid4()),
            "roles": ["Batch.ReadWrite"],
            "idtyp": "app",
            "ver": "2.0",
        }
        return self._sign(body)

    def _sign(self, body: dict[str, Any], key: SigningKey | None = None, headers: dict[str, Any] | None = None) -> str:
        key = key or self.keys[-1]
        return jwt.encode(body, key.private, algorithm="RS256", headers={"kid": key.kid, **(headers or {})})

    def decode(self, token: str, *, audience: str) -> dict[str, Any]:
        """Verify a token this provider signed (any key it ever had), as a resource would."""
        kid = jwt.get_unverified_header(token).get("kid")
        key = next(k for k in self.keys if k.kid == kid)
        return jwt.decode(
            token, key.private.public_key(), algorithms=["RS256"], audience=audience, options={"verify_iss": False}
        )

    # -- endpoints -----------------------------------------------------------------------------------

    def _record(self, kind: str, detail: str = "") -> None:
        with self._lock:
            self.requests.append((kind, detail))

    async def _discovery_v2(self, request: Request) -> Response:
        self._record("discovery")
        base = f"{self.url}/{self.tenant_id}"
        # Entra ID's document lists no code_challenge_methods_supported, though it supports S256.
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "response_modes_supported": ["query", "fragment", "form_post"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "request_uri_parameter_supported": False,
                "tenant_region_scope": "EU",
            }
        )

    async def _discovery_v1(self, request: Request) -> Response:
        self._record("discovery-v1")
        base = f"{self.url}/{self.tenant_id}"
        return JSONResponse(
            {
                "issuer": self.v1_issuer,
                "authorization_endpoint": f"{base}/oauth2/authorize",
                "token_endpoint": f"{base}/oauth2/token",
                "jwks_uri": f"{self.url}/common/discovery/keys",
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    async def _jwks(self, request: Request) -> Response:
        self._record("keys")
        with self._lock:
            published = list(self.published)
        return JSONResponse({"keys": [key.jwk() for key in published]})

    async def _authorize(self, request: Request) -> Response:
        q = request.query_params
        redirect = q.get("redirect_uri", "")
        if q.get("response_type") != "code" or not redirect:
            return _aad_error(400, "invalid_request", 900144, "The request body must contain response_type=code.")
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return _aad_error(400, "invalid_request", 9002325, "Proof Key for Code Exchange is required.")
        resource = q.get("resource")
        if resource and not q.get("scope", "").startswith(resource.rstrip("/") + "/"):
            return _aad_error(
                400,
                "invalid_target",
                9010010,
                "The resource parameter provided in the request doesn't match the scopes.",
            )
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _Grant(
                self.signed_in_user,
                q.get("client_id", ""),
                q.get("scope", ""),
                time.time() + 300,
                redirect_uri=redirect,
                challenge=q["code_challenge"],
            )
        self._record("authorize", self.signed_in_user.oid)
        query = {"code": code, **({"state": q["state"]} if "state" in q else {})}
        return RedirectResponse(f"{redirect}{'&' if '?' in redirect else '?'}{urlencode(query)}", status_code=302)

    async def _token(self, request: Request) -> Response:
        form = await request.form()
        grant = form.get("grant_type")
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return self._on_behalf_of(form)
        if grant == "refresh_token":
            return self._refresh_grant(form)
        if grant == "authorization_code":
            return self._code_grant(form)
        if grant == "client_credentials":
            return self._client_credentials(form)
        return _aad_error(
            400, "unsupported_grant_type", 70003, f"The app requested an unsupported grant type {grant!r}."
        )

    def _confidential_client(self, form: Any) -> Response | None:
        if form.get("client_id") != self.client_id:
            return _aad_error(400, "unauthorized_client", 700016, "Application was not found in the directory.")
        if form.get("client_assertion_type") == CLIENT_ASSERTION_TYPE:
            return self._certificate_client(str(form.get("client_assertion", "")))
        if form.get("client_secret") != self.client_secret:
            return _aad_error(401, "invalid_client", 7000215, "Invalid client secret provided.")
        return None

    def _certificate_client(self, assertion: str) -> Response | None:
        """The app proves itself with a JWT signed by a certificate registered on it (PS256, as Entra ID takes)."""
        if self.client_certificate is None:
            return _aad_error(401, "invalid_client", 700027, "No certificate is registered for the application.")
        try:
            jwt.decode(
                assertion,
                self.client_certificate.public_key(),
                algorithms=["PS256", "RS256"],
                audience=f"{self.url}/{self.tenant_id}/oauth2/v2.0/token",
                issuer=self.client_id,
                options={"require": ["exp", "nbf", "jti", "sub"]},
            )
        except jwt.PyJWTError as exc:
            return _aad_error(401, "invalid_client", 700027, f"Client assertion failed signature validation. ({exc})")
        return None

    def _on_behalf_of(self, form: Any) -> Response:
        refused = self._confidential_client(form)
        if refused is not None:
            return refused
        if form.get("requested_token_use") != "on_behalf_of":
            return _aad_error(400, "invalid_request", 90014, "The request must contain requested_token_use.")
        try:
            claims = self._verify_assertion(str(form.get("assertion", "")))
        except jwt.PyJWTError as exc:
            return _aad_error(400, "invalid_grant", 50013, f"Assertion failed signature validation. ({exc})")
        user = self.users.get(claims.get("oid", ""))
        if user is None:
            return _aad_error(400, "invalid_grant", 50020, "User account does not exist in tenant.")
        self._record("obo", user.oid)
        if user.oid in self.refused_assertions:
            return _aad_error(400, "invalid_grant", 500133, "The assertion is not within its valid time range.")
        if not user.consented:
            return _aad_error(
                400,
                "invalid_grant",
                65001,
                "The user or administrator has not consented to use the application. Send an interactive "
                "authorization request for this user and resource.",
            )
        scope = str(form.get("scope", ""))
        if BATCH_DEFAULT_SCOPE not in scope.split():
            return _aad_error(400, "invalid_scope", 70011, f"The provided value for scope {scope!r} is not valid.")
        return self._issue_batch(user)

    def _refresh_grant(self, form: Any) -> Response:
        refused = self._confidential_client(form)
        if refused is not None:
            return refused
        with self._lock:
            grant = self._refresh.get(str(form.get("refresh_token", "")))
        if grant is None or grant.expires < time.time():
            return _aad_error(400, "invalid_grant", 700082, "The refresh token has expired or is invalid.")
        self._record("refresh", grant.user.oid)
        return self._issue_batch(grant.user)

    def _code_grant(self, form: Any) -> Response:
        with self._lock:
            grant = self._codes.pop(str(form.get("code", "")), None)
        if grant is None or grant.expires < time.time():
            return _aad_error(400, "invalid_grant", 70008, "The provided authorization code is expired or invalid.")
        verifier = str(form.get("code_verifier", ""))
        expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        if expected != grant.challenge:
            return _aad_error(400, "invalid_grant", 501481, "The Code_Verifier does not match the code_challenge.")
        if form.get("redirect_uri") != grant.redirect_uri or form.get("client_id") != grant.client_id:
            return _aad_error(400, "invalid_grant", 50148, "The redirect_uri or client_id does not match.")
        wanted = [s for s in grant.scope.split() if s.startswith(self.app_id_uri.rstrip("/") + "/")]
        names = " ".join(s.rsplit("/", 1)[1] for s in wanted)
        if not names:
            return _aad_error(400, "invalid_scope", 70011, f"No scope of {self.app_id_uri} was requested.")
        self._record("code", grant.user.oid)
        token = self.token(grant.user, scopes=names, client_id=grant.client_id)
        return JSONResponse(
            {"token_type": "Bearer", "scope": " ".join(wanted), "expires_in": 3599, "access_token": token}
        )

    def _client_credentials(self, form: Any) -> Response:
        """An app-only token for the app itself (no user): what `batch-mcp doctor` asks for."""
        refused = self._confidential_client(form)
        if refused is not None:
            return refused
        self._record("client_credentials", self.client_id)
        now = int(time.time())
        access = self._sign(
            {
                "aud": BATCH_RESOURCE,
                "iss": self.v1_issuer,
                "iat": now,
                "nbf": now,
                "exp": now + 3600,
                "appid": self.client_id,
                "tid": self.tenant_id,
                "idtyp": "app",
                "ver": "1.0",
            }
        )
        return JSONResponse({"token_type": "Bearer", "expires_in": 3599, "access_token": access})

    def _verify_assertion(self, assertion: str) -> dict[str, Any]:
        kid = jwt.get_unverified_header(assertion).get("kid")
        with self._lock:
            key = next((k for k in self.published if k.kid == kid), None)
        if key is None:
            raise jwt.InvalidSignatureError("unknown key")
        return jwt.decode(
            assertion,
            key.private.public_key(),
            algorithms=["RS256"],
            audience=[self.client_id, self.app_id_uri],
            issuer=[self.issuer, self.v1_issuer],
        )

    def _issue_batch(self, user: TestUser) -> Response:
        now = int(time.time())
        access = self._sign(
            {
                "aud": BATCH_RESOURCE,
                "iss": self.v1_issuer,
                "iat": now,
                "nbf": now,
                "exp": now + self.batch_token_lifetime,
                "oid": user.oid,
                "tid": self.tenant_id,
                "name": user.name,
                "upn": user.username,
                "appid": self.client_id,
                "scp": "user_impersonation",
                "uti": secrets.token_urlsafe(16),
                "ver": "1.0",
            }
        )
        refresh = secrets.token_urlsafe(32)
        with self._lock:
            self._refresh[refresh] = _Grant(user, self.client_id, BATCH_DEFAULT_SCOPE, time.time() + 86400)
        info = base64.urlsafe_b64encode(json.dumps({"uid": user.oid, "utid": self.tenant_id}).encode()).decode()
        return JSONResponse(
            {
                "token_type": "Bearer",
                "scope": f"{BATCH_RESOURCE}user_impersonation",
                "expires_in": self.batch_token_lifetime - 1,
                "ext_expires_in": self.batch_token_lifetime - 1,
                "access_token": access,
                "refresh_token": refresh,
                "client_info": info.rstrip("="),
            }
        )


def _aad_error(status: int, error: str, code: int, text: str) -> Response:
    return JSONResponse(
        {
            "error": error,
            "error_description": f"AADSTS{code}: {text} Trace ID: {uuid.uuid4()} Correlation ID: {uuid.uuid4()}",
            "error_codes": [code],
            "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
        },
        status_code=status,
    )
