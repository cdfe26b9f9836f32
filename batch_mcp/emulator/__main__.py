"""`python -m batch_mcp.emulator [--host H] [--port N] [--data-dir D] ...`"""

from __future__ import annotations

import argparse

from batch_mcp.emulator.cli import add_arguments, run


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m batch_mcp.emulator", description="Run the local Azure Batch emulator."
    )
    add_arguments(parser)
    return run(parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
