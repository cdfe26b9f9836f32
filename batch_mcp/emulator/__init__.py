"""A local Azure Batch service: the Batch REST API of every published version (2018-08-01.7.0 to
2025-06-01), routed from the catalogs' HTTP bindings, with tasks run as local processes.

    from batch_mcp.emulator import EmulatorConfig, EmbeddedEmulator, create_app

    async with EmbeddedEmulator(EmulatorConfig(seed_pool=True)) as emu:
        ...  # point any Batch client at emu.url

Standalone: `batch-mcp emulator [--host 127.0.0.1] [--port 8089] [--data-dir D]` or
`python -m batch_mcp.emulator`.

Authentication, as a library: none unless `account_name` and `account_key` are set, then every
request must carry a valid Shared Key signature. The standalone service always requires one: its
own key, or the well-known development account (public, like Azurite's devstoreaccount1; it keeps
out requests never meant for it, not a local process that has read this) is

    account name: devbatchaccount1
    account key:  ZGV2YmF0Y2hhY2NvdW50MS1sb2NhbC1lbXVsYXRvci1rZXktbm90LWEtc2VjcmV0IQ==

(the standalone default without a key; `DEV_ACCOUNT_NAME`/`DEV_ACCOUNT_KEY` here).

Layout: `app`/`routing`/`handlers`/`protocol` speak HTTP; `backend/` is the account's state and
state machines (no HTTP); `store` is SQLite (no HTTP); `runner` runs processes; `clock` advances
timers and schedules tasks; `hosting` shares one account per state folder between processes.
docs/architecture.md has the whole picture.
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
