"""The proxy's per-workspace memory: upstreams reused briefly, forgotten at once, the idle clock."""

from __future__ import annotations

from workspace_launcher.workspaces.connections import ConnectionCache
from workspace_launcher.workspaces.upstream import Upstream

UP = Upstream("172.18.0.5", 8888, "/workspace-launcher/workspaces/abc/", "t")


def test_an_upstream_is_reused_until_its_ttl_and_forgotten_for_every_owner():
    cache = ConnectionCache(ttl=60)
    assert cache.get("alice", "abc") is None
    cache.put("alice", "abc", UP)
    cache.put(None, "abc", UP)  # the same workspace asked for by an admin (any owner)
    cache.put("alice", "def", UP)
    assert cache.get("alice", "abc") is UP and cache.get("bob", "abc") is None
    cache.forget("abc")
    assert cache.get("alice", "abc") is None and cache.get(None, "abc") is None
    assert cache.get("alice", "def") is UP
    expired = ConnectionCache(ttl=0)
    expired.put("alice", "abc", UP)
    assert expired.get("alice", "abc") is None


def test_the_idle_clock_starts_at_the_first_proxied_request():
    cache = ConnectionCache()
    assert cache.idle_seconds("abc") is None
    cache.record_activity("abc")
    assert 0 <= cache.idle_seconds("abc") < 1
