"""Once-per-interval log lines, on a clock the test turns."""

from __future__ import annotations

from tests.unit.fakes import ManualClock
from workspace_launcher.proxy.log_limit import DEFAULT_INTERVAL, OncePerInterval

A, B = "aaaaaaaaaaaa", "bbbbbbbbbbbb"


def test_the_first_line_is_due_then_none_until_the_interval_passes():
    clock = ManualClock()
    limit = OncePerInterval(60, clock)
    assert limit.due(A) == 0
    for _ in range(50):  # a tab polling in the same minute
        clock.now += 1
        assert limit.due(A) is None
    clock.now += 10  # 60 s after the first line
    assert limit.due(A) == 50  # says how many it held back
    assert limit.due(A) is None


def test_keys_are_counted_apart():
    clock = ManualClock()
    limit = OncePerInterval(60, clock)
    assert limit.due(A) == 0
    assert limit.due(B) == 0
    assert limit.due(A) is None
    assert limit.due((A, 410)) == 0  # any hashable key
    clock.now += 60
    assert limit.due(B) == 0 and limit.due(A) == 1


def test_keys_quiet_for_two_intervals_are_forgotten():
    clock = ManualClock()
    limit = OncePerInterval(10, clock)
    for key in range(100):
        limit.due(key)
    clock.now += 20
    assert limit.due(A) == 0
    assert len(limit) == 1


def test_the_default_interval_is_a_minute():
    assert OncePerInterval().interval == DEFAULT_INTERVAL == 60.0
