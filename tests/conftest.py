"""Shared test fixtures. The official specs live beside the project in ../shared/specs."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPECS_DIR = ROOT.parent / "shared" / "specs"
API_VERSIONS = ("2018-08-01.7.0", "2024-02-01.19.0")


@pytest.fixture(scope="session")
def specs_dir() -> Path:
    if not SPECS_DIR.is_dir():
        pytest.fail(f"the Batch specs are expected in {SPECS_DIR}")
    return SPECS_DIR


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
