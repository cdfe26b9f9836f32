"""The retry policy on its own: what is retried, how long it waits, and when it stops (no real waiting)."""

from __future__ import annotations

import email.utils
import time

import httpx2
import pytest

from batch_mcp.batch.errors import BatchProtocolError
from batch_mcp.batch.retry import RetryMode, RetryPolicy, RetrySettings, retry_after
from tests.batch.conftest import FakeTime

SAFE, CREATE, UNSAFE = RetryMode.SAFE, RetryMode.CREATE, RetryMode.UNSAFE


def _policy(**settings: float) -> tuple[RetryPolicy, FakeTime]:
    fake = FakeTime()
    return fake.policy(**settings), fake


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried_for_safe_requests(status: int) -> None:
    policy, _ = _policy()
    assert policy.on_status(policy.start(), status, {}, SAFE).retry


@pytest.mark.parametrize("status", [400, 404, 409, 412, 501])
def test_client_errors_are_never_retried(status: int) -> None:
    policy, _ = _policy()
    assert not policy.on_status(policy.start(), status, {}, SAFE).retry


def test_unsafe_requests_are_retried_only_when_the_service_did_not_apply_them() -> None:
    policy, _ = _policy()
    state = policy.start()
    assert policy.on_status(state, 503, {}, UNSAFE).retry
    assert policy.on_status(state, 429, {}, UNSAFE).retry
    assert not policy.on_status(state, 500, {}, UNSAFE).retry
    assert not policy.on_status(state, 502, {}, UNSAFE).retry
    assert policy.on_status(state, 500, {"Retry-After": "1"}, UNSAFE).retry  # the service asks for it
    assert policy.on_error(state, httpx2.ConnectError("refused"), UNSAFE).retry  # never reached it
    assert not policy.on_error(state, httpx2.ReadTimeout("slow"), UNSAFE).retry  # may have applied it


def test_failures_after_sending_are_retried_for_safe_requests_and_creates() -> None:
    policy, _ = _policy()
    for mode in (SAFE, CREATE):
        for error in (httpx2.ReadTimeout("t"), httpx2.RemoteProtocolError("reset"), BatchProtocolError("bad json")):
            assert policy.on_error(policy.start(), error, mode).retry, (mode, error)
    assert not policy.on_error(policy.start(), httpx2.UnsupportedProtocol("ftp"), SAFE).retry


def test_backoff_grows_exponentially_up_to_the_cap_with_bounded_jitter() -> None:
    policy, _ = _policy(backoff_factor=0.5, backoff_max=3.0)
    assert [policy.backoff(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    low = RetryPolicy(RetrySettings(backoff_factor=1.0, jitter=0.25), rand=lambda: 0.0)
    high = RetryPolicy(RetrySettings(backoff_factor=1.0, jitter=0.25), rand=lambda: 0.999999)
    assert low.backoff(1) == 0.75 and high.backoff(1) == pytest.approx(1.25, abs=1e-5)


def test_server_delays_are_parsed_from_all_three_headers() -> None:
    assert retry_after({"Retry-After": "7"}) == 7.0
    assert retry_after({"retry-after-ms": "1500"}) == 1.5
    assert retry_after({"x-ms-retry-after-ms": "250"}) == 0.25
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= (retry_after({"Retry-After": later}) or 0) <= 30
    assert retry_after({"Retry-After": "soon"}) is None and retry_after({}) is None


def test_a_server_delay_replaces_the_backoff() -> None:
    policy, _ = _policy()
    decision = policy.on_status(policy.start(), 429, {"Retry-After": "4"}, SAFE)
    assert decision.delay == 4.0


def test_a_server_delay_past_the_budget_gives_up_at_once() -> None:
    policy, _ = _policy(budget=10.0)
    decision = policy.on_status(policy.start(), 503, {"Retry-After": "60"}, SAFE)
    assert not decision.retry and "budget" in decision.reason


@pytest.mark.anyio
async def test_attempts_and_total_wait_are_bounded() -> None:
    policy, fake = _policy(max_attempts=4, budget=1000.0, backoff_factor=1.0)
    state = policy.start()
    while (decision := policy.on_status(state, 503, {}, SAFE)).retry:
        await policy.wait(state, decision)
    assert state.attempt == 4 and fake.sleeps == [1.0, 2.0, 4.0]
    policy, fake = _policy(max_attempts=100, budget=20.0, backoff_factor=1.0)
    state = policy.start()
    while (decision := policy.on_status(state, 503, {}, SAFE)).retry:
        await policy.wait(state, decision)
    assert fake.sleeps == [1.0, 2.0, 4.0, 8.0] and sum(fake.sleeps) < 20.0


def test_no_retries_means_one_attempt() -> None:
    policy = RetryPolicy.no_retries()
    assert not policy.on_status(policy.start(), 503, {}, SAFE).retry
