"""The execution policy: who may make this computer run a command line, and when the user is asked.

On Azure Batch a task's command line runs on the service's own machines. On the local emulator it
runs here, as the user running batch-mcp, so a command line in a tool call (a task, a start task,
a job manager, preparation or release task, a multi-instance coordination command, one fan-out
task among thousands) is code an agent runs on the user's computer. `emulator_exec` decides:

- `sandbox`: tasks run in an isolation boundary (their node folder the only writable place, no
  network); the emulator refuses to start when none works on this machine;
- `confirm`: tasks run on the host, and every call that brings new command lines asks the user
  first, showing each command line, as a shell tool would;
- `auto` (default): `sandbox` when one works here, else `confirm`;
- `unrestricted`: on the host, without asking, for trusted setups.

The guardrail reads the isolation actually in effect on every call (the emulator that runs the
tasks may belong to another batch-mcp process sharing the state folder) and asks whenever there is
none, unless the policy is `unrestricted`.
"""

from __future__ import annotations

import getpass
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from batch_mcp.redaction import MASK, is_secret_name, redact_text

ExecSetting = Literal["auto", "sandbox", "confirm", "unrestricted"]
Isolation = Callable[[], str | None]  # "bwrap" | "unshare" | "none"; None: not the emulator
QUESTION_BUDGET = 16_000  # characters of command lines shown in one question
SHOWN_AT_MOST = 20


