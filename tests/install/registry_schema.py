"""The MCP Registry's rules for a `server.json` that publishes a PyPI package, as a JSON Schema of
our own: the fields and constraints the registry documents for its 2025-12-11 schema
(https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json), written here so the
test needs no download. It covers what our file uses; anything else it leaves open."""

from __future__ import annotations

from typing import Any

VERSION_RANGE = r"^(?![\^~<>=*]|.*\.[x*](\.|$)).+"  # a specific version, not ^1.2, ~1.2, >=1.2, 1.x, 1.*

KEY_VALUE_INPUT: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "description": {"type": "string"},
        "isRequired": {"type": "boolean"},
        "isSecret": {"type": "boolean"},
        "default": {"type": "string"},
        "placeholder": {"type": "string"},
        "value": {"type": "string"},
        "format": {"enum": ["string", "number", "boolean", "filepath"]},
        "choices": {"type": "array", "items": {"type": "string"}},
    },
}

ARGUMENT: dict[str, Any] = {
    "type": "object",
    "required": ["type"],
    "oneOf": [
        {"properties": {"type": {"const": "named"}}, "required": ["name"]},
        {
            "properties": {"type": {"const": "positional"}},
            "anyOf": [{"required": ["value"]}, {"required": ["valueHint"]}],
        },
    ],
}

PACKAGE: dict[str, Any] = {
    "type": "object",
    "required": ["registryType", "identifier", "transport"],
    "properties": {
        "registryType": {"type": "string", "examples": ["npm", "pypi", "oci", "nuget", "mcpb"]},
        "registryBaseUrl": {"type": "string", "format": "uri"},
        "identifier": {"type": "string", "minLength": 1},
        "version": {"type": "string", "minLength": 1, "not": {"const": "latest"}, "pattern": VERSION_RANGE},
        "fileSha256": {"type": "string", "pattern": "^[a-f0-9]{64}$"},
        "runtimeHint": {"type": "string"},
        "transport": {
            "type": "object",
            "required": ["type"],
            "properties": {"type": {"enum": ["stdio", "streamable-http", "sse"]}},
            "if": {"properties": {"type": {"enum": ["streamable-http", "sse"]}}},
            "then": {"required": ["url"], "properties": {"url": {"type": "string", "pattern": r"^https?://\S+$"}}},
        },
        "environmentVariables": {"type": "array", "items": KEY_VALUE_INPUT},
        "packageArguments": {"type": "array", "items": ARGUMENT},
        "runtimeArguments": {"type": "array", "items": ARGUMENT},
    },
}

SERVER_JSON: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["name", "description", "version"],
    "properties": {
        "$schema": {"type": "string", "format": "uri"},
        "name": {"type": "string", "minLength": 3, "maxLength": 200, "pattern": r"^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$"},
        "title": {"type": "string", "minLength": 1, "maxLength": 100},
        "description": {"type": "string", "minLength": 1, "maxLength": 100},
        "version": {"type": "string", "maxLength": 255, "pattern": VERSION_RANGE},
        "websiteUrl": {"type": "string", "format": "uri"},
        "repository": {
            "type": "object",
            "required": ["url", "source"],
            "properties": {"url": {"type": "string", "format": "uri"}, "source": {"type": "string"}},
        },
        "packages": {"type": "array", "items": PACKAGE},
        "remotes": {"type": "array"},
    },
}
