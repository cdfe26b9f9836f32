"""The tool catalog: generated from a Batch spec, committed under tool_schemas/, loaded at run time."""

from batch_mcp.catalog.loader import DEFAULT_API_VERSION, Catalog, available_versions, catalog_root, load_catalog
from batch_mcp.catalog.model import ArgBinding, HttpBinding, Paging, ToolDef

__all__ = [
    "DEFAULT_API_VERSION",
    "ArgBinding",
    "Catalog",
    "HttpBinding",
    "Paging",
    "ToolDef",
    "available_versions",
    "catalog_root",
    "load_catalog",
]
