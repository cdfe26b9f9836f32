"""The Azure CLI (`az`), installed once into a cache folder outside the repo, for tests that drive
the emulator with it.

`pip install azure-cli` would pull some 700 MB in about two minutes; `uv` (a test dependency)
installs the same pinned release into its own virtual environment in about 15 s, cold. The folder
counts as installed once its marker names the exact release; a lock keeps concurrent test runs
from installing over each other. Cache location: as for the conformance toolchain
($BATCH_MCP_TEST_CACHE, else $XDG_CACHE_HOME/batch-mcp-tests, else ~/.cache/batch-mcp-tests).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conformance.toolchain import cache_dir, locked

AZURE_CLI_SPEC = "azure-cli==2.91.0"  # pins azure-batch 15.0.0b1
INSTALL_TIMEOUT_SECONDS = 600
MARKER = ".batch-mcp-installed"


class AzureCliError(RuntimeError):
    """The Azure CLI could not be installed; the message says what to do."""


def uv() -> str:
    beside = Path(sys.executable).parent / "uv"
    found = str(beside) if beside.is_file() else shutil.which("uv")
    if found is None:
        raise AzureCliError("uv is not installed: `pip install -e '.[test]'` brings it")
    return found


def provision() -> Path:
    """The `az` executable of a cached virtual environment holding AZURE_CLI_SPEC."""
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    venv = root / AZURE_CLI_SPEC.replace("==", "-")
    az = venv / "bin" / "az"
    with locked(root / ".azure-cli.lock"):
        marker = venv / MARKER
        if marker.is_file() and marker.read_text(encoding="utf-8") == AZURE_CLI_SPEC and az.is_file():
            return az
        shutil.rmtree(venv, ignore_errors=True)
        env = {**os.environ, "VIRTUAL_ENV": str(venv)}
        steps = (
            [uv(), "venv", "--quiet", "--python", sys.executable, str(venv)],
            [uv(), "pip", "install", "--quiet", AZURE_CLI_SPEC],
        )
        for step in steps:
            done = subprocess.run(
                step, env=env, capture_output=True, text=True, encoding="utf-8", timeout=INSTALL_TIMEOUT_SECONDS
            )
            if done.returncode != 0:
                raise AzureCliError(f"`{' '.join(step)}` failed: {done.stderr.strip()[-2000:]}")
        marker.write_text(AZURE_CLI_SPEC, encoding="utf-8")
    return az
