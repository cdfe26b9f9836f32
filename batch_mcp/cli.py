"""The `batch-mcp` command line: one grammar for every command.

    batch-mcp [OPTION ...] [COMMAND [SUBCOMMAND]] [OPTION | ARGUMENT ...]

An option means the same wherever it stands: the options before the command are moved to just
after it, then the command's own parser reads them, so `batch-mcp --read-only call ...` and
`batch-mcp call --read-only ...` are the same command line. Each server setting is defined once,
as a field of `Settings`, and is a flag of the commands that use it (`flags.py`); an option the
command does not use is an error, never silently dropped. Abbreviated flags are refused (`--tool`
is not `--tools`).

Each command's code lives beside what it drives and is imported only when used, so `batch-mcp`
(serve) starts without loading the generator, emulator or test tools.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from batch_mcp import __version__

PROG = "batch-mcp"


class CommandParser(argparse.ArgumentParser):
    """argparse without abbreviations, with the error line naming the full command."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        """One line, not the usage screen: the usage of a server with twenty settings hides the error."""
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def _version() -> str:
    from importlib.metadata import version

    return f"{PROG} {__version__} (mcp {version('mcp')}, Python {sys.version.split()[0]})"


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", action="version", version=_version(), help="print the version and exit")


def _add_no_confirm(parser: argparse.ArgumentParser) -> None:
    # A flag only, never a setting or an environment variable: lifting confirmation must be
    # visible on the command line of the unattended job that does it.
    parser.add_argument(
        "--no-confirm",
        action="store_true",
        help="DANGER: run destructive and scale-down calls without asking the user (unattended automation only)",
    )


def _handler(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    """A command's handler, imported when it runs: `--help`, `--version` and a one-line error for a bad
    setting never pay for loading the MCP SDK."""

    def run(args: argparse.Namespace) -> int:
        import importlib

        return int(getattr(importlib.import_module(module), name)(args) or 0)

    return run


def _serving(parser: argparse.ArgumentParser) -> None:
    from batch_mcp.flags import add_setting_flags

    add_setting_flags(parser, "serve")
    _add_no_confirm(parser)
    parser.set_defaults(handler=_handler("batch_mcp.server.cli", "run_serve"), uses_settings=True)


def build_parser() -> argparse.ArgumentParser:
    from batch_mcp.catalog.cli import add_parser as add_catalog
    from batch_mcp.emulator.cli import add_parser as add_emulator
    from batch_mcp.flags import add_setting_flags

    parser = CommandParser(
        prog=PROG,
        description="MCP server for Azure Batch. Without a command it serves MCP (stdio by default); with no "
        "Batch endpoint configured it runs a local Batch emulator in-process. Options may stand before or "
        "after the command.",
    )
    _add_common(parser)
    _serving(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=CommandParser)

    serve = commands.add_parser("serve", help="serve MCP (the default command)")
    _serving(serve)

    tools = commands.add_parser(
        "tools",
        help="print the tools this configuration serves",
        description="Print the tools this configuration serves (toolset, guard class, bytes in tools/list), "
        "the execution policy for emulator tasks, and the totals. Reads no Batch account.",
    )
    add_setting_flags(tools, "tools")
    tools.add_argument("--all", action="store_true", help="also list enabled tools outside tools/list")
    tools.set_defaults(handler=_handler("batch_mcp.server.cli", "run_tools"), uses_settings=True)

    call = commands.add_parser(
        "call",
        help="run one tool from the shell, with the server's checks",
        description="Run one tool (catalog or the server's own) with the same validation, guardrails and "
        "audit as an MCP client; questions are asked on the terminal. Prints the reply as a model reads it; "
        "exit code 1 when the tool failed, 2 when the call or the configuration is wrong.",
    )
    add_setting_flags(call, "call")
    _add_no_confirm(call)
    call.add_argument("tool", help="tool name (see batch-mcp tools --all)")
    call.add_argument("--args", default="{}", help="tool arguments as a JSON object")
    call.set_defaults(handler=_handler("batch_mcp.server.cli", "run_call"), uses_settings=True)

    doctor = commands.add_parser(
        "doctor",
        help="check the configuration end to end: settings, network, credential, one read",
        description="Show the settings in force and where each came from, then check the tools, the audit "
        "log, the endpoint (URL, DNS, TCP, TLS), the credential and one read. Exit code 0 only when all pass.",
    )
    add_setting_flags(doctor, "doctor")
    doctor.set_defaults(handler=_handler("batch_mcp.server.doctor", "run_doctor"), uses_settings=True)

    add_emulator(commands)
    add_catalog(commands)
    for path, sub in _walk(parser):
        if path:
            _add_common(sub)
            sub.set_defaults(uses_settings=bool(sub.get_default("uses_settings")))
    return parser


# -- options before the command ------------------------------------------------------------------


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {flag: action for action in parser._actions for flag in action.option_strings}


def _walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Any:
    yield path, parser
    for name, sub in _subparsers(parser).items():
        yield from _walk(sub, (*path, name))


def _hoist(
    tokens: list[str], parser: argparse.ArgumentParser, takes_value: Callable[[str], bool]
) -> tuple[list[str], list[str], list[str]]:
    """Split a command line into (command path, options that stood before it, the rest)."""
    before: list[str] = []
    i = 0
    while i < len(tokens) and tokens[i].startswith("-") and tokens[i] not in ("-", "--"):
        before.append(tokens[i])
        i += 1
        if "=" not in tokens[i - 1] and takes_value(tokens[i - 1]) and i < len(tokens):
            before.append(tokens[i])
            i += 1
    commands = _subparsers(parser)
    if i < len(tokens) and tokens[i] in commands:
        path, deeper, rest = _hoist(tokens[i + 1 :], commands[tokens[i]], takes_value)
        return [tokens[i], *path], before + deeper, rest
    return [], before, tokens[i:]


def command_name(path: Sequence[str]) -> str:
    return " ".join([PROG, *path])


def _command_parser(parser: argparse.ArgumentParser, path: Sequence[str]) -> argparse.ArgumentParser:
    for name in path:
        parser = _subparsers(parser)[name]
    return parser


def _misplaced(
    parser: argparse.ArgumentParser, path: list[str], tokens: list[str], takes_value: Callable[[str], bool]
) -> str | None:
    """The error for an option the command does not have, naming the commands that do."""
    own = _options(_command_parser(parser, path))
    owners: dict[str, set[str]] = {}
    for sub_path, sub in _walk(parser):
        for flag in _options(sub):
            owners.setdefault(flag, set()).add(" ".join(sub_path) or "serve")
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token == "--":
            break
        if not token.startswith("-") or token == "-":
            continue
        flag = token.split("=", 1)[0]
        if "=" not in token and takes_value(flag):
            i += 1  # its value, whatever it looks like
        if flag in own:
            continue
        if flag in owners:
            return f"{flag} is not an option of this command (it is one of: {', '.join(sorted(owners[flag]))})"
        return f"unrecognized option {flag}"
    return None


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    tokens = list(sys.argv[1:] if argv is None else argv)
    actions: dict[str, argparse.Action] = {}
    for _, sub in _walk(parser):
        actions.update(_options(sub))

    def takes_value(token: str) -> bool:
        action = actions.get(token)
        return action is not None and action.nargs != 0

    path, before, rest = _hoist(tokens, parser, takes_value)
    if problem := _misplaced(parser, path, before, takes_value):
        _usage_error(path, problem)
    args, extra = parser.parse_known_args([*path, *before, *rest])
    if extra:
        _usage_error(path, _misplaced(parser, path, extra, takes_value) or f"unexpected argument {extra[0]!r}")
    args.command_path = path or ["serve"]
    return args


def _usage_error(path: Sequence[str], problem: str) -> NoReturn:
    print(f"{command_name(path)}: {problem} (see `{command_name(path)} --help`)", file=sys.stderr)
    raise SystemExit(2)


# -- running ---------------------------------------------------------------------------------------


def fail(message: str) -> int:
    """A misconfiguration: one line on stderr, exit code 2."""
    print(f"{PROG}: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    given: dict[str, Any] = {}
    if getattr(args, "uses_settings", False):
        from pydantic import ValidationError

        from batch_mcp.flags import describe_validation_error, given_settings
        from batch_mcp.settings import Settings

        given = given_settings(args)
        args.given = given
        try:
            args.settings = Settings(**given)
        except ValidationError as exc:
            return fail(describe_validation_error(exc, given))
    if args.command_path == ["emulator"]:
        from batch_mcp.emulator.config import default_data_dir
        from batch_mcp.server.checks import folder_problem

        if problem := folder_problem(args.data_dir or default_data_dir()):
            return fail(f"--data-dir: {problem}")
        if args.account_key is not None and not _is_base64(args.account_key):
            return fail("--account-key: not a base64 account key (Azure portal: Batch account > Keys)")
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        problem = misconfiguration(exc, given)
        if problem is None:
            raise
        return fail(problem)


def _is_base64(text: str) -> bool:
    import base64
    import binascii

    try:
        return bool(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        return False


def misconfiguration(exc: BaseException, given: dict[str, Any]) -> str | None:
    """The one-line message for an error a setting caused, or None for anything else (a bug: let it
    show). Looks inside exception groups, where errors from concurrent tasks arrive."""
    import errno

    from batch_mcp.batch.errors import BatchAuthError, BatchUnreachableError
    from batch_mcp.server.selection import SelectionError
    from batch_mcp.server.transports import TransportConfigError
    from batch_mcp.settings import source_of

    pending: list[BaseException] = [exc]
    while pending:
        error = pending.pop(0)
        if isinstance(error, BaseExceptionGroup):
            pending.extend(error.exceptions)
        elif isinstance(error, SelectionError):
            return f"{source_of(error.setting, given)}: {error}"
        elif isinstance(error, BatchAuthError | BatchUnreachableError | TransportConfigError):
            return str(error)
        elif isinstance(error, OSError) and error.errno == errno.EADDRINUSE:
            return f"cannot listen there: the address is in use ({error.strerror}); choose another --port"
    return None


if __name__ == "__main__":
    raise SystemExit(main())
