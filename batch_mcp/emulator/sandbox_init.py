"""The emulator's own sandbox launcher, for machines without bubblewrap (see sandbox.py).

    python -I -S sandbox_init.py (--network|--no-network) --writable DIR --cwd DIR [--hide DIR]... -- ARGV...

Run as its own process (never imported by the emulator): it enters new user, mount, pid, ipc,
uts (and network) namespaces, builds a read-only view of the filesystem with the hidden folders
replaced by empty ones and DIR bound back writable, pivots into it, and runs ARGV as the pid
namespace's first process. It dies with the emulator (PR_SET_PDEATHSIG), and everything in the
namespace dies with it. Only the standard library, started with -I -S: nothing from the project
or the user's site can run before the sandbox is up. Exit status: ARGV's, 128+N when a signal
ended it, 125 when the sandbox could not be built, 127 when ARGV could not be started.
"""

# ruff: noqa: PTH102, PTH103, PTH123 - plain os calls on purpose: paths name places in the view being built

from __future__ import annotations

import ctypes
import os
import platform
import signal
import sys

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC = 32, 1024, 2048, 4096, 16384
MS_PRIVATE, MS_RELATIME = 1 << 18, 1 << 21
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 1, 24, 38, 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
CAPABILITY_VERSION_3 = 0x20080522
# statvfs f_flag bits → the mount flags that must be kept on a remount inside a user namespace
KEPT_FLAGS = {
    1: MS_RDONLY,
    2: MS_NOSUID,
    4: MS_NODEV,
    8: MS_NOEXEC,
    1024: MS_NOATIME,
    2048: MS_NODIRATIME,
    4096: MS_RELATIME,
}
PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "arm64": 41}
# kernel filesystems whose mounts may refuse a read-only remount; writing there needs privileges
# in the initial namespaces, which a sandboxed task never has
PSEUDO_FS = frozenset(
    {
        *("proc", "sysfs", "cgroup", "cgroup2", "devpts", "mqueue", "bpf", "tracefs", "debugfs", "securityfs"),
        *("pstore", "configfs", "fusectl", "binfmt_misc", "hugetlbfs", "autofs", "efivarfs", "rpc_pipefs", "nsfs"),
    }
)

libc = ctypes.CDLL(None, use_errno=True)


class Failed(Exception):
    pass


def check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise Failed(f"{what}: {os.strerror(err)}")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = [None if v is None else v.encode() for v in (source, target, fstype, data)]
    check(libc.mount(enc[0], enc[1], enc[2], ctypes.c_ulong(flags), enc[3]), f"mount {target}")


def parse(argv: list[str]) -> tuple[bool, str, str, list[str], list[str], list[str]]:
    network, writable, cwd, hide, expose = False, "", "", [], []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return network, writable, cwd, hide, expose, argv[i + 1 :]
        if arg in ("--network", "--no-network"):
            network = arg == "--network"
        elif arg in ("--writable", "--cwd", "--hide", "--expose"):
            i += 1
            value = argv[i]
            if arg == "--writable":
                writable = value
            elif arg == "--cwd":
                cwd = value
            elif arg == "--hide":
                hide.append(value)
            else:
                expose.append(value)
        else:
            raise Failed(f"unknown option {arg}")
        i += 1
    raise Failed("no command after --")


def write(path: str, text: str) -> None:
    with open(path, "w", encoding="ascii") as handle:
        handle.write(text)


def enter_namespaces(network: bool) -> None:
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
    if not network:
        flags |= CLONE_NEWNET
    check(libc.unshare(ctypes.c_int(flags)), "unshare")
    write("/proc/self/setgroups", "deny")
    write("/proc/self/uid_map", f"{uid} {uid} 1")
    write("/proc/self/gid_map", f"{gid} {gid} 1")


def unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    out, i = "", 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1 : i + 4].isdigit():
            out += chr(int(field[i + 1 : i + 4], 8))
            i += 4
        else:
            out += field[i]
            i += 1
    return out


