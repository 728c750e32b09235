"""Retries against the real registry, through `FaultProxy` injecting 429 and 5xx answers.

The proxy answers the first manifest GETs itself (a burst of 503, 502 or 500; a 429 with a
``Retry-After`` in seconds, as an HTTP date, or far too long), then lets the real registry
answer. The client must end with the registry's own manifest, having waited what the policy
or the registry asked, or fail at once with a typed error when the registry asks too much.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import trio

from sansio_registry import ClientConfig, RetryPolicy, ServerError, TooManyRequests
from tests.lab.faultproxy import Fault, FaultProxy, Rule, SeenRequest
from tests.lab.labs import Lab
from trio_backend.client import open_client

MANIFEST_GET = r"^/v2/ns/app/manifests/"
#: Short back-off waits, so the bursts cost little time; exact (no jitter seed).
FAST = RetryPolicy(first_delay=0.05, max_delay=5.0)


def _read_manifest(lab: Lab, proxy: FaultProxy, policy: RetryPolicy) -> tuple[bytes, float]:
    """The manifest of ns/app:v1 read through ``proxy``, and how long it took (seconds)."""
    config = ClientConfig(tls_verify=False, retry=policy)
    ref = f"127.0.0.1:{proxy.port}/{lab.images.app.repo}:{lab.images.app.tag}"

    async def main() -> bytes:
        async with open_client(config) as client:
            return (await client.get_manifest(ref)).raw

    start = time.monotonic()
    raw = trio.run(main)
    return raw, time.monotonic() - start


def _manifest_statuses(seen: Sequence[SeenRequest]) -> list[int | None]:
    return [r.status for r in seen if r.target.startswith("/v2/ns/app/manifests/")]


def _burst(status: int, times: int, headers: Sequence[tuple[str, str]] = ()) -> list[Rule]:
    return [Rule(Fault.answer(status, headers), target=MANIFEST_GET, times=times)]


@pytest.mark.fault("429 and 5xx", "503 burst then success")
def test_a_503_burst_then_success(plain_registry: Lab) -> None:
    with FaultProxy(plain_registry.host, _burst(503, 2)) as proxy:
        raw, _ = _read_manifest(plain_registry, proxy, FAST)
        statuses = _manifest_statuses(proxy.seen())
    assert raw == plain_registry.images.app.manifest
    assert statuses == [503, 503, 200]


@pytest.mark.fault("429 and 5xx", "502/500 burst then success")
@pytest.mark.parametrize("status", [502, 500])
def test_a_502_or_500_burst_then_success(plain_registry: Lab, status: int) -> None:
    with FaultProxy(plain_registry.host, _burst(status, 2)) as proxy:
        raw, _ = _read_manifest(plain_registry, proxy, FAST)
        statuses = _manifest_statuses(proxy.seen())
    assert raw == plain_registry.images.app.manifest
    assert statuses == [status, status, 200]


@pytest.mark.fault("429 and 5xx", "5xx burst longer than the policy")
def test_a_burst_longer_than_the_policy_fails_with_the_server_error(plain_registry: Lab) -> None:
    with FaultProxy(plain_registry.host, _burst(502, 5)) as proxy:
        with pytest.raises(ServerError) as info:
            _read_manifest(plain_registry, proxy, FAST)
        statuses = _manifest_statuses(proxy.seen())
    assert info.value.status == 502
    assert statuses == [502, 502, 502]  # 3 attempts in all, then the last answer is reported


@pytest.mark.fault("429 and 5xx", "connection closed before any response byte")
def test_a_hang_up_before_the_response_is_retried(plain_registry: Lab) -> None:
    # The first hang-up hits the connection the ping left open: the pool resends that once on
    # a fresh connection by itself. The next two are the core's: 3 attempts in all.
    rules = [Rule(Fault.hang_up(), target=MANIFEST_GET, times=3)]
    with FaultProxy(plain_registry.host, rules) as proxy:
        raw, _ = _read_manifest(plain_registry, proxy, FAST)
        statuses = _manifest_statuses(proxy.seen())
    assert raw == plain_registry.images.app.manifest
    assert statuses == [None, None, None, 200]


@pytest.mark.fault("429 and 5xx", "429 with Retry-After seconds")
def test_429_retry_after_seconds_is_waited(plain_registry: Lab) -> None:
    with FaultProxy(plain_registry.host, _burst(429, 1, [("Retry-After", "1")])) as proxy:
        raw, elapsed = _read_manifest(plain_registry, proxy, FAST)
        statuses = _manifest_statuses(proxy.seen())
    assert raw == plain_registry.images.app.manifest
    assert statuses == [429, 200]
    assert 1.0 <= elapsed < 10.0  # the second asked for, not the policy's 0.05 s


@pytest.mark.fault("429 and 5xx", "429 with Retry-After as an HTTP date")
def test_429_retry_after_http_date_is_judged_by_the_response_date(plain_registry: Lab) -> None:
    # The registry's own Date is years off the local clock: only the difference counts.
    date = datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)
    headers = [
        ("Date", format_datetime(date, usegmt=True)),
        ("Retry-After", format_datetime(date + timedelta(seconds=2), usegmt=True)),
    ]
    with FaultProxy(plain_registry.host, _burst(429, 1, headers)) as proxy:
        raw, elapsed = _read_manifest(plain_registry, proxy, FAST)
        statuses = _manifest_statuses(proxy.seen())
    assert raw == plain_registry.images.app.manifest
    assert statuses == [429, 200]
    assert 2.0 <= elapsed < 10.0


@pytest.mark.fault("429 and 5xx", "429 with a huge Retry-After")
def test_429_retry_after_beyond_the_policy_fails_at_once(plain_registry: Lab) -> None:
    with FaultProxy(plain_registry.host, _burst(429, 1, [("Retry-After", "3600")])) as proxy:
        start = time.monotonic()
        with pytest.raises(TooManyRequests) as info:
            _read_manifest(plain_registry, proxy, FAST)
        elapsed = time.monotonic() - start
        statuses = _manifest_statuses(proxy.seen())
    assert statuses == [429]  # not resent
    assert "the registry asks to wait 3600 s; the retry policy allows at most 5 s" in str(
        info.value
    )
    assert elapsed < 5.0  # no wait at all
