"""batch-mcp: an MCP server for Azure Batch."""

__version__ = "0.1.0"
