"""Settings of one emulator instance.

The defaults suit a person running `batch-mcp emulator` by hand: state under a per-user folder,
real processes, transitions that take about a second so state changes are visible. Tests use
`data_dir=":memory:"`, `runner="instant"` (or real processes) and a tiny `transition_delay`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

# The well-known development account, like Azurite's devstoreaccount1. The key is public: it
# protects nothing, it only lets clients that insist on Shared Key (the Azure CLI, SDK samples)
# talk to the emulator. Enable verification with account_name/account_key.
DEV_ACCOUNT_NAME = "devbatchaccount1"
DEV_ACCOUNT_KEY = "ZGV2YmF0Y2hhY2NvdW50MS1sb2NhbC1lbXVsYXRvci1rZXktbm90LWEtc2VjcmV0IQ=="

# The account name of a state folder's own key (see hosting.py): what batch-mcp processes sign with.
LOCAL_ACCOUNT_NAME = "local"

RunnerKind = Literal["process", "instant"]


def default_data_dir() -> Path:
    """A per-user folder: $XDG_DATA_HOME/batch-mcp/emulator (or ~/.local/share/...)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "batch-mcp" / "emulator"


@dataclass
class EmulatorConfig:
    """Everything an emulator instance needs; see the field comments for what each knob does."""

    data_dir: str | Path = ":memory:"  # SQLite + node folders; ":memory:" keeps state in memory, files in a temp dir
    account_name: str | None = None  # with account_key: verify Shared Key signatures
    account_key: str | None = None
    local_key: str | None = None  # the state folder's key (account "local"), accepted beside the account's
    # Host names served besides localhost, *.localhost and loopback addresses; None: any Host (an
    # in-process app under test). The standalone service and the MCP server's emulator set a list.
    allowed_hosts: list[str] | None = None
    allowed_origins: list[str] = field(default_factory=list)  # browser origins allowed (none by default)
    transition_delay: float = 1.0  # seconds per state transition (node start, resize, reboot, delete, ...)
    runner: RunnerKind = "process"  # "process": real subprocesses; "instant": tasks finish at once (exit 0)
    sandbox: Literal["off", "on"] = "off"  # "on": every task process in a sandbox (see sandbox.py), or no start
    sandbox_network: bool = False  # let sandboxed tasks use the network
    seed_pool: bool = False  # create one small ready pool at first start
    seed_pool_id: str = "local"
    seed_pool_nodes: int = 1
    seed_pool_slots: int = 4
    max_nodes_per_pool: int = 8  # every node is a set of slots on this machine: keep pools small
    max_total_slots: int = 64  # all running tasks of the instance, across pools
    tick_interval: float = 0.05  # how often the clock loop advances transitions and schedules tasks
    metrics_interval: float = 30.0  # how often pool metrics ($PendingTasks, ...) are sampled for autoscale
    max_request_body: int = 1024 * 1024  # larger bodies answer 413 RequestBodyTooLarge
    region: str = "local"
    vm_size_cores: int = 2  # cores for a VM size the emulator's list does not know (usage metrics, core hours)
    applications: list[dict[str, Any]] = field(default_factory=list)  # ApplicationSummary entries to serve
    applications_dir: str | Path | None = None  # packages: <dir>/<appId>/<version>.zip; default <data_dir>/applications
    instant_exit_code: int = 0  # exit code the instant runner reports

    @property
    def in_memory(self) -> bool:
        return str(self.data_dir) == ":memory:"

    @property
    def applications_folder(self) -> Path | None:
        """Where application packages are kept (see applications.py); none for an in-memory emulator
        unless one is given."""
        if self.applications_dir is not None:
            return Path(self.applications_dir).expanduser()
        return None if self.in_memory else Path(self.data_dir).expanduser() / "applications"

    @property
    def verifies_shared_key(self) -> bool:
        return bool(self.keys)

    @property
    def keys(self) -> dict[str, str]:
        """Account name → key of every signature accepted; empty: requests are not authenticated."""
        found = {LOCAL_ACCOUNT_NAME: self.local_key} if self.local_key else {}
        if self.account_name and self.account_key:
            found[self.account_name] = self.account_key
        return found

    def redacted(self) -> dict[str, Any]:
        """The settings for logs and reports, with the keys masked."""
        out = {k: v for k, v in self.__dict__.items() if k not in ("account_key", "local_key")}
        out["account_key"] = "***" if self.account_key else None
        out["local_key"] = "***" if self.local_key else None
        out["data_dir"] = str(self.data_dir)
        return out
