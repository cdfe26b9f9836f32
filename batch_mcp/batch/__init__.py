"""The Batch REST client: one catalog-driven executor for every tool, with auth, retries, paging,
streaming and bulk task submission. See `client.py` for the layers."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from batch_mcp.batch.errors import (
    ArgumentError,
    BatchAuthError,
    BatchError,
    BatchProtocolError,
    BatchServiceError,
    BatchTimeoutError,
    BatchTransportError,
    BatchUnreachableError,
    ContinuationError,
)

if TYPE_CHECKING:
    from batch_mcp.batch.auth import BATCH_SCOPE, EntraIdAuth, SharedKeyAuth, make_auth
    from batch_mcp.batch.client import BatchClient, CallResult, ListPage
    from batch_mcp.batch.connection import BatchSettings, choose_auth_kind, connect
    from batch_mcp.batch.retry import RetryPolicy, RetrySettings
    from batch_mcp.batch.streaming import FileStream
    from batch_mcp.batch.tasks import AddTasksResult

# The client and its auth load on first use: the errors are all that the server's start needs.
_LAZY = {
    "BATCH_SCOPE": "auth",
    "EntraIdAuth": "auth",
    "SharedKeyAuth": "auth",
    "make_auth": "auth",
    "BatchClient": "client",
    "CallResult": "client",
    "ListPage": "client",
    "BatchSettings": "connection",
    "choose_auth_kind": "connection",
    "connect": "connection",
    "RetryPolicy": "retry",
    "RetrySettings": "retry",
    "FileStream": "streaming",
    "AddTasksResult": "tasks",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"batch_mcp.batch.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BATCH_SCOPE",
    "AddTasksResult",
    "ArgumentError",
    "BatchAuthError",
    "BatchClient",
    "BatchError",
    "BatchProtocolError",
    "BatchServiceError",
    "BatchSettings",
    "BatchTimeoutError",
    "BatchTransportError",
    "BatchUnreachableError",
    "CallResult",
    "ContinuationError",
    "EntraIdAuth",
    "FileStream",
    "ListPage",
    "RetryPolicy",
    "RetrySettings",
    "SharedKeyAuth",
    "choose_auth_kind",
    "connect",
    "make_auth",
]
