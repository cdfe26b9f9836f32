"""Building a client from plain settings values, with the Azure CLI's environment variable names.

Which endpoint to use (and whether to start the embedded emulator when there is none) is the
server's decision; this module only picks the credential for an endpoint it is given.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx2

from batch_mcp.batch.auth import AsyncTokenCredential, CredentialKind, make_auth
from batch_mcp.batch.client import BatchClient, normalize_endpoint
from batch_mcp.catalog import Catalog

__all__ = [
    "ENV_ACCESS_KEY",
    "ENV_ACCOUNT",
    "ENV_ENDPOINT",
    "AuthKind",
    "BatchSettings",
    "account_from_endpoint",
    "choose_auth_kind",
    "connect",
]

ENV_ENDPOINT = "AZURE_BATCH_ENDPOINT"
ENV_ACCOUNT = "AZURE_BATCH_ACCOUNT"
ENV_ACCESS_KEY = "AZURE_BATCH_ACCESS_KEY"
AZURE_HOST_SUFFIX = ".batch.azure.com"
AuthKind = Literal["auto", "shared_key", "entra", "none"]


@dataclass(frozen=True, slots=True)
class BatchSettings:
    endpoint: str | None = None
    account: str | None = None
    key: str | None = field(default=None, repr=False)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> BatchSettings:
        env = os.environ if environ is None else environ
        return cls(
            endpoint=env.get(ENV_ENDPOINT) or None,
            account=env.get(ENV_ACCOUNT) or None,
            key=env.get(ENV_ACCESS_KEY) or None,
        )


def is_azure_endpoint(endpoint: str) -> bool:
    host = httpx2.URL(normalize_endpoint(endpoint)).host.lower()
    return host.endswith(AZURE_HOST_SUFFIX)


def account_from_endpoint(endpoint: str) -> str | None:
    """`https://myaccount.westeurope.batch.azure.com` → `myaccount`."""
    host = httpx2.URL(normalize_endpoint(endpoint)).host.lower()
    return host.split(".", 1)[0] if host.endswith(AZURE_HOST_SUFFIX) else None


def choose_auth_kind(endpoint: str, key: str | None) -> Literal["shared_key", "entra", "none"]:
    """A key means Shared Key; an Azure endpoint without one means Entra ID; anything else, no auth."""
    if key:
        return "shared_key"
    if is_azure_endpoint(endpoint):
        return "entra"
    return "none"


def connect(
    catalog: Catalog,
    endpoint: str,
    *,
    account: str | None = None,
    key: str | None = None,
    auth_kind: AuthKind = "auto",
    credential: CredentialKind | AsyncTokenCredential | None = None,
    **client_options: Any,
) -> BatchClient:
    """A client for `endpoint` with the credential the settings call for."""
    kind = choose_auth_kind(endpoint, key) if auth_kind == "auto" else auth_kind
    auth = make_auth(kind, account=account or account_from_endpoint(endpoint), key=key, credential=credential)
    return BatchClient(catalog, endpoint, auth=auth, **client_options)
