"""Which tools a server lists and which it lets run: one function, one order of precedence.

1. `--read-only` keeps only tools whose `readOnlyHint` is true. It wins over everything, an
   explicit `--tools` included.
2. `--exclude-tools` removes tools by name, and the server's own tools that act through them.
3. `--tools` (an allow-list) names exactly the tools to offer; toolsets are then ignored.
4. Otherwise `--toolsets` picks what `tools/list` shows: `default` (the curated set below), `all`,
   or toolset names. Tools outside the listed set stay reachable through `batch_tools` (which runs
   the read-only ones) and `batch_call` (the rest), within the limits of 1 and 2, so the list stays
   small without hiding anything.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

ROUTER_TOOLS = ("batch_tools", "batch_call")

# What people do most, sized for real clients (Cursor lists at most 40 tools): look at pools,
# nodes, jobs, tasks and their files; create, resize and delete the common things; plus the
# meta tools and agent-sized workflows. `batch_tools` shows the rest.
DEFAULT_TOOLS = (
    # pools
    "pool_list",
    "pool_get",
    "pool_add",
    "pool_delete",
    "pool_resize",
    "pool_remove_nodes",
    "pool_enable_auto_scale",
    "pool_evaluate_auto_scale",
    # nodes
    "node_list",
    "node_get",
    "node_reboot",
    # jobs
    "job_list",
    "job_get",
    "job_add",
    "job_delete",
    "job_terminate",
    "job_get_task_counts",
    # tasks
    "task_list",
    "task_get",
    "task_add",
    "task_terminate",
    "task_reactivate",
    # files
    "task_file_list",
    "task_file_get",
    "node_file_list",
    "node_file_get",
    # account
    "account_list_supported_images",  # 2024 and later
    "account_list_node_agent_skus",  # its 2018 counterpart
    # the server's own tools
    "batch_schema",
    "batch_tools",
    "batch_call",
    "batch_overview",
    "task_diagnose",
    "wait_for",
    "tasks_submit",
    "file_tail",
)


class SelectableTool(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def toolset(self) -> str: ...

    @property
    def read_only(self) -> bool: ...


@dataclass(frozen=True)
class Selection:
    listed: tuple[str, ...]  # shown in tools/list, in this order
    enabled: frozenset[str]  # allowed to run (listed, or reachable through batch_call)

    def is_listed(self, name: str) -> bool:
        return name in self.listed

    def meant(self, name: str) -> str:
        """' Did you mean X?' for a misspelt tool name, naming the closest enabled tool ('' if none is close)."""
        close = difflib.get_close_matches(name, sorted(self.enabled), n=1, cutoff=0.7)
        return f" Did you mean {close[0]}?" if close else ""


class SelectionError(ValueError):
    """A tool or toolset name that does not exist; `setting` names the setting that holds it."""

    def __init__(self, message: str, setting: str) -> None:
        self.setting = setting
        super().__init__(message)


def select(
    tools: Mapping[str, SelectableTool],
    *,
    toolsets: Iterable[str] = ("default",),
    allow: Iterable[str] = (),
    exclude: Iterable[str] = (),
    read_only: bool = False,
) -> Selection:
    toolsets, allow, exclude = list(toolsets), list(allow), list(exclude)
    known_sets = {t.toolset for t in tools.values()} | {"default", "all"}
    for setting, names in (("tools", allow), ("exclude_tools", exclude)):
        if unknown := [n for n in names if n not in tools]:
            raise SelectionError(f"unknown tool: {', '.join(unknown)} (see batch-mcp tools --all)", setting)
    if unknown := [s for s in toolsets if s not in known_sets]:
        raise SelectionError(
            f"unknown toolset: {', '.join(unknown)} (toolsets: {', '.join(sorted(known_sets))})", "toolsets"
        )

    enabled = {name for name, tool in tools.items() if not read_only or tool.read_only}
    enabled -= set(exclude)
    # A server tool that acts through an excluded operation goes with it (tasks_submit adds tasks
    # through task_add_collection, file_tail reads through task_file_get, ...).
    enabled -= {name for name, tool in tools.items() if set(exclude) & set(getattr(tool, "uses", ()))}
    if allow:
        enabled &= set(allow)
        listed = [name for name in tools if name in enabled]
    else:
        wanted: set[str] = set()
        for toolset in toolsets:
            if toolset == "all":
                wanted |= set(tools)
            elif toolset == "default":
                wanted |= set(DEFAULT_TOOLS) & set(tools)
            else:
                wanted |= {n for n, t in tools.items() if t.toolset == toolset}
        listed = [name for name in tools if name in wanted and name in enabled]
    # The routers are offered exactly when enabled tools are left out of the list: batch_tools (which
    # describes them and runs the read-only ones) for any, batch_call for one that changes something.
    hidden = enabled - set(listed) - set(ROUTER_TOOLS)
    needed = {"batch_tools"} if hidden else set()
    if any(not tools[name].read_only for name in hidden):
        needed.add("batch_call")
    needed &= enabled
    listed = [name for name in listed if name not in ROUTER_TOOLS or name in needed]
    listed += [name for name in ROUTER_TOOLS if name in needed and name not in listed]
    enabled -= set(ROUTER_TOOLS) - needed
    return Selection(listed=tuple(listed), enabled=frozenset(enabled))
