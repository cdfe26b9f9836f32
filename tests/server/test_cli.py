"""`batch-mcp call` and `batch-mcp tools` from a shell: same validation and guardrails as MCP,
confirmation asked on the controlling terminal."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from tests.server.test_transports import server_env


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = server_env(tmp_path) | {"BATCH_MCP_EMULATOR_DATA_DIR": str(tmp_path / "emu")}
    return subprocess.run(
        [sys.executable, "-m", "batch_mcp", *args],
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def run_on_terminal(tmp_path: Path, answer: str, *args: str) -> tuple[int, str]:
    """Run with a pseudo-terminal as the controlling terminal and type `answer` at the prompt."""
    env = server_env(tmp_path) | {"BATCH_MCP_EMULATOR_DATA_DIR": str(tmp_path / "emu")}
    pid, fd = pty.fork()
    if pid == 0:  # child: the pty is its controlling terminal
        os.execve(sys.executable, [sys.executable, "-m", "batch_mcp", *args], env)
    output, answered, deadline = b"", False, time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
            if not answered and b"Type 'yes'" in output:
                os.write(fd, answer.encode() if answer == "\x04" else answer.encode() + b"\n")  # \x04: Ctrl-D
                answered = True
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


def test_call_runs_a_tool_and_prints_its_result(tmp_path: Path) -> None:
    done = run(tmp_path, "call", "pool_get", "--args", '{"pool_id": "local"}')
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["id"] == "local"


def test_call_rejects_bad_arguments_before_anything_is_sent(tmp_path: Path) -> None:
    done = run(tmp_path, "call", "pool_resize", "--args", '{"pool_id": "local", "targetDedicatedNodes": "many"}')
    assert done.returncode == 1
    assert "$.targetDedicatedNodes" in done.stdout


def test_call_confirms_a_delete_on_the_terminal(tmp_path: Path) -> None:
    assert run(tmp_path, "call", "job_add", "--args", '{"id": "j1", "poolInfo": {"poolId": "local"}}').returncode == 0
    code, output = run_on_terminal(tmp_path, "no", "call", "job_delete", "--args", '{"job_id": "j1"}')
    assert code == 0 and "declined" in output
    assert run(tmp_path, "call", "job_get", "--args", '{"job_id": "j1"}').returncode == 0
    code, output = run_on_terminal(tmp_path, "yes", "call", "job_delete", "--args", '{"job_id": "j1"}')
    assert code == 0, output
    assert "Delete job j1" in output


def test_call_without_a_terminal_refuses_to_delete(tmp_path: Path) -> None:
    assert run(tmp_path, "call", "job_add", "--args", '{"id": "j2", "poolInfo": {"poolId": "local"}}').returncode == 0
    done = run(tmp_path, "call", "job_delete", "--args", '{"job_id": "j2"}')
    assert done.returncode == 1 and "--no-confirm" in done.stdout


def test_tools_prints_the_listed_set_with_sizes(tmp_path: Path) -> None:
    done = run(tmp_path, "tools")
    assert done.returncode == 0
    assert "pool_list" in done.stdout and "bytes of tools/list" in done.stdout


def test_end_of_input_at_the_prompt_cancels_and_the_audit_log_says_so(tmp_path: Path) -> None:
    assert run(tmp_path, "call", "job_add", "--args", '{"id": "j3", "poolInfo": {"poolId": "local"}}').returncode == 0
    code, output = run_on_terminal(tmp_path, "\x04", "call", "job_delete", "--args", '{"job_id": "j3"}')
    assert code == 0 and "dismissed" in output
    code, output = run_on_terminal(tmp_path, "no", "call", "job_delete", "--args", '{"job_id": "j3"}')
    assert code == 0 and "declined" in output
    audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [e["outcome"] for e in audit if e["tool"] == "job_delete"] == ["cancelled", "declined"]
