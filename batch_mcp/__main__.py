"""`python -m batch_mcp`: the `batch-mcp` command, for environments without its entry point."""

from batch_mcp.cli import main

raise SystemExit(main())
