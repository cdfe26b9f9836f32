"""Which Azure role-based access permission a Batch data-plane request needs.

With Microsoft Entra ID, Batch decides what a caller may do from its Azure role assignments on
the account. When Batch refuses a request (403), the server names the permission the request
needed and a built-in role that grants it, so the user knows what to ask an administrator for.
Pools (and their nodes) are governed by `pools/*` actions, jobs and their tasks by `jobs/*`,
schedules by `jobSchedules/*`; account-wide reads by the account's own read permission.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Permission", "required_permission"]

_COLLECTIONS = {
    "pools": "pools",
    "jobs": "jobs",
    "jobschedules": "jobSchedules",
    "certificates": "certificates",
    "applications": "applications",
}
_READERS = ("GET", "HEAD")


@dataclass(frozen=True)
class Permission:
    action: str  # e.g. Microsoft.Batch/batchAccounts/pools/write
    role: str  # a built-in role that grants it

    def __str__(self) -> str:
        return self.action


def required_permission(method: str, path: str) -> Permission:
    """The permission for `method` on a request path (concrete, `/pools/p1/resize`, or a template)."""
    segments = [part for part in path.split("?", 1)[0].strip("/").split("/") if part]
    collection = _COLLECTIONS.get(segments[0].lower()) if segments else None
    method = method.upper()
    if collection is None:
        return Permission("Microsoft.Batch/batchAccounts/read", "Azure Batch Account Reader")
    if method in _READERS:
        verb, role = "read", "Azure Batch Account Reader"
    elif method == "DELETE" and len(segments) == 2:
        verb, role = "delete", _writer(collection)
    else:
        verb, role = "write", _writer(collection)
    return Permission(f"Microsoft.Batch/batchAccounts/{collection}/{verb}", role)


def _writer(collection: str) -> str:
    if collection in ("jobs", "jobSchedules"):
        return "Azure Batch Job Submitter"
    return "Azure Batch Data Contributor"
