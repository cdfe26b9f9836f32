"""The one place Batch error codes and HTTP statuses come from.

    BatchError(status, code, message, values)
     ├── 400  bad_request(...)        InvalidPropertyValue, MissingRequiredProperty, InvalidRequestBody, ...
     ├── 403  authentication_failed()
     ├── 404  not_found(kind, id)     PoolNotFound, JobNotFound, TaskNotFound, NodeNotFound, ...
     ├── 409  conflict(code, ...)     PoolExists, JobExists, PoolBeingDeleted, ... (state conflicts)
     ├── 412  condition_not_met()
     └── 413  request_body_too_large()

Handlers and the backend raise these; the protocol layer turns them into the service's error
envelope (`odata.metadata`, `code`, `message.value` with RequestId and Time, `values`).
"""

from __future__ import annotations

from collections.abc import Mapping


class BatchError(Exception):
    """An error the emulator answers with, exactly as the service would shape it."""

    def __init__(self, status: int, code: str, message: str, values: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.values = dict(values or {})


# Which "not found" code each kind of entity answers with.
NOT_FOUND_CODES = {
    "pool": "PoolNotFound",
    "node": "NodeNotFound",
    "job": "JobNotFound",
    "schedule": "JobScheduleNotFound",
    "task": "TaskNotFound",
    "certificate": "CertificateNotFound",
    "application": "ApplicationNotFound",
    "user": "NodeUserNotFound",
    "file": "FileNotFound",
    "extension": "ResourceNotFound",
}

EXISTS_CODES = {
    "pool": "PoolExists",
    "job": "JobExists",
    "schedule": "JobScheduleExists",
    "task": "TaskExists",
    "certificate": "CertificateExists",
    "user": "NodeUserExists",
}

KIND_NAMES = {
    "pool": "pool",
    "node": "node",
    "job": "job",
    "schedule": "job schedule",
    "task": "task",
    "certificate": "certificate",
    "application": "application",
    "user": "node user",
    "file": "file",
    "extension": "extension",
}


def not_found(kind: str, ident: str) -> BatchError:
    return BatchError(404, NOT_FOUND_CODES[kind], f"The specified {KIND_NAMES[kind]} does not exist.", {})


def exists(kind: str, ident: str) -> BatchError:
    return BatchError(409, EXISTS_CODES[kind], f"The specified {KIND_NAMES[kind]} already exists.", {})


def conflict(code: str, message: str, values: Mapping[str, str] | None = None) -> BatchError:
    """A request that is valid but not allowed in the entity's current state."""
    return BatchError(409, code, message, values)


def bad_request(code: str, message: str, values: Mapping[str, str] | None = None) -> BatchError:
    return BatchError(400, code, message, values)


def invalid_property(name: str, value: object, reason: str | None = None) -> BatchError:
    values = {"PropertyName": name, "PropertyValue": str(value)}
    if reason:
        values["Reason"] = reason
    return BatchError(
        400,
        "InvalidPropertyValue",
        "The value provided for one of the properties in the request body is invalid.",
        values,
    )


def missing_property(name: str) -> BatchError:
    return BatchError(
        400,
        "MissingRequiredProperty",
        "A required property was not specified in the request body.",
        {"PropertyName": name},
    )


def invalid_body(reason: str) -> BatchError:
    return BatchError(
        400, "InvalidRequestBody", "The specified Request Body is not syntactically valid.", {"Reason": reason}
    )


def invalid_query(name: str, value: str, reason: str) -> BatchError:
    return BatchError(
        400,
        "InvalidQueryParameterValue",
        "Value for one of the query parameters specified in the request URI is invalid.",
        {"QueryParameterName": name, "QueryParameterValue": value, "Reason": reason},
    )


def invalid_header(name: str, value: str) -> BatchError:
    return BatchError(
        400,
        "InvalidHeaderValue",
        "The value for one of the HTTP headers is not in the correct format.",
        {"HeaderName": name, "HeaderValue": value},
    )


def unsupported_api_version(value: str) -> BatchError:
    return BatchError(
        400,
        "UnsupportedRequestVersion",
        "The specified version of the REST API is not supported.",
        {"QueryParameterName": "api-version", "QueryParameterValue": value},
    )


def missing_api_version() -> BatchError:
    return BatchError(
        400,
        "MissingRequiredQueryParameter",
        "A query parameter that's mandatory for this request is not specified.",
        {"QueryParameterName": "api-version"},
    )


def invalid_uri(path: str) -> BatchError:
    return BatchError(
        400, "InvalidUri", "The requested URI does not represent any resource on the server.", {"UriPath": path}
    )


def unsupported_verb(method: str) -> BatchError:
    return BatchError(
        405, "UnsupportedHttpVerb", "The resource doesn't support the specified HTTP verb.", {"HttpVerb": method}
    )


def condition_not_met() -> BatchError:
    return BatchError(412, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met.")


def request_body_too_large(limit: int) -> BatchError:
    return BatchError(
        413,
        "RequestBodyTooLarge",
        "The request body is too large and exceeds the maximum permissible limit.",
        {"MaxLimit": str(limit)},
    )


def authentication_failed(detail: str) -> BatchError:
    return BatchError(
        403,
        "AuthenticationFailed",
        "Server failed to authenticate the request. Make sure the value of Authorization header is correctly "
        "formed including the signature.",
        {"AuthenticationErrorDetail": detail},
    )


def invalid_range(value: str) -> BatchError:
    return BatchError(
        416, "InvalidRange", "The range specified is invalid for the current size of the resource.", {"Range": value}
    )


def not_supported_locally(feature: str) -> BatchError:
    """Something the service accepts but a local emulator cannot honour in this request."""
    return BatchError(400, "FeatureNotSupported", f"The local Batch emulator does not support {feature}.", {})
