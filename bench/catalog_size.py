"""Size of the tool catalog as `tools/list` sends it: per API version and per toolset.

    python bench/catalog_size.py [--tokens]

Bytes are of the minified JSON of each tool's listing (name, title, description, input and
output schemas, annotations). --tokens also counts o200k tokens with ../shared/tools/count-tokens
(needs Node and npm the first time).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from batch_mcp.catalog import available_versions, load_catalog
from batch_mcp.catalog.listing import minified, tool_bytes, tool_listing

COUNT_TOKENS = Path(__file__).resolve().parents[1].parent / "shared" / "tools" / "count-tokens"


def count_tokens(text: str) -> int | None:
    if not COUNT_TOKENS.exists() or not shutil.which("node"):
        return None
    done = subprocess.run(
        [str(COUNT_TOKENS)], input=text, capture_output=True, text=True, encoding="utf-8", check=False
    )
    return int(done.stdout.strip()) if done.returncode == 0 else None


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", action="store_true", help="count tokens too")
    args = parser.parse_args()
    header = f"{'api-version':<17} {'toolset':<14} {'tools':>5} {'bytes':>8} {'median':>7}  largest"
    if args.tokens:
        header += "  tokens"
    print(header)
    for version in available_versions():
        catalog = load_catalog(version)
        groups: dict[str, list] = defaultdict(list)
        for tool in catalog:
            groups[tool.toolset].append(tool)
        rows = [*sorted(groups.items()), ("ALL", list(catalog))]
        for toolset, tools in rows:
            sizes = {t.name: tool_bytes(t) for t in tools}
            listing = minified({"tools": [tool_listing(t) for t in tools]})
            largest = max(sizes, key=sizes.__getitem__)
            line = (
                f"{version:<17} {toolset:<14} {len(tools):>5} {len(listing.encode()):>8,} "
                f"{statistics.median(sizes.values()):>7,.0f}  {largest} ({sizes[largest]:,})"
            )
            if args.tokens:
                tokens = count_tokens(listing)
                line += f"  {tokens:,}" if tokens is not None else "  n/a"
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
