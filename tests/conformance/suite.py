"""Running the MCP conformance suite in server mode and reading what it found.

The suite writes one folder per scenario, `server-<scenario>-<timestamp>/checks.json`, each a list
of checks with a status (SUCCESS, FAILURE, WARNING, INFO, SKIPPED). Like the suite's own baseline
logic, a scenario or check counts as failing on FAILURE or WARNING.

The expected-failures files (conformance/expected-failures-*.yml) are read here too, to show the
reason beside each expected failure: entries are `- scenario` or `- scenario:check-id`, each with a
`# reason` comment on its line.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

FAILING = {"FAILURE", "WARNING"}
RESULT_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$")
SUITE_TIMEOUT_SECONDS = 180


@dataclass(frozen=True)
class Check:
    id: str
    status: str
    message: str


@dataclass
class Scenario:
    name: str
    checks: list[Check] = field(default_factory=list)

    @property
    def failing(self) -> list[Check]:
        return [check for check in self.checks if check.status in FAILING]


@dataclass(frozen=True)
class SuiteRun:
    exit_code: int
    output: str  # the suite's stdout and stderr
    scenarios: dict[str, Scenario]


@dataclass(frozen=True)
class Baseline:
    """Expected failures: whole scenarios, or single checks of a scenario; each with its reason."""

    scenarios: dict[str, str]
    checks: dict[tuple[str, str], str]

    def reason(self, scenario: str, check: str) -> str | None:
        return self.scenarios.get(scenario) or self.checks.get((scenario, check))


def run_suite(node: Path, suite: Path, url: str, baseline: Path, out_dir: Path, *extra: str) -> SuiteRun:
    command = [str(node), str(suite), "server", "--url", url, "--expected-failures", str(baseline), "-o", str(out_dir)]
    done = subprocess.run(
        [*command, *extra],
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=SUITE_TIMEOUT_SECONDS,
    )
    return SuiteRun(done.returncode, done.stdout + done.stderr, read_results(out_dir))


def read_results(out_dir: Path) -> dict[str, Scenario]:
    scenarios: dict[str, Scenario] = {}
    for folder in sorted(out_dir.iterdir()) if out_dir.is_dir() else []:
        match = RESULT_DIR.match(folder.name)
        if not match or not (folder / "checks.json").is_file():
            continue
        raw = json.loads((folder / "checks.json").read_text(encoding="utf-8"))
        checks = [Check(c["id"], c["status"], c.get("errorMessage") or "") for c in raw]
        scenarios[match["scenario"]] = Scenario(match["scenario"], checks)  # sorted: the latest run wins
    return scenarios


def read_baseline(path: Path) -> Baseline:
    """Parse our expected-failures files: a `server:` list of plain entries with `# reason`s."""
    scenarios: dict[str, str] = {}
    checks: dict[tuple[str, str], str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text = line.strip()
        if not text or text.startswith("#") or text == "server:":
            continue
        match = re.fullmatch(r"-\s+(?P<entry>[\w.:/-]+)\s+#\s*(?P<reason>\S.*)", text)
        if not match:
            raise ValueError(f"{path}:{number}: expected '- <scenario>[:<check>]  # reason', got {text!r}")
        scenario, _, check = match["entry"].partition(":")
        if check:
            checks[(scenario, check)] = match["reason"]
        else:
            scenarios[scenario] = match["reason"]
    return Baseline(scenarios, checks)


@dataclass(frozen=True)
class Verdict:
    unexpected: list[str]  # failing checks not in the baseline
    stale: list[str]  # baseline entries that passed
    table: str  # scenario -> outcome, for people


def judge(run: SuiteRun, baseline: Baseline) -> Verdict:
    """Compare a run with the baseline the way the suite does, and say it readably."""
    unexpected: list[str] = []
    rows: list[tuple[str, str, str]] = []
    for name, scenario in run.scenarios.items():
        failing = scenario.failing
        if not failing:
            rows.append((name, "pass", f"{len(scenario.checks)} checks"))
            continue
        reasons = {check.id: baseline.reason(name, check.id) for check in failing}
        surprises = [check for check in failing if reasons[check.id] is None]
        unexpected += [f"{name}:{check.id} [{check.status}] {check.message}" for check in surprises]
        if surprises:
            rows.append((name, "FAIL", "; ".join(f"{c.id}: {c.message}" for c in surprises)))
        else:
            why = "; ".join(sorted({reason for reason in reasons.values() if reason}))
            others = len(scenario.checks) - len(failing)
            rows.append((name, "expected", f"{why} (other checks passing: {others})" if others else why))
    stale: list[str] = []
    for name in baseline.scenarios:
        if name not in run.scenarios or not run.scenarios[name].failing:
            stale.append(f"{name} ({'passed' if name in run.scenarios else 'not run'})")
    for name, check in baseline.checks:
        statuses = {c.id: c.status for c in run.scenarios[name].checks} if name in run.scenarios else {}
        if statuses.get(check, "SUCCESS") == "SUCCESS":
            stale.append(f"{name}:{check} ({'passed' if check in statuses else 'not run'})")
    width = max((len(name) for name, _, _ in rows), default=10)
    table = "\n".join(f"  {name:<{width}}  {outcome:<8}  {detail}" for name, outcome, detail in rows)
    counts = {outcome: sum(1 for _, o, _ in rows if o == outcome) for outcome in ("pass", "expected", "FAIL")}
    table += f"\n  {counts['pass']} passed, {counts['expected']} expected failures, {counts['FAIL']} failed"
    return Verdict(unexpected, stale, table)
