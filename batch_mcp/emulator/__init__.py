"""A local Azure Batch service: the Batch REST API (2018-08-01.7.0, 2024-02-01.19.0 and the SDKs'
2025-06-01) served from the catalog's HTTP bindings, with tasks run as local processes.

    from batch_mcp.emulator import EmulatorConfig, EmbeddedEmulator, create_app

    async with EmbeddedEmulator(EmulatorConfig(seed_pool=True)) as emu:
        ...  # point any Batch client at emu.url

Standalone: `batch-mcp emulator [--host 127.0.0.1] [--port 8089] [--data-dir D]` or
`python -m batch_mcp.emulator`.

Authentication: none by default. With `account_name` and `account_key` set, requests must carry a
valid Shared Key signature. The well-known development account (public, like Azurite's
devstoreaccount1; it protects nothing) is

    account name: devbatchaccount1
    account key:  ZGV2YmF0Y2hhY2NvdW50MS1sb2NhbC1lbXVsYXRvci1rZXktbm90LWEtc2VjcmV0IQ==

(`batch-mcp emulator --dev-account` turns it on; `DEV_ACCOUNT_NAME`/`DEV_ACCOUNT_KEY` here).

Layout: `app`/`handlers`/`protocol` speak HTTP; `backend/` is the account's state and state
machines (no HTTP); `store` is SQLite (no HTTP); `runner` runs processes; `clock` advances timers
and schedules tasks.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from batch_mcp.emulator.config import DEV_ACCOUNT_KEY, DEV_ACCOUNT_NAME, EmulatorConfig, default_data_dir

if TYPE_CHECKING:
    from batch_mcp.emulator.app import create_app
    from batch_mcp.emulator.embedded import EmbeddedEmulator

# The HTTP app and the embedded server load on first use, so `batch-mcp` (which registers the
# `emulator` subcommand) does not pay for them when it talks to a real Batch account.
_LAZY = {"create_app": "batch_mcp.emulator.app", "EmbeddedEmulator": "batch_mcp.emulator.embedded"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEV_ACCOUNT_KEY",
    "DEV_ACCOUNT_NAME",
    "EmbeddedEmulator",
    "EmulatorConfig",
    "create_app",
    "default_data_dir",
]
