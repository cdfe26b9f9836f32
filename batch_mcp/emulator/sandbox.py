"""Task processes in a sandbox: the node's folder is the only place they can write, and they have
no network unless it is allowed.

A task's command line is code run on this computer, written by whoever (or whatever model)
submitted the task. With the sandbox on, every task process (tasks, start tasks, job manager,
preparation and release tasks) runs in fresh Linux namespaces (user, mount, pid, ipc, uts, and
network unless allowed) where:

- the whole filesystem is read-only, and the node's own folder is bound back writable at its
  usual path (so `AZ_BATCH_*` paths hold);
- the emulator's state folder (its database, key and socket), the user's home folder, `/tmp`,
  `/var/tmp`, `/run` (agent and bus sockets, the Docker socket) and `/dev/shm` are replaced by
  empty private folders: a task cannot read the emulator's key, reach its socket or any other
  local socket by path, or read the user's files;
- there is no network but a private loopback, unless `sandbox_network` allows it;
- processes see only their own pid namespace and die with the emulator.

Two ways to build it, whichever works here (`detect()` tries them in order, once):
- `bwrap` (bubblewrap, the sandbox Flatpak uses), when installed;
- `unshare`: this module's own small launcher (`python -I -S sandbox_init.py`), which makes the
  same namespaces and mounts with the kernel's calls; slower to start, needs no package.
Where neither works (no user namespaces, not Linux), `detect()` says "none": the server then
asks before running new command lines (see the execution policy in the README).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Kind = Literal["bwrap", "unshare", "none"]
INIT_SCRIPT = Path(__file__).with_name("sandbox_init.py")
PROBE_TIMEOUT = 20.0
HIDDEN_SYSTEM_DIRS = ("/tmp", "/var/tmp", "/run", "/dev/shm")


class SandboxUnavailable(RuntimeError):
    """The sandbox was required but no way to build one works on this machine."""


@dataclass(frozen=True)
class Isolation:
    """Which sandbox works on this machine (or is in use), in one line for people."""

    kind: Kind
    detail: str

    @property
    def available(self) -> bool:
        return self.kind != "none"


@dataclass(frozen=True)
class Sandbox:
    """How to wrap one task process's argv; `hide` lists folders replaced by empty ones."""

    kind: Kind
    hide: tuple[Path, ...] = ()
    network: bool = False

    def hidden(self) -> list[Path]:
        """Every folder the sandbox empties, outermost first (a folder inside another comes after it)."""
        found: list[Path] = [Path(p) for p in HIDDEN_SYSTEM_DIRS]
        home = os.environ.get("HOME")
        if home and Path(home) != Path("/"):
            found.append(Path(home))
        found += [Path(p) for p in self.hide]
        unique: dict[str, Path] = {}
        for path in found:
            real = Path(os.path.realpath(path))
            unique.setdefault(str(real), real)
        return sorted(unique.values(), key=lambda p: len(p.parts))

    def wrap(self, argv: Sequence[str], *, writable: Path, cwd: Path, expose: Sequence[Path] = ()) -> list[str]:
        """The argv that runs `argv` in the sandbox with `writable` (the node's folder) as the
        only writable place, starting in `cwd`; `expose` names folders to show read-only even
        inside hidden ones (the Python that runs a node agent)."""
        writable = Path(os.path.realpath(writable))
        cwd = Path(os.path.realpath(cwd))
        shown = [Path(os.path.realpath(p)) for p in expose if self.hides(Path(p))]
        if self.kind == "bwrap":
            return self._bwrap(argv, writable, cwd, shown)
        if self.kind == "unshare":
            return self._unshare(argv, writable, cwd, shown)
        return list(argv)

    def _bwrap(self, argv: Sequence[str], writable: Path, cwd: Path, shown: list[Path]) -> list[str]:
        out = ["bwrap", "--die-with-parent", "--unshare-all", "--cap-drop", "ALL"]
        if self.network:
            out.append("--share-net")
        out += ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
        for path in self.hidden():
            if path.exists() and path != Path("/dev/shm"):  # /dev is new already
                out += ["--tmpfs", str(path)]
        for path in shown:
            out += ["--ro-bind", str(path), str(path)]
        out += ["--bind", str(writable), str(writable), "--chdir", str(cwd), "--", *argv]
        return out

    def _unshare(self, argv: Sequence[str], writable: Path, cwd: Path, shown: list[Path]) -> list[str]:
        hidden = [str(p) for p in self.hidden() if p.exists()]
        return [
            sys.executable,
            "-I",
            "-S",
            str(INIT_SCRIPT),
            "--network" if self.network else "--no-network",
            "--writable",
            str(writable),
            "--cwd",
            str(cwd),
            *[arg for path in hidden for arg in ("--hide", path)],
            *[arg for path in shown for arg in ("--expose", str(path))],
            "--",
            *argv,
        ]

    def hides(self, path: Path) -> bool:
        """Whether a file (a program, say) lies in a folder the sandbox empties."""
        if self.kind == "none":
            return False
        real = Path(os.path.realpath(path))
        return any(real == h or h in real.parents for h in self.hidden())


# -- detection ----------------------------------------------------------------------------------


def _probe(kind: Kind) -> str | None:
    """Run a real task-shaped probe; None when it works, else why not."""
    if kind == "bwrap" and shutil.which("bwrap") is None:
        return "bwrap is not installed"
    if not sys.platform.startswith("linux"):
        return "Linux namespaces are not available on this platform"
    with tempfile.TemporaryDirectory(prefix="batch-mcp-sandbox-probe-") as tmp:
        node = Path(tmp) / "node"
        (node / "wd").mkdir(parents=True)
        outside = Path(tmp) / "outside"
        sandbox = Sandbox(kind, hide=())
        # a write outside the node's folder may land in a private folder of the sandbox: what
        # matters is that it never reaches this machine's file
        script = f"echo ok > {node}/wd/inside && {{ echo no > {outside}; }} 2>/dev/null; exit 0"
        argv = sandbox.wrap(["/bin/sh", "-c", script], writable=node, cwd=node / "wd")
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=PROBE_TIMEOUT,
                check=False,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{kind} could not run: {exc}"
        if done.returncode != 0 or not (node / "wd" / "inside").exists() or outside.exists():
            reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
            return f"{kind} did not isolate a probe ({reason[-1] if reason else f'exit {done.returncode}'})"
    return None


@functools.cache
def detect() -> Isolation:
    """The best sandbox that works on this machine, tried once per process."""
    reasons = []
    for kind, detail in (
        ("bwrap", "bubblewrap: user, mount, pid and network namespaces"),
        ("unshare", "Linux namespaces (user, mount, pid, network) through the emulator's own launcher"),
    ):
        why = _probe(kind)  # type: ignore[arg-type]
        if why is None:
            return Isolation(kind, detail)  # type: ignore[arg-type]
        reasons.append(why)
    return Isolation("none", "no sandbox works here: " + "; ".join(reasons))


def require() -> Kind:
    """The sandbox kind to use; SandboxUnavailable when none works on this machine."""
    found = detect()
    if not found.available:
        raise SandboxUnavailable(f"the task sandbox is required but {found.detail}")
    return found.kind
