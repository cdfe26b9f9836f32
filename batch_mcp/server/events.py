"""Batch state changes as MCP resource-update events (placeholder until the watchers land)."""

from __future__ import annotations

from types import TracebackType
from typing import Any


class Events:
    """Owns the subscription bus and the shared resource watchers for one server process."""

    def __init__(self, client: Any, catalog: Any) -> None:
        self.client = client
        self.catalog = catalog

    async def __aenter__(self) -> Events:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None
