"""Settings from flags and environment, in one model (pydantic-settings).

Environment variables are `BATCH_MCP_<NAME>`, plus the Azure CLI's names for the Batch account
(`AZURE_BATCH_ENDPOINT`, `AZURE_BATCH_ACCOUNT`, `AZURE_BATCH_ACCESS_KEY`). Command-line flags win
over the environment. `--no-confirm` is deliberately not a setting: lifting confirmation must be a
visible flag on the command line of an unattended job, never an inherited environment variable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from batch_mcp.catalog.loader import DEFAULT_API_VERSION


def user_dir(kind: Literal["data", "state"]) -> Path:
    """XDG-style per-user folder for batch-mcp (data: emulator state; state: audit log)."""
    env, fallback = {"data": ("XDG_DATA_HOME", ".local/share"), "state": ("XDG_STATE_HOME", ".local/state")}[kind]
    base = os.environ.get(env) or str(Path.home() / fallback)
    return Path(base) / "batch-mcp"


def _csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


CsvList = Annotated[list[str], NoDecode]  # "a,b,c" in the environment


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BATCH_MCP_", extra="ignore", populate_by_name=True)

    # -- the Batch account -------------------------------------------------------------------
    endpoint: str | None = Field(
        None,
        validation_alias=AliasChoices("endpoint", "AZURE_BATCH_ENDPOINT", "BATCH_MCP_ENDPOINT"),
        description="Batch account URL; unset means the embedded local emulator",
    )
    account: str | None = Field(
        None, validation_alias=AliasChoices("account", "AZURE_BATCH_ACCOUNT", "BATCH_MCP_ACCOUNT")
    )
    access_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("access_key", "AZURE_BATCH_ACCESS_KEY", "BATCH_MCP_ACCESS_KEY"),
        description="Shared Key; without it an Azure endpoint uses Microsoft Entra ID",
    )
    auth: Literal["auto", "shared_key", "entra", "none"] = "auto"
    credential: Literal["default", "cli", "managed_identity", "environment", "workload_identity"] = "default"
    api_version: str = DEFAULT_API_VERSION

    # -- which tools --------------------------------------------------------------------------
    toolsets: CsvList = Field(default_factory=lambda: ["default"])
    tools: CsvList = Field(default_factory=list, description="allow-list of tool names")
    exclude_tools: CsvList = Field(default_factory=list)
    read_only: bool = False

    # -- guardrails -----------------------------------------------------------------------------
    max_nodes: int | None = Field(None, ge=0)
    audit_log: Path | None = Field(default_factory=lambda: user_dir("state") / "audit.jsonl")
    page_size: int = Field(25, ge=1, le=1000, description="list items per reply unless max_results says")

    # -- transport ------------------------------------------------------------------------------
    transport: Literal["stdio", "http"] = "stdio"
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    token: SecretStr | None = None
    allowed_hosts: CsvList = Field(default_factory=list, description="extra Host values allowed over HTTP")

    # -- embedded emulator -----------------------------------------------------------------------
    emulator_data_dir: Path = Field(
        default_factory=lambda: user_dir("data") / "emulator", description='":memory:" keeps nothing between runs'
    )
    emulator_transition_delay: float | None = Field(None, ge=0, description="seconds per emulated state change")

    _csv_fields = field_validator("toolsets", "tools", "exclude_tools", "allowed_hosts", mode="before")(_csv)

    @property
    def uses_emulator(self) -> bool:
        return not self.endpoint
