"""`python -m batch_mcp.healthcheck`: the container's health probe. Healthy when the HTTP server on
BATCH_MCP_PORT answers at all: `/mcp` without a token is refused (401), and a Host check that
refuses 127.0.0.1 (421) is an answer too; no answer, or a server error, is unhealthy. Standard
library only, so it starts fast and needs nothing the image lacks."""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

TIMEOUT_SECONDS = 4.0


def probe(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/mcp", timeout=TIMEOUT_SECONDS) as reply:
            return reply.status < 500
    except urllib.error.HTTPError as refused:
        return refused.code < 500
    except OSError:
        return False


def main() -> int:
    return 0 if probe(int(os.environ.get("BATCH_MCP_PORT", "8000"))) else 1


if __name__ == "__main__":
    sys.exit(main())
