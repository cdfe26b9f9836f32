"""Settings from flags and environment, in one model (pydantic-settings).

Environment variables are `BATCH_MCP_<NAME>`, plus the Azure CLI's names for the Batch account
(`AZURE_BATCH_ENDPOINT`, `AZURE_BATCH_ACCOUNT`, `AZURE_BATCH_ACCESS_KEY`). Command-line flags win
over the environment. `--no-confirm` is deliberately not a setting: lifting confirmation must be a
visible flag on the command line of an unattended job, never an inherited environment variable.

Every field is also a command-line flag (`--field-name`, see `batch_mcp/cli.py`) of the commands
that run the server's engine: `serve`, `call` and `doctor`. A field narrows or widens that with
`json_schema_extra=used_by(...)`, or stays off the command line with `json_schema_extra=NO_FLAG`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic.config import JsonDict
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from batch_mcp.catalog.loader import DEFAULT_API_VERSION, available_versions, catalog_root


def user_dir(kind: Literal["data", "state"]) -> Path:
    """XDG-style per-user folder for batch-mcp (data: emulator state; state: audit log)."""
    env, fallback = {"data": ("XDG_DATA_HOME", ".local/share"), "state": ("XDG_STATE_HOME", ".local/state")}[kind]
    base = os.environ.get(env) or str(Path.home() / fallback)
    return Path(base) / "batch-mcp"


def _csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def endpoint_url(text: str) -> str | None:
    """A Batch endpoint as a base URL: `https://` assumed when no scheme is given, no trailing slash;
    empty means unset (the local emulator). Anything that cannot be an http(s) base URL is refused
    here, before the first request, rather than after a retry budget spent on it."""
    text = text.strip()
    if not text:
        return None
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(
            f"the endpoint must start with https:// (or http:// for a local emulator), not {parts.scheme}://"
        )
    try:
        port = parts.port
    except ValueError:
        raise ValueError("the endpoint's port is not a number from 0 to 65535") from None
    if not parts.hostname or any(c.isspace() for c in text) or port == 0:
        raise ValueError("the endpoint is not a URL like https://<account>.<region>.batch.azure.com")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError("the endpoint is a base URL: no user, query (?...) or fragment (#...)")
    return text.rstrip("/")


CsvList = Annotated[list[str], NoDecode]  # "a,b,c" in the environment

ENGINE_COMMANDS = ("serve", "call", "doctor")  # the commands a field's flag belongs to unless it says otherwise
NO_FLAG: JsonDict = {"flag": False}  # a secret: from the environment only, never on a command line others can read


def used_by(*commands: str) -> JsonDict:
    """The commands whose flags include this field (`doctor` always does: it checks every setting)."""
    return {"commands": [*sorted({*commands, "doctor"})]}


SERVE_ONLY = used_by("serve")


class Settings(BaseSettings):
    # an empty variable is unset (an MCP client's form left blank, `export AZURE_BATCH_ENDPOINT=`)
    model_config = SettingsConfigDict(
        env_prefix="BATCH_MCP_", extra="ignore", populate_by_name=True, env_ignore_empty=True
    )

    # -- the Batch account -------------------------------------------------------------------
    endpoint: str | None = Field(
        None,
        validation_alias=AliasChoices("AZURE_BATCH_ENDPOINT", "BATCH_MCP_ENDPOINT"),
        description="Batch account URL, e.g. https://acct.westeurope.batch.azure.com; unset: the local emulator",
    )
    account: str | None = Field(
        None,
        validation_alias=AliasChoices("AZURE_BATCH_ACCOUNT", "BATCH_MCP_ACCOUNT"),
        description="Batch account name, needed for Shared Key",
    )
    access_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("AZURE_BATCH_ACCESS_KEY", "BATCH_MCP_ACCESS_KEY"),
        description="Shared Key (environment only); without it an Azure endpoint uses Microsoft Entra ID",
        json_schema_extra=NO_FLAG,
    )
    auth: Literal["auto", "shared_key", "entra", "none"] = Field(
        "auto", description="auto: Shared Key when a key is set, else Entra ID for Azure, none for local"
    )
    credential: Literal["default", "cli", "managed_identity", "environment", "workload_identity"] = Field(
        "default", description="which Entra ID credential (default: azure-identity's DefaultAzureCredential chain)"
    )
    api_version: str = Field(
        DEFAULT_API_VERSION,
        description="Batch API version whose catalog is served",
        json_schema_extra=used_by("serve", "call", "tools"),
    )

    # -- which tools --------------------------------------------------------------------------
    toolsets: CsvList = Field(
        default_factory=lambda: ["default"],
        description="tools/list contents: default, all, or toolset names",
        json_schema_extra=used_by("serve", "call", "tools"),
    )
    tools: CsvList = Field(
        default_factory=list,
        description="allow-list of tool names (toolsets are then ignored)",
        json_schema_extra=used_by("serve", "call", "tools"),
    )
    exclude_tools: CsvList = Field(
        default_factory=list, description="tool names to disable", json_schema_extra=used_by("serve", "call", "tools")
    )
    read_only: bool = Field(
        False,
        description="only tools that change nothing; wins over everything",
        json_schema_extra=used_by("serve", "call", "tools"),
    )

    # -- guardrails -----------------------------------------------------------------------------
    max_nodes: int | None = Field(None, ge=0, description="refuse any pool size above this")
    audit_log: Path | None = Field(
        default_factory=lambda: user_dir("state") / "audit.jsonl",
        description="JSON-lines log of every call that can change something; off: none",
    )
    page_size: int = Field(25, ge=1, le=1000, description="list items per reply when max_results is not given")

    # -- resources and events ---------------------------------------------------------------------
    resource_window: int = Field(
        256 * 1024,
        ge=1024,
        le=16 * 1024 * 1024,
        description="bytes a file resource read returns at most",
        json_schema_extra=SERVE_ONLY,
    )
    max_watchers: int = Field(
        100, ge=1, description="resources watched for subscribers at once, across clients", json_schema_extra=SERVE_ONLY
    )
    max_watchers_per_user: int = Field(
        25,
        ge=1,
        description="of those, watched for one user at once (with Entra ID sign-in)",
        json_schema_extra=SERVE_ONLY,
    )
    watch_max_interval: float = Field(
        20.0, ge=1.0, description="seconds between checks of an unchanging resource", json_schema_extra=SERVE_ONLY
    )

    # -- transport ------------------------------------------------------------------------------
    transport: Literal["stdio", "http"] = Field(
        "stdio", description="stdio, or Streamable HTTP at /mcp", json_schema_extra=SERVE_ONLY
    )
    host: str = Field("127.0.0.1", description="HTTP bind address", json_schema_extra=SERVE_ONLY)
    port: int = Field(8000, ge=0, le=65535, description="HTTP port", json_schema_extra=SERVE_ONLY)
    token: SecretStr | None = Field(
        None, description="HTTP bearer token; generated on loopback when unset", json_schema_extra=SERVE_ONLY
    )
    allowed_hosts: CsvList = Field(
        default_factory=list,
        description="Host names clients use, required on a non-loopback bind",
        json_schema_extra=SERVE_ONLY,
    )
    http_max_sessions: int = Field(
        1000,
        ge=1,
        description="HTTP sessions open at once (about 40 KB each); more are refused with 503 until one "
        "ends or idles out (30 min)",
        json_schema_extra=SERVE_ONLY,
    )

    # -- HTTP sign-in with Microsoft Entra ID (each user acts as themselves in Batch) ---------------
    http_auth: Literal["token", "entra"] = Field(
        "token",
        description="how HTTP clients sign in: token (one shared bearer token) or entra (each user with "
        "Microsoft Entra ID, calling Batch as themselves)",
        json_schema_extra=SERVE_ONLY,
    )
    public_url: str | None = Field(
        None,
        description="the server's URL as clients reach it, e.g. https://batch-mcp.contoso.com "
        "(entra: the OAuth resource); default http://HOST:PORT",
        json_schema_extra=SERVE_ONLY,
    )
    entra_tenant_id: str | None = Field(
        None, description="entra: the directory (tenant) id of the app registration", json_schema_extra=SERVE_ONLY
    )
    entra_client_id: str | None = Field(
        None, description="entra: the application (client) id of the app registration", json_schema_extra=SERVE_ONLY
    )
    entra_client_secret: SecretStr | None = Field(
        None,
        description="entra: a client secret of the app registration (environment only), for on-behalf-of",
        json_schema_extra=NO_FLAG,
    )
    entra_client_certificate: Path | None = Field(
        None,
        description="entra: PEM file with the app registration's certificate and private key, instead of a secret",
        json_schema_extra=SERVE_ONLY,
    )
    entra_app_id_uri: str | None = Field(
        None, description="entra: the Application ID URI (default api://CLIENT_ID)", json_schema_extra=SERVE_ONLY
    )
    entra_scope: str = Field(
        "user_impersonation",
        description="entra: the delegated scope the app registration exposes",
        json_schema_extra=SERVE_ONLY,
    )
    entra_authority: str = Field(
        "https://login.microsoftonline.com",
        description="entra: the Entra ID sign-in host (sovereign clouds differ)",
        json_schema_extra=SERVE_ONLY,
    )
    state_keys: SecretStr | None = Field(
        None,
        description="comma-separated secrets (32+ bytes each, environment only) sealing confirmation state, shared "
        "by every replica; first seals, all open; default: a key per process",
        json_schema_extra=NO_FLAG,
    )
    confirmations_db: Path | None = Field(
        None,
        description="SQLite file recording used confirmations, so replicas that share it accept each answer once "
        "between them; default: in memory",
        json_schema_extra=SERVE_ONLY,
    )

    # -- embedded emulator -----------------------------------------------------------------------
    emulator_data_dir: Path = Field(
        default_factory=lambda: user_dir("data") / "emulator",
        description="emulator state; :memory: keeps nothing between runs",
    )
    emulator_transition_delay: float | None = Field(
        None, ge=0, description="seconds per emulated state change (default 1)"
    )
    emulator_exec: Literal["auto", "sandbox", "confirm", "unrestricted"] = Field(
        "auto",
        description="how the emulator runs task command lines: auto (sandbox when one works here, else confirm), "
        "sandbox, confirm (ask before each new command line) or unrestricted",
    )

    _csv_fields = field_validator("toolsets", "tools", "exclude_tools", "allowed_hosts", mode="before")(_csv)

    @field_validator("api_version")
    @classmethod
    def _known_api_version(cls, value: str) -> str:
        versions = available_versions(catalog_root())
        if value not in versions:
            raise ValueError(f"no catalog for api-version {value!r} (available: {', '.join(versions) or 'none'})")
        return value

    @field_validator("endpoint", mode="before")
    @classmethod
    def _endpoint_url(cls, value: object) -> object:
        return endpoint_url(value) if isinstance(value, str) else value

    @field_validator("audit_log", mode="before")
    @classmethod
    def _audit_off(cls, value: object) -> object:
        return None if isinstance(value, str) and value.strip().lower() in ("", "off", "none") else value

    @property
    def uses_emulator(self) -> bool:
        return not self.endpoint


def environment_names(name: str) -> list[str]:
    """The environment variables a setting is read from, in the order `Settings` tries them."""
    field = Settings.model_fields[name]
    if isinstance(field.validation_alias, AliasChoices):
        return [a for a in field.validation_alias.choices if isinstance(a, str)]
    return [f"{Settings.model_config.get('env_prefix', '')}{name}".upper()]


def source_of(name: str, given: Mapping[str, object] = {}, environ: Mapping[str, str] | None = None) -> str:
    """Where a setting's value comes from: its flag (when `given` on the command line), the
    environment variable that set it, or "default"."""
    if name in given:
        return "--" + name.replace("_", "-")
    present = {key.upper() for key in (os.environ if environ is None else environ)}
    return next((variable for variable in environment_names(name) if variable.upper() in present), "default")
