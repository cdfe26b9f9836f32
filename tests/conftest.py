"""Shared test fixtures. The official specs live beside the project in ../shared/specs."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPECS_DIR = ROOT.parent / "shared" / "specs"
API_VERSIONS = ("2018-08-01.7.0", "2024-02-01.19.0")

# The product keeps its per-user state (the emulator's default folder, the audit log) under
# XDG_DATA_HOME and XDG_STATE_HOME. A test run gets folders of its own, set before anything runs so
# every process a test starts inherits them: it neither sees nor changes the user's state, nor that
# of another run on the same machine (a default emulator folder served by someone else changes what
# a command does). The tests' tool cache ($BATCH_MCP_TEST_CACHE or ~/.cache/batch-mcp-tests) stays.
USER_FOLDERS = ("XDG_DATA_HOME", "XDG_STATE_HOME")  # not config or cache: tools (pip, uv) read theirs
_user_root = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    root = Path(tempfile.mkdtemp(prefix="batch-mcp-tests-user-"))
    config.stash[_user_root] = root
    for name in USER_FOLDERS:
        folder = root / name.removeprefix("XDG_").removesuffix("_HOME").lower()
        folder.mkdir()
        os.environ[name] = str(folder)


def pytest_unconfigure(config: pytest.Config) -> None:
    root = config.stash.get(_user_root, None)
    if root is not None:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def specs_dir() -> Path:
    if not SPECS_DIR.is_dir():
        pytest.fail(f"the Batch specs are expected in {SPECS_DIR}")
    return SPECS_DIR


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
