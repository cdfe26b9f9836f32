"""Batch's documented bounds on request values, so that bad input fails here, with its JSON path,
instead of at Batch (or as a protocol error on the way there).

Two kinds of rule:

- **per field**, written into the generated catalog by the generator: entity ids (pools, jobs,
  tasks, schedules, job manager / preparation / release tasks: at most 64 letters, digits,
  hyphens and underscores), other ids and names, counts that cannot be negative, command lines and
  formulas, query strings and headers. They live in the tool definitions' `bounds` (JSON pointer
  into the input schema → extra keywords) and in the full models of `models.json`, never in what
  `tools/list` sends, so they cost no tokens; every call is validated against them.
- **for every string anywhere** in the arguments, checked by `validation.py`: no NUL character,
  at most `MAX_STRING` characters, and arguments nested at most `MAX_DEPTH` levels deep.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "ARG_BOUNDS",
    "ENTITY_ID",
    "FIELD_BOUNDS",
    "MAX_DEPTH",
    "MAX_STRING",
    "PATTERN_TEXTS",
    "field_bounds",
    "with_arg_bounds",
]

MAX_STRING = 1_048_576  # characters in any one string; fields that need less say so (command lines: 32,768)
MAX_DEPTH = 32  # levels of nesting in the arguments; Batch's deepest request model needs about 10

ENTITY_ID_PATTERN = "^[A-Za-z0-9_-]{1,64}$"
ENTITY_ID: dict[str, Any] = {"pattern": ENTITY_ID_PATTERN}
PREFIX_PATTERN = "^[A-Za-z0-9_-]{1,20}$"
NAME_PATTERN = "^[^\\x00-\\x1f\\x7f]{1,256}$"  # a name with no control characters
NAME: dict[str, Any] = {"pattern": NAME_PATTERN}
HEX_PATTERN = "^[0-9A-Fa-f]{1,128}$"
HEADER_PATTERN = "^[\\x20-\\x7e]{1,1024}$"  # printable ASCII: what an HTTP header can carry
PATH_PATTERN = "^[^\\x00-\\x1f\\x7f]{1,4096}$"

PATTERN_TEXTS = {
    ENTITY_ID_PATTERN: "an id of 1 to 64 letters, digits, hyphens and underscores",
    PREFIX_PATTERN: "a prefix of 1 to 20 letters, digits, hyphens and underscores",
    NAME_PATTERN: "a name of 1 to 256 characters, no control characters",
    HEX_PATTERN: "a hexadecimal thumbprint",
    HEADER_PATTERN: "printable ASCII (an ETag, as read from the entity)",
    PATH_PATTERN: "a path of 1 to 4096 characters, no control characters",
}

# Request-level arguments, by argument name.
ARG_BOUNDS: dict[str, dict[str, Any]] = {
    "pool_id": ENTITY_ID,
    "job_id": ENTITY_ID,
    "task_id": ENTITY_ID,
    "job_schedule_id": ENTITY_ID,
    "node_id": NAME,
    "application_id": NAME,
    "user_name": NAME,
    "extension_name": NAME,
    "thumbprint": {"pattern": HEX_PATTERN},
    "thumbprint_algorithm": {"pattern": "^[A-Za-z0-9]{1,16}$"},
    "file_path": {"pattern": PATH_PATTERN},
    "filter": {"maxLength": 8192},
    "select": {"maxLength": 4096},
    "expand": {"maxLength": 4096},
    "if_match": {"pattern": HEADER_PATTERN},
    "continuation": {"maxLength": 16_384},
    # the server's own tools: waits and line counts are never negative
    "timeout": {"minimum": 0},
    "follow": {"minimum": 0},
    "lines": {"minimum": 1},
}

# Body fields, as "Model.field" (that model only) or "field" (any model). `items` applies the
# keywords to each item of an array field.
FIELD_BOUNDS: dict[str, dict[str, Any]] = {
    "PoolAddParameter.id": ENTITY_ID,
    "JobAddParameter.id": ENTITY_ID,
    "TaskAddParameter.id": ENTITY_ID,
    "JobScheduleAddParameter.id": ENTITY_ID,
    "JobManagerTask.id": ENTITY_ID,
    "JobPreparationTask.id": ENTITY_ID,
    "JobReleaseTask.id": ENTITY_ID,
    "PoolInformation.poolId": ENTITY_ID,
    "TaskDependencies.taskIds": {"items": ENTITY_ID},
    "AutoPoolSpecification.autoPoolIdPrefix": {"pattern": PREFIX_PATTERN},
    "NodeRemoveParameter.nodeList": {"items": NAME},
    "AffinityInformation.affinityId": NAME,
    "ApplicationPackageReference.applicationId": NAME,
    "CertificateReference.thumbprint": {"pattern": HEX_PATTERN},
    "CertificateAddParameter.thumbprint": {"pattern": HEX_PATTERN},
    "CertificateAddParameter.data": {"maxLength": 1_048_576},
    "commandLine": {"maxLength": 32_768},  # the longest command line Windows accepts
    "coordinationCommandLine": {"maxLength": 32_768},
    "autoScaleFormula": {"maxLength": 8192},  # the service's AutoScaleFormulaTooLong limit
    "targetDedicatedNodes": {"minimum": 0},
    "targetLowPriorityNodes": {"minimum": 0},
    "taskSlotsPerNode": {"minimum": 1, "maximum": 256},
    "maxTasksPerNode": {"minimum": 1, "maximum": 256},
    "numberOfInstances": {"minimum": 1},
    "requiredSlots": {"minimum": 1},
    "priority": {"minimum": -1000, "maximum": 1000},
    "maxTaskRetryCount": {"minimum": -1},
    "maxParallelTasks": {"minimum": -1},
    "TaskIdRange.start": {"minimum": 0},
    "TaskIdRange.end": {"minimum": 0},
    "diskSizeGB": {"minimum": 1},
    "lun": {"minimum": 0},
    "uid": {"minimum": 0},
    "gid": {"minimum": 0},
    "backendPort": {"minimum": 1, "maximum": 65535},
    "frontendPort": {"minimum": 1, "maximum": 65535},
    "frontendPortRangeStart": {"minimum": 1, "maximum": 65535},
    "frontendPortRangeEnd": {"minimum": 1, "maximum": 65535},
}


def field_bounds(model: str | None, field: str, schema: dict[str, Any]) -> dict[str, Any]:
    """Extra keywords for one body field, as they apply to `schema` (an array's items included)."""
    rule = FIELD_BOUNDS.get(f"{model}.{field}") or FIELD_BOUNDS.get(field)
    if not rule:
        return {}
    if "items" in rule:
        return {"items": dict(rule["items"])} if schema.get("type") == "array" else {}
    kind = schema.get("type")
    wanted = {k: v for k, v in rule.items() if (k in ("minimum", "maximum")) == (kind in ("integer", "number"))}
    return {k: v for k, v in wanted.items() if k not in schema}


def with_arg_bounds(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A server tool's input schema with the ARG_BOUNDS of its top-level arguments, for validation
    (server tools name their ids as catalog tools do: `job_id`, `pool_id`, ...)."""
    out = dict(schema)
    properties = dict(out.get("properties") or {})
    for name, rule in ARG_BOUNDS.items():
        prop = properties.get(name)
        if not isinstance(prop, Mapping):
            continue
        numeric = prop.get("type") in ("integer", "number")
        fitting = {k: v for k, v in rule.items() if (k in ("minimum", "maximum")) == numeric}
        properties[name] = {**fitting, **prop}
    out["properties"] = properties
    return out
