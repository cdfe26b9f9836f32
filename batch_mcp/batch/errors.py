"""Everything the Batch client raises, as one tree the server can turn into readable tool errors:

BatchError
 ├── BatchServiceError        the service answered with an error status (HTTP status, Batch code, ...)
 ├── BatchAuthError           no usable credential, or the service refused the one we sent
 ├── BatchTransportError      no answer we could use before the retry budget ran out
 │    ├── BatchTimeoutError   ... because the time ran out
 │    └── BatchUnreachableError  ... because the endpoint cannot be reached as configured (no retries)
 ├── BatchProtocolError       an answer we cannot read (malformed JSON, a foreign nextLink)
 ├── ContinuationError        a continuation that is not for this tool, these arguments or this endpoint
 └── ArgumentError            arguments that cannot be put on the wire (a missing path argument, `..`)

Every text here goes through `redaction.redact_text`, so a secret the service echoes back (a SAS
signature in a message, a registered key or token) never reaches the model or the logs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from batch_mcp.redaction import redact, redact_text

__all__ = [
    "ArgumentError",
    "BatchAuthError",
    "BatchError",
    "BatchProtocolError",
    "BatchServiceError",
    "BatchTimeoutError",
    "BatchTransportError",
    "BatchUnreachableError",
    "ContinuationError",
]


class BatchError(Exception):
    """Base of every client error. `status`, `code` and `request_id` are None unless the service answered."""

    status: int | None = None
    code: str | None = None
    request_id: str | None = None

    def __init__(self, message: str) -> None:
        self.message = printable(redact_text(message))
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary for a tool error result."""
        out: dict[str, Any] = {"error": type(self).__name__, "message": self.message}
        for name in ("status", "code", "request_id"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


def _without_trailer(message: str) -> tuple[str, str | None]:
    """Batch ends every error message with 'RequestId:<id>' and 'Time:<when>' lines; the request id
    is kept (it is the reply's request-id header too) and said once, the time is noise."""
    kept: list[str] = []
    said_id = None
    for line in message.splitlines():
        if line.startswith("RequestId:"):
            said_id = line.removeprefix("RequestId:").strip() or None
        elif not line.startswith("Time:"):
            kept.append(line)
    return "\n".join(kept).strip(), said_id


class BatchServiceError(BatchError):
    """The service's error reply: `{"code", "message": {"value"}, "values": [{"key", "value"}]}`.

    `attempts` says how many times the request was sent, so a reader can tell a first answer from one
    that came after retries."""

    def __init__(
        self,
        status: int,
        code: str | None,
        message: str,
        values: list[dict[str, Any]] | None = None,
        request_id: str | None = None,
        *,
        method: str | None = None,
        path: str | None = None,
        attempts: int = 1,
    ) -> None:
        self.status = status
        self.code = printable(code) if code else code
        self.values = _printable_values(redact(values or []))
        message, said_id = _without_trailer(message)
        request_id = request_id or said_id
        self.request_id = printable(request_id) if request_id else request_id
        self.method = method
        self.path = redact_text(path) if path else path
        self.attempts = attempts
        super().__init__(message)

    def __str__(self) -> str:
        head = f"{self.status} {self.code}" if self.code else f"HTTP {self.status}"
        text = f"{head}: {self.message}" if self.message else head
        details = "; ".join(f"{v.get('key')}: {v.get('value')}" for v in self.values if isinstance(v, Mapping))
        if details:
            text += f" ({details})"
        if self.method and self.path:
            text += f" [{self.method} {self.path}]"
        if self.request_id:
            text += f" request-id {self.request_id}"
        return text

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        if self.values:
            out["values"] = self.values
        return out

    @classmethod
    def from_reply(
        cls,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        *,
        method: str | None = None,
        path: str | None = None,
        attempts: int = 1,
    ) -> BatchServiceError:
        """Parse a Batch error body; a non-JSON body (a proxy's HTML page) still gives a readable error."""
        code, message, values = _parse_error_body(body)
        if not message:
            message = _reason(status)
        return cls(
            status,
            code,
            message,
            values,
            headers.get("request-id"),
            method=method,
            path=path,
            attempts=attempts,
        )


def _parse_error_body(body: bytes) -> tuple[str | None, str, list[dict[str, Any]]]:
    try:
        data = json.loads(body) if body else None
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("odata.error"), dict):
        data = data["odata.error"]
    if not isinstance(data, dict):
        text = body[:300].decode("utf-8", "replace").strip() if body else ""
        return None, " ".join(text.split()), []
    code = data.get("code") if isinstance(data.get("code"), str) else None
    raw_message = data.get("message")
    message = str((raw_message.get("value") if isinstance(raw_message, dict) else raw_message) or "")
    values = [v for v in data.get("values") or [] if isinstance(v, dict)]
    return code, message.strip(), values


# Control characters a remote may put in an error text to act on the terminal or log that shows it
# (ESC sequences, BEL, a bare CR that rewrites a line, C1 controls); newlines and tabs are text.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """`text` with control characters other than newline and tab removed (a CR LF becomes a newline)."""
    return _CONTROL.sub("", text.replace("\r\n", "\n"))


def _printable_values(value: Any) -> Any:
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, list):
        return [_printable_values(item) for item in value]
    if isinstance(value, dict):
        return {printable(str(key)): _printable_values(item) for key, item in value.items()}
    return value


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "error"


class BatchAuthError(BatchError):
    """Authentication failed: says which credential was tried and what to set, never the secret."""

    def __init__(
        self,
        credential: str,
        hint: str,
        detail: str | None = None,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.credential = credential
        self.hint = hint
        self.detail = redact_text(detail) if detail else None
        self.status = status
        self.code = code = printable(code) if code else code
        self.request_id = request_id = printable(request_id) if request_id else request_id
        text = f"authentication with {credential} failed"
        if status is not None:
            text += f" (HTTP {status}{' ' + code if code else ''})"
        if self.detail:
            text += f": {self.detail.rstrip('.')}"
        text += f". {hint}"
        if request_id:
            text += f" (request-id {request_id})"
        super().__init__(text)


class BatchTransportError(BatchError):
    """No usable answer: connection failures, resets, or a request that may have been applied but whose
    reply was lost (then `maybe_applied` is True and the caller should check before repeating it)."""

    def __init__(self, message: str, *, attempts: int = 1, maybe_applied: bool = False) -> None:
        self.attempts = attempts
        self.maybe_applied = maybe_applied
        super().__init__(message)


class BatchTimeoutError(BatchTransportError):
    """The retry budget or the per-request timeout ran out."""


class BatchUnreachableError(BatchTransportError):
    """The endpoint cannot be reached for a reason retrying will not change (no such host, TLS, a
    refused connection, not an http(s) URL): raised at once, naming the setting to fix."""

    def __init__(self, endpoint: str, why: str, hint: str, *, attempts: int = 1) -> None:
        self.endpoint = endpoint
        self.why = why
        self.hint = hint
        super().__init__(f"cannot reach the Batch endpoint {endpoint}: {why}. {hint}", attempts=attempts)


class BatchProtocolError(BatchError):
    """The service answered, but not in a form we can read."""

    def __init__(self, message: str, *, status: int | None = None, request_id: str | None = None) -> None:
        self.status = status
        self.request_id = printable(request_id) if request_id else request_id
        super().__init__(message)


class ContinuationError(BatchError, ValueError):
    """A continuation that this client did not issue for this tool, these arguments and this endpoint."""


class ArgumentError(BatchError, ValueError):
    """Arguments that cannot be turned into a request."""