def mounts_under(prefix: str) -> list[tuple[str, str]]:
    """(mount point, filesystem type) of every mount at or below `prefix`, outermost first."""
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            left, _, right = line.partition(" - ")
            point = unescape(left.split()[4])
            fstype = right.split()[0] if right else ""
            if point == prefix or point.startswith(prefix + "/"):
                found.append((point, fstype))
    return sorted(found, key=lambda item: item[0].count("/"))


def make_read_only(root: str) -> None:
    for point, fstype in mounts_under(root):
        try:
            kept = 0
            for bit, flag in KEPT_FLAGS.items():
                if os.statvfs(point).f_flag & bit:
                    kept |= flag
            mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | kept)
        except (Failed, OSError) as exc:
            if fstype not in PSEUDO_FS:
                raise Failed(f"cannot make {point} read-only ({exc})") from None


def bind_read_only(fd: int, target: str) -> None:
    mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)
    kept = 0
    for bit, flag in KEPT_FLAGS.items():
        if os.statvfs(target).f_flag & bit:
            kept |= flag
    mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | kept)


def build_root(writable: str, hide: list[str], expose: list[str]) -> str:
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    # handles on the writable and exposed folders in this namespace, before anything covers them
    writable_fd = os.open(writable, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    shown = [(path, os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)) for path in expose]
    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700")  # staging, in this namespace only
    root = "/tmp/root"
    os.mkdir(root)
    mount("/", root, None, MS_BIND | MS_REC)
    make_read_only(root)
    for path in sorted(hide, key=lambda p: p.count("/")):
        target = root + path
        os.makedirs(target, exist_ok=True)  # inside an earlier tmpfs when it is not there already
        mode = "1777" if path in ("/tmp", "/var/tmp", "/dev/shm") else "0755"
        mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, f"mode={mode}")
    for path, fd in shown:
        target = root + path
        os.makedirs(target, exist_ok=True)
        bind_read_only(fd, target)
        os.close(fd)
    target = root + writable
    os.makedirs(target, exist_ok=True)
    mount(f"/proc/self/fd/{writable_fd}", target, None, MS_BIND | MS_REC)
    os.close(writable_fd)
    return root


def pivot(root: str) -> None:
    number = PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise Failed(f"no pivot_root for {platform.machine()}")
    os.chdir(root)
    check(libc.syscall(ctypes.c_long(number), b".", b"."), "pivot_root")
    check(libc.umount2(b".", ctypes.c_int(MNT_DETACH)), "umount old root")
    os.chdir("/")


def drop_privileges() -> None:
    """No capability survives into the command, even for root: without them a task cannot undo
    the mounts that hide folders or make the view writable again."""
    for cap in range(64):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # fails past the last capability; that is fine
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = (ctypes.c_uint32 * 2)(CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()
    check(libc.capset(header, data), "capset")
    check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def child(writable: str, cwd: str, hide: list[str], expose: list[str], command: list[str]) -> None:
    """Pid 1 of the new pid namespace: build the view, then become the command."""
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    root = build_root(writable, hide, expose)
    mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    pivot(root)
    os.chdir(cwd)
    drop_privileges()
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        sys.stderr.write(f"sandbox: cannot run {command[0]!r}: {exc.strerror}\n")
        os._exit(127)


def main(argv: list[str]) -> int:
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # die with the emulator
    try:
        network, writable, cwd, hide, expose, command = parse(argv)
        if not command:
            raise Failed("no command")
        enter_namespaces(network)
    except (Failed, OSError) as exc:
        sys.stderr.write(f"sandbox: {exc}\n")
        return 125
    pid = os.fork()
    if pid == 0:
        try:
            child(writable, cwd, hide, expose, command)
        except (Failed, OSError) as exc:
            sys.stderr.write(f"sandbox: {exc}\n")
        os._exit(125)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
