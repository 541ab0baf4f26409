"""Idle culling: stop workspaces nobody has used for a while, so their GPUs go back to the pool.

A workspace is idle when neither the proxy nor its own Jupyter (kernel activity, API calls: the
``last_activity`` of its ``/api/status``) has seen anything for ``idle_timeout`` seconds. Culling
stops the container; volumes, token and image stay, and `start` brings it back.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

from tornado.httpclient import AsyncHTTPClient
from traitlets import Float, Instance
from traitlets.config import LoggingConfigurable

from workspace_launcher.errors import LauncherError
from workspace_launcher.workspaces.manager import WorkspaceManager
from workspace_launcher.workspaces.model import Status
from workspace_launcher.workspaces.readiness import jupyter_status


def idle_seconds(*, now_wall: float, jupyter_last_activity: str | None, proxy_idle: float | None) -> float:
    """Seconds since the last sign of use, from the workspace's and the proxy's records."""
    candidates = []
    if jupyter_last_activity:
        stamp = datetime.fromisoformat(jupyter_last_activity.replace("Z", "+00:00"))
        candidates.append(now_wall - stamp.timestamp())
    if proxy_idle is not None:
        candidates.append(proxy_idle)
    return max(0.0, min(candidates)) if candidates else float("inf")


class IdleCuller(LoggingConfigurable):
    """Periodically stops the owner's idle workspaces."""

    idle_timeout = Float(
        0.0,
        help="""Stop a workspace after this many seconds without proxied traffic or kernel
        activity, freeing its GPUs (volumes are kept; 'start' brings it back). 0 (the
        default) never stops workspaces. Example: 7200 (two hours).""",
    ).tag(config=True)

    cull_interval = Float(
        60.0,
        help="How often, in seconds, to look for idle workspaces. Default: 60.",
    ).tag(config=True)

    manager = Instance(WorkspaceManager)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._task: asyncio.Task | None = None

    def start(self, *, owner: str | None) -> None:
        """Cull ``owner``'s workspaces (None: everyone's, as the broker does)."""
        if self.idle_timeout > 0 and self._task is None:
            self._task = asyncio.create_task(self._run(owner))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])  # a stop it is making finishes or is cancelled
            self._task = None

    async def _run(self, owner: str | None) -> None:
        while True:
            await asyncio.sleep(self.cull_interval)
            try:
                await self.cull(owner=owner)
            except Exception:  # keep culling on the next round; the failure is logged
                self.log.exception("idle culling failed")

    async def cull(self, *, owner: str | None) -> list[str]:
        """Stop the owner's (None: every owner's) running workspaces that are idle now; their ids."""
        culled = []
        client = AsyncHTTPClient()
        for workspace in await self.manager.list(owner=owner):
            if workspace.status is not Status.RUNNING:
                continue
            try:
                upstream = await self.manager.connection(owner=workspace.owner, workspace_id=workspace.id)
            except LauncherError as e:  # stopped or gone meanwhile: leave it be
                self.log.debug("cannot read activity of %s: %s", workspace.id, e)
                continue
            status = await jupyter_status(client, upstream, timeout=5)
            if status is None:  # unreachable: leave it be
                self.log.debug("cannot read activity of %s: its Jupyter did not answer", workspace.id)
                continue
            idle = idle_seconds(
                now_wall=time.time(),
                jupyter_last_activity=status.get("last_activity"),
                proxy_idle=self.manager.proxy_idle_seconds(workspace.id),
            )
            if idle > self.idle_timeout and not status.get("connections"):
                self.log.info("stopping idle workspace %s (%s): idle %.0f s", workspace.id, workspace.name, idle)
                await self.manager.stop(owner=workspace.owner, workspace_id=workspace.id)
                culled.append(workspace.id)
        return culled
