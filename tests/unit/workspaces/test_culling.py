"""How idle a workspace is, from its own Jupyter's record and the proxy's."""

from __future__ import annotations

from datetime import datetime, timezone

from workspace_launcher.workspaces.culling import idle_seconds

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=timezone.utc).timestamp()


def test_the_most_recent_sign_of_use_wins():
    assert idle_seconds(now_wall=NOW, jupyter_last_activity="2026-11-23T11:00:00.000000Z", proxy_idle=None) == 3600
    assert idle_seconds(now_wall=NOW, jupyter_last_activity="2026-11-23T11:00:00+00:00", proxy_idle=30) == 30
    assert idle_seconds(now_wall=NOW, jupyter_last_activity="2026-11-23T11:59:50Z", proxy_idle=600) == 10


def test_no_record_at_all_is_infinitely_idle_and_clock_skew_is_not_negative():
    assert idle_seconds(now_wall=NOW, jupyter_last_activity=None, proxy_idle=None) == float("inf")
    assert idle_seconds(now_wall=NOW, jupyter_last_activity="2026-11-23T12:00:05Z", proxy_idle=None) == 0
