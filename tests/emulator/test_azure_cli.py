"""The Azure CLI itself, as `pip install azure-cli` installs it, driving the emulator with Shared Key
over `--account-endpoint`: the commands a user types, and the service's errors they print."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from batch_mcp.emulator import DEV_ACCOUNT_KEY, DEV_ACCOUNT_NAME, EmbeddedEmulator
from tests.emulator.azure_cli import provision
from tests.emulator.conftest import fast_config

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


class Az:
    def __init__(self, az: Path, url: str, config_dir: Path) -> None:
        self.az = az
        self.account = ["--account-endpoint", url, "--account-name", DEV_ACCOUNT_NAME, "--account-key", DEV_ACCOUNT_KEY]
        # a private config folder: no login, no telemetry, nothing written to the user's ~/.azure
        self.env = {**os.environ, "AZURE_CONFIG_DIR": str(config_dir), "AZURE_CORE_COLLECT_TELEMETRY": "no"}

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.az), "batch", *args, *self.account, "--output", "json"]
        return subprocess.run(command, env=self.env, capture_output=True, text=True, encoding="utf-8", timeout=120)

    def json(self, *args: str) -> Any:
        done = self.run(*args)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else None


def session(az: Az, workdir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    images = az.json("pool", "supported-images", "list")
    out["agents"] = {image["nodeAgentSkuId"] for image in images}
    az.json(
        "pool", "create", "--id", "clipool", "--vm-size", "Standard_D2s_v3", "--target-dedicated-nodes", "1",
        "--image", "canonical:ubuntu-24_04-lts:server", "--node-agent-sku-id", "batch.node.ubuntu 24.04",
    )  # fmt: skip
    out["bad_image"] = az.run(
        "pool", "create", "--id", "nopool", "--vm-size", "Standard_D2s_v3",
        "--image", "canonical:ubuntu:99.04", "--node-agent-sku-id", "batch.node.ubuntu 24.04",
    )  # fmt: skip
    az.json("job", "create", "--id", "clijob", "--pool-id", "clipool")
    az.json(
        "task", "create", "--job-id", "clijob", "--task-id", "hello", "--command-line", "/bin/sh -c 'echo hello az'"
    )
    deadline = time.monotonic() + 60
    while (task := az.json("task", "show", "--job-id", "clijob", "--task-id", "hello"))["state"] != "completed":
        assert time.monotonic() < deadline, task
        time.sleep(0.5)
    out["task"] = task
    target = workdir / "stdout.txt"
    az.json(
        "task", "file", "download", "--job-id", "clijob", "--task-id", "hello", "--file-path", "stdout.txt",
        "--destination", str(target),
    )  # fmt: skip
    out["stdout"] = target.read_text(encoding="utf-8")
    out["bad_filter"] = az.run("task", "list", "--job-id", "clijob", "--filter", "exitCode eq 0")
    out["pools"] = az.json("pool", "list", "--query", "[].id")
    return out


async def test_the_azure_cli_drives_the_emulator_end_to_end(tmp_path: Path) -> None:
    az_path = await anyio.to_thread.run_sync(provision)
    config = fast_config(account_name=DEV_ACCOUNT_NAME, account_key=DEV_ACCOUNT_KEY, transition_delay=0.05)
    async with EmbeddedEmulator(config) as emu:
        with anyio.fail_after(300):
            out = await anyio.to_thread.run_sync(session, Az(az_path, emu.url, tmp_path / "azconfig"), tmp_path)
    assert "batch.node.ubuntu 24.04" in out["agents"]
    assert out["bad_image"].returncode != 0 and "InvalidPropertyValue" in out["bad_image"].stderr
    assert out["task"]["executionInfo"]["exitCode"] == 0
    assert out["stdout"] == "hello az\n"
    assert out["bad_filter"].returncode != 0 and "InvalidQueryParameterValue" in out["bad_filter"].stderr
    assert out["pools"] == ["clipool"]
