"""The retry delays of outbound messages and the outage they span."""

from __future__ import annotations

import pytest
from shopmail.domain.outbound.retry_schedule import (
    BASE_DELAY_SECONDS,
    MAX_DELAY_SECONDS,
    MAX_VISIBILITY_SECONDS,
    receives_needed,
    retry_delay,
    time_covered,
)


def test_delays_double_from_the_base_up_to_the_cap() -> None:
    delays = [retry_delay(n) for n in range(1, 9)]
    assert delays == [30, 60, 120, 240, 480, 900, 900, 900]
    assert delays[0] == BASE_DELAY_SECONDS and max(delays) == MAX_DELAY_SECONDS
    assert delays == sorted(delays)


@pytest.mark.parametrize("count", [0, -3, 1])
def test_counts_below_one_are_the_first_delivery(count: int) -> None:
    assert retry_delay(count) == BASE_DELAY_SECONDS


def test_huge_counts_and_caps_stay_within_the_sqs_limit() -> None:
    assert retry_delay(10**9) == MAX_DELAY_SECONDS
    assert retry_delay(60, cap=10**9) == MAX_VISIBILITY_SECONDS


def test_time_covered_is_the_sum_of_the_delays_before_a_delivery() -> None:
    assert time_covered(1) == 0
    assert time_covered(2) == 30
    assert time_covered(6) == 30 + 60 + 120 + 240 + 480
    assert time_covered(101) == 930 + 900 * 95
    assert time_covered(120) == 103_530


def test_receives_needed_is_the_first_count_reaching_the_time() -> None:
    day = 24 * 3600
    needed = receives_needed(day)
    assert time_covered(needed) >= day > time_covered(needed - 1)
    assert receives_needed(0) == 1
    assert receives_needed(45, base=10, cap=20) == 4  # 10 + 20 + 20
