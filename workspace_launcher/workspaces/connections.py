"""What the proxy keeps per workspace between requests: where its Jupyter answers (cached
briefly, so proxied requests do not each cost an engine read) and when it last carried traffic
(the idle clock that culling reads)."""

from __future__ import annotations

import time

from workspace_launcher.workspaces.upstream import Upstream

#: Seconds a looked-up upstream is reused; this server's own stop/start/delete drop it at once.
CONNECTION_TTL = 2.0


class ConnectionCache:
    """Upstreams by (owner, workspace id), each for :data:`CONNECTION_TTL` seconds, and the time
    of each workspace's last proxied request or WebSocket message."""

    def __init__(self, ttl: float = CONNECTION_TTL) -> None:
        self.ttl = ttl
        self._upstreams: dict[tuple[str | None, str], tuple[float, Upstream]] = {}
        self._activity: dict[str, float] = {}

    def get(self, owner: str | None, workspace_id: str) -> Upstream | None:
        cached = self._upstreams.get((owner, workspace_id))
        return cached[1] if cached is not None and cached[0] > time.monotonic() else None

    def put(self, owner: str | None, workspace_id: str, upstream: Upstream) -> None:
        self._upstreams[(owner, workspace_id)] = (time.monotonic() + self.ttl, upstream)

    def forget(self, workspace_id: str) -> None:
        """Drop the workspace's upstream for every owner (it stopped, restarted or went away)."""
        for key in [k for k in self._upstreams if k[1] == workspace_id]:
            del self._upstreams[key]

    def record_activity(self, workspace_id: str) -> None:
        self._activity[workspace_id] = time.monotonic()

    def idle_seconds(self, workspace_id: str) -> float | None:
        """Seconds since the proxy last carried traffic for the workspace (None: never)."""
        last = self._activity.get(workspace_id)
        return None if last is None else time.monotonic() - last
