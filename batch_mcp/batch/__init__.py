"""The Batch REST client: one catalog-driven executor for every tool, with auth, retries, paging,
streaming and bulk task submission. See `client.py` for the layers."""

from batch_mcp.batch.auth import BATCH_SCOPE, EntraIdAuth, SharedKeyAuth, make_auth
from batch_mcp.batch.client import BatchClient, CallResult, ListPage
from batch_mcp.batch.connect import BatchSettings, choose_auth_kind, connect
from batch_mcp.batch.errors import (
    ArgumentError,
    BatchAuthError,
    BatchError,
    BatchProtocolError,
    BatchServiceError,
    BatchTimeoutError,
    BatchTransportError,
    ContinuationError,
)
from batch_mcp.batch.retry import RetryPolicy, RetrySettings
from batch_mcp.batch.streaming import FileStream
from batch_mcp.batch.tasks import AddTasksResult

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