def command_lines(args: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(JSON pointer, text) of every command line in the arguments: any field whose name ends in
    `commandLine` (`commandLine`, `coordinationCommandLine`), at any depth, in any list."""
    if isinstance(args, Mapping):
        for key, value in args.items():
            here = f"{path}/{key}"
            if isinstance(key, str) and key.lower().endswith("commandline") and isinstance(value, str):
                yield here, value
            else:
                yield from command_lines(value, here)
    elif isinstance(args, list):
        for index, value in enumerate(args):
            yield from command_lines(value, f"{path}/{index}")


ENVIRONMENT_FIELDS = ("environmentSettings", "commonEnvironmentSettings")
RESOURCE_FIELD = "resourceFiles"
RESOURCE_SOURCES = ("httpUrl", "storageContainerUrl", "autoStorageContainerName")


def run_context(args: Any) -> Iterator[str]:
    """What shapes a command line's run besides its text, one line each as the user must see it: its
    environment (`GIT_SSH_COMMAND`, `LD_PRELOAD` or `BASH_ENV` run code of their own; a job's common
    environment reaches every task of the job) and the files fetched into its folder before it starts
    (a `file://` URL copies any file this user can read to where the model can read it)."""
    if isinstance(args, Mapping):
        for key, value in args.items():
            if key in ENVIRONMENT_FIELDS and isinstance(value, list):
                for entry in value:
                    if isinstance(entry, Mapping):
                        name = str(entry.get("name", ""))
                        shown = MASK if is_secret_name(name) else redact_text(str(entry.get("value", "")))
                        yield visible(f"env {name}={shown}")
            elif key == RESOURCE_FIELD and isinstance(value, list):
                for entry in value:
                    if isinstance(entry, Mapping):
                        source = next((entry[k] for k in RESOURCE_SOURCES if entry.get(k)), "")
                        into = entry.get("filePath") or ""
                        yield visible(f"fetch {redact_text(str(source))}" + (f" -> {into}" if into else ""))
            else:
                yield from run_context(value)
    elif isinstance(args, list):
        for value in args:
            yield from run_context(value)


def visible(text: str) -> str:
    """A command line as the user must see it: control and invisible characters (line breaks, escape
    sequences, bidirectional overrides) spelled out, so nothing can hide or reorder what runs."""
    out = []
    for char in text:
        code = ord(char)
        if char == " " or (
            char.isprintable()
            and not 0x200B <= code <= 0x200F
            and not 0x202A <= code <= 0x202E
            and not 0x2066 <= code <= 0x2069
            and code != 0xFEFF
        ):
            out.append(char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif code < 0x100:
            out.append(f"\\x{code:02x}")
        else:
            out.append(f"\\u{code:04x}")
    return "".join(out)


@dataclass(frozen=True)
class ExecPolicy:
    setting: ExecSetting
    isolation: Isolation
    refresh: Callable[[], Awaitable[None]] | None = None  # brings `isolation` up to date (see backend.py)

    def asks(self) -> bool:
        """Whether a new command line needs the user's yes, now."""
        return self.setting != "unrestricted" and self.isolation() == "none"

    async def asks_now(self) -> bool:
        """`asks`, with the isolation read afresh first (an endpoint that may be an emulator)."""
        if self.setting != "unrestricted" and self.refresh is not None:
            await self.refresh()
        return self.asks()

    def question(self, tool: str, found: list[tuple[str, str]], context: list[str] | None = None) -> str:
        """The question for the command lines `found`, with their environment and fetched files (`context`)."""
        if not found:
            lines = [
                f"{tool} sets what command lines run with on this computer, as user {_user()}, with no sandbox "
                f"(emulator_exec={self.setting}):"
            ]
            return "\n".join([*lines, *_listed(context or []), "Allow it?"])
        counts: dict[str, int] = {}
        templates = {text for path, text in found if "/template/" in f"{path}/"}
        for _, text in found:
            counts[text] = counts.get(text, 0) + 1
        total = len(found)
        what = "a new command line" if total == 1 else f"{total:,} new command lines"
        if len(counts) not in (1, total):
            what += f" ({len(counts):,} different)"
        if templates:
            what = "new command lines from a template" if len(counts) == 1 else what + ", templates among them"
        lines = [
            f"{tool} runs {what} on this computer, as user {_user()}, with no sandbox (emulator_exec={self.setting}):"
        ]
        budget = QUESTION_BUDGET
        shown = 0
        for text, count in counts.items():
            line = "  $ " + visible(text) + (f"   (x{count:,})" if count > 1 else "")
            if text in templates:
                line += "   (a template: run once per item, its placeholders filled in)"
            if shown == SHOWN_AT_MOST or len(line) > budget:
                break
            lines.append(line)
            budget -= len(line)
            shown += 1
        if shown < len(counts):
            lines.append(f"  ... and {len(counts) - shown:,} more not shown here; answer no to review them first.")
        if context:
            lines.append("With this environment and these files fetched first:")
            lines.extend(_listed(context))
        lines.append("Run " + ("it" if total == 1 and not templates else "them") + "?")
        return "\n".join(lines)


def _listed(context: list[str]) -> list[str]:
    distinct = list(dict.fromkeys(context))
    lines: list[str] = []
    budget = QUESTION_BUDGET
    for item in distinct:
        line = "  " + item
        if len(lines) == SHOWN_AT_MOST or len(line) > budget:
            lines.append(
                f"  ... and {len(distinct) - len(lines):,} more not shown here; answer no to review them first."
            )
            break
        lines.append(line)
        budget -= len(line)
    return lines


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment
        return "(unknown)"


# -- what the banner and `batch-mcp tools` say ------------------------------------------------------


@dataclass(frozen=True)
class SandboxProbe:
    available: bool
    kind: str  # "bwrap" | "unshare" | "none"
    detail: str


def probe_sandbox() -> SandboxProbe:
    """What isolation the emulator could use on this machine (the emulator's own probe)."""
    try:
        from batch_mcp.emulator.sandbox import detect  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return SandboxProbe(False, "none", "this version of the emulator has no sandbox")
    found = detect()
    return SandboxProbe(bool(found.available), str(found.kind), str(found.detail))


def resolved(setting: ExecSetting, probe: Callable[[], SandboxProbe] = probe_sandbox) -> ExecSetting:
    """`auto` made concrete: `sandbox` when one works here, else `confirm`."""
    if setting != "auto":
        return setting
    return "sandbox" if probe().available else "confirm"


def describe(setting: ExecSetting, *, uses_emulator: bool, probe: Callable[[], SandboxProbe] = probe_sandbox) -> str:
    """One line for the start-up banner and `batch-mcp tools`."""
    if not uses_emulator:
        return (
            f"tasks run on Azure Batch nodes; an endpoint that is a batch-mcp emulator runs them on its computer, "
            f"under emulator_exec={setting}"
        )
    found = probe() if setting in ("auto", "sandbox") else None
    auto = " (auto)" if setting == "auto" else ""
    if found is not None and found.available:
        return f"sandbox{auto}: tasks run isolated ({found.kind}: {found.detail})"
    if setting == "sandbox":
        return f"sandbox: none works on this machine ({found.detail if found else 'none'}); the emulator will not start"
    if setting in ("auto", "confirm"):
        reason = f"; no sandbox here: {found.detail}" if found is not None else ""
        return (
            f"confirm{auto}: tasks run on this computer as {_user()}; each new command line is shown and asked "
            f"first{reason}"
        )
    return f"unrestricted: tasks run on this computer as {_user()} without asking"


class NoSandbox(ValueError):
    """`emulator_exec=sandbox` on a machine where no sandbox works: refused at start."""


def require_sandbox(
    setting: ExecSetting, *, uses_emulator: bool, probe: Callable[[], SandboxProbe] = probe_sandbox
) -> None:
    """Refuse to start the emulator under `sandbox` when no sandbox works here, naming the way out."""
    if not uses_emulator or setting != "sandbox":
        return
    found = probe()
    if not found.available:
        raise NoSandbox(
            f"--emulator-exec sandbox: no sandbox works on this machine ({found.detail}); install bubblewrap "
            "or allow unprivileged user namespaces, or choose --emulator-exec confirm"
        )
