"""The conformance harness itself: reading the suite's results, judging them against a baseline, the
committed baseline files, and the header rewriting of the auth proxy. Fast; no Node needed."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from tests.conformance.served import AUTH_PROXY, ROOT
from tests.conformance.suite import Baseline, SuiteRun, judge, read_baseline, read_results


def write_scenario(out: Path, name: str, *checks: tuple[str, str]) -> None:
    folder = out / f"server-{name}-2026-11-25T10-20-30-456Z"
    folder.mkdir(parents=True)
    raw = [{"id": check, "status": status, "errorMessage": f"{check} said {status}"} for check, status in checks]
    (folder / "checks.json").write_text(json.dumps(raw), encoding="utf-8")


def run_of(tmp_path: Path) -> SuiteRun:
    write_scenario(tmp_path, "ping", ("ping", "SUCCESS"))
    write_scenario(tmp_path, "tools-call-simple-text", ("tools-call-simple-text", "FAILURE"), ("wire", "SUCCESS"))
    write_scenario(tmp_path, "server-stateless", ("fixture-hook", "FAILURE"), ("real", "WARNING"), ("x", "INFO"))
    return SuiteRun(exit_code=1, output="", scenarios=read_results(tmp_path))


def test_results_are_read_per_scenario_from_the_folder_names(tmp_path: Path) -> None:
    run = run_of(tmp_path)
    assert sorted(run.scenarios) == ["ping", "server-stateless", "tools-call-simple-text"]
    assert [c.id for c in run.scenarios["server-stateless"].failing] == ["fixture-hook", "real"]


def test_a_warning_not_in_the_baseline_is_a_failure(tmp_path: Path) -> None:
    baseline = Baseline(
        scenarios={"tools-call-simple-text": "fixture tool"}, checks={("server-stateless", "fixture-hook"): "hook"}
    )
    verdict = judge(run_of(tmp_path), baseline)
    assert verdict.unexpected == ["server-stateless:real [WARNING] real said WARNING"]
    assert verdict.stale == []


def test_baseline_entries_that_pass_or_never_ran_are_stale(tmp_path: Path) -> None:
    baseline = Baseline(
        scenarios={"ping": "x", "tools-call-simple-text": "fixture tool", "gone": "x"},
        checks={("server-stateless", "fixture-hook"): "x", ("server-stateless", "real"): "x", ("ping", "ping"): "x"},
    )
    verdict = judge(run_of(tmp_path), baseline)
    assert verdict.unexpected == []
    assert sorted(verdict.stale) == ["gone (not run)", "ping (passed)", "ping:ping (passed)"]


@pytest.mark.parametrize("name", ["expected-failures-2025.yml", "expected-failures-2026.yml"])
def test_committed_baselines_give_a_reason_for_every_entry(name: str) -> None:
    baseline = read_baseline(ROOT / "conformance" / name)
    reasons = [*baseline.scenarios.values(), *baseline.checks.values()]
    assert reasons
    assert all(reason.strip() for reason in reasons)


def test_a_baseline_line_without_a_reason_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "baseline.yml"
    path.write_text("server:\n  - tools-call-simple-text\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"baseline\.yml:2\b"):
        read_baseline(path)


@pytest.fixture(scope="module")
def auth_proxy() -> ModuleType:
    spec = importlib.util.spec_from_file_location("auth_proxy", AUTH_PROXY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_proxy_adds_the_token_and_keeps_host_and_origin(auth_proxy: ModuleType) -> None:
    raw = [(b"host", b"evil.example"), (b"origin", b"http://evil.example"), (b"connection", b"keep-alive")]
    headers = auth_proxy.forwarded_request_headers(raw, "t0ken")
    assert headers == [
        (b"host", b"evil.example"),
        (b"origin", b"http://evil.example"),
        (b"authorization", b"Bearer t0ken"),
    ]


def test_proxy_keeps_an_authorization_header_the_client_sent(auth_proxy: ModuleType) -> None:
    headers = auth_proxy.forwarded_request_headers([(b"Authorization", b"Bearer other")], "t0ken")
    assert headers == [(b"Authorization", b"Bearer other")]
