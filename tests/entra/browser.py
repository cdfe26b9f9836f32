"""A scripted browser for OAuth sign-in tests: `BROWSER=<python> browser.py` for xdg-open.

It plays the user's part of an authorization code flow: GET the authorize URL at the test identity
provider (which signs its fixed user in without a form and redirects), then follow that redirect
to the client's loopback callback. It trusts the CA in $BATCH_MCP_TEST_CA and logs to
$BATCH_MCP_TEST_BROWSER_LOG."""

from __future__ import annotations

import os
import ssl
import sys
from pathlib import Path

import httpx2


def main(url: str) -> int:
    log = Path(os.environ["BATCH_MCP_TEST_BROWSER_LOG"])
    context = ssl.create_default_context(cafile=os.environ["BATCH_MCP_TEST_CA"])
    with httpx2.Client(verify=context, timeout=30, follow_redirects=False) as http:
        authorize = http.get(url)
        location = authorize.headers.get("location", "")
        with log.open("a", encoding="utf-8") as out:
            out.write(f"authorize {authorize.status_code} -> {location.split('?')[0]}\n")
        if authorize.status_code != 302 or not location.startswith("http://127.0.0.1:"):
            return 1
        callback = http.get(location)
        with log.open("a", encoding="utf-8") as out:
            out.write(f"callback {callback.status_code}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
