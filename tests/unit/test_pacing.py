"""The token bucket that paces sends (fake clock: no real waiting)."""

from __future__ import annotations

import math
import threading

import pytest
from shopmail.domain.smtp.pacing import TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def bucket(rate: float, burst: float | None = None) -> tuple[TokenBucket, FakeClock]:
    clock = FakeClock()
    return TokenBucket(rate, burst, clock=clock, sleep=clock.sleep), clock


def test_starts_full_then_empties() -> None:
    b, _ = bucket(10, burst=3)
    assert [b.try_acquire() for _ in range(4)] == [True, True, True, False]


def test_refills_at_rate_up_to_burst() -> None:
    b, clock = bucket(10, burst=3)
    for _ in range(3):
        assert b.try_acquire()
    clock.now += 0.1
    assert b.try_acquire()
    assert not b.try_acquire()
    clock.now += 60  # a long pause refills only to burst
    assert [b.try_acquire() for _ in range(4)] == [True, True, True, False]


def test_acquire_paces_to_the_rate() -> None:
    b, clock = bucket(14, burst=1)
    start = clock.now
    for _ in range(29):
        b.acquire()
    # the first is free (full bucket); 28 more need 28/14 = 2 s of simulated time
    assert clock.now - start == pytest.approx(2.0)
    assert all(s == pytest.approx(1 / 14) for s in clock.sleeps)


def test_acquire_returns_the_wait() -> None:
    b, _ = bucket(4, burst=1)
    assert b.acquire() == 0.0
    assert b.acquire() == pytest.approx(0.25)


def test_delay_does_not_consume() -> None:
    b, _ = bucket(2, burst=1)
    assert b.delay() == 0.0
    assert b.delay() == 0.0
    assert b.try_acquire()
    assert b.delay() == pytest.approx(0.5)
    assert b.delay() == pytest.approx(0.5)


def test_default_burst_is_the_rate() -> None:
    b, _ = bucket(5)
    assert b.burst == 5
    b2, _ = bucket(0.5)
    assert b2.burst == 1


def test_unlimited_never_waits() -> None:
    b, clock = bucket(math.inf)
    assert b.unlimited
    for _ in range(1000):
        assert b.acquire() == 0.0
    assert clock.sleeps == []


@pytest.mark.parametrize("rate", [0, -1, math.nan])
def test_invalid_rate(rate: float) -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(rate)


def test_invalid_burst_and_oversized_request() -> None:
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(5, burst=0.5)
    b, _ = bucket(5, burst=2)
    with pytest.raises(ValueError, match="cannot take"):
        b.acquire(3)


def test_clock_going_backwards_does_not_add_tokens() -> None:
    b, clock = bucket(10, burst=1)
    assert b.try_acquire()
    clock.now -= 50
    assert not b.try_acquire()


def test_shared_between_threads_never_over_grants() -> None:
    clock = FakeClock()
    b = TokenBucket(1, burst=50, clock=clock, sleep=clock.sleep)
    granted: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(20):
            ok = b.try_acquire()
            with lock:
                granted.append(ok)

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert granted.count(True) == 50
