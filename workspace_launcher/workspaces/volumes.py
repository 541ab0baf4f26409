"""The volumes of workspaces: each workspace's own work volume, and each owner's model volume.

The model volume holds every model an owner ever trained, so nothing here removes it as a side
effect: a launch only makes it, a delete never touches it, and only :meth:`remove_model` (an
explicit admin action naming the owner) deletes it, refused while the owner has workspaces.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from workspace_launcher.engine import spec as specs
from workspace_launcher.engine.protocol import WorkspaceEngine
from workspace_launcher.errors import Conflict, EngineRefused, NotFound
from workspace_launcher.workspaces.launch_request import LaunchRequest
from workspace_launcher.workspaces.model import Workspace
from workspace_launcher.workspaces.validation import owner_slug

#: Tries to remove a purged work volume: the workspace's container may still be going away.
PURGE_ATTEMPTS = 3


def model_volume_of(owner: str) -> str:
    return specs.model_volume_name(owner_slug(owner))


class WorkspaceVolumes:
    """Makes and removes the volumes of workspaces on one engine."""

    def __init__(self, backend: WorkspaceEngine, log: logging.Logger) -> None:
        self.backend = backend
        self.log = log

    async def ensure_for(self, request: LaunchRequest) -> list[str]:
        """The owner's model volume (made if missing, never removed by a launch: it is the
        owner's, not the launch's) and this workspace's work volume; returns the work volume
        when this call made it, for a failed launch to remove."""
        base = {specs.label("owner"): request.owner}
        await self.backend.ensure_volume(model_volume_of(request.owner), {**base, specs.label("role"): "models"})
        work = specs.work_volume_name(request.workspace_id)
        labels = {**base, specs.label("role"): "work", specs.MANAGED_LABEL: request.workspace_id}
        return [work] if await self.backend.ensure_volume(work, labels) else []

    async def remove(self, names: Iterable[str]) -> None:
        """Remove what a failed launch made; a volume another workspace mounts is kept."""
        for name in names:
            try:
                await self.backend.remove_volume(name)
            except EngineRefused as e:
                self.log.warning("kept volume %s: %s", name, e)

    async def purge_work(self, workspace_id: str) -> list[str]:
        """Remove a deleted workspace's work volume; returns it when it was removed."""
        name = specs.work_volume_name(workspace_id)
        for attempt in range(PURGE_ATTEMPTS):
            try:
                return [name] if await self.backend.remove_volume(name) else []
            except EngineRefused as e:  # mounted by another container (a backup job, one started by hand): kept
                if attempt == PURGE_ATTEMPTS - 1:
                    self.log.info("kept volume %s, still in use: %s", name, e)
                    return []
                await asyncio.sleep(0.5)  # or by this workspace's container, its removal just finishing
        return []

    async def model_volumes(self, workspaces: Iterable[Workspace]) -> list[dict]:
        """Every owner's model volume: name, owner, created, and the workspaces that mount it."""
        volumes = await self.backend.list_volumes({specs.label("role"): "models"})
        users: dict[str, list[str]] = {}
        for workspace in workspaces:
            users.setdefault(model_volume_of(workspace.owner), []).append(workspace.id)
        return sorted(
            (
                {"name": v.name, "owner": v.labels.get(specs.label("owner"), ""),
                 "created": v.created, "workspaces": users.get(v.name, [])}
                for v in volumes
            ),
            key=lambda v: v["owner"],
        )

    async def remove_model(self, owner: str, remaining: list[Workspace]) -> str:
        """Delete the owner's model volume, refused while any of ``remaining`` (the owner's
        workspaces: running, stopped or launching) exists."""
        name = model_volume_of(owner)
        if remaining:
            names = ", ".join(f"{w.name} ({w.id}, {w.status.value})" for w in remaining)
            raise Conflict(f"{owner} still has workspaces that mount {name}: {names}; delete them first", field="owner")
        try:
            removed = await self.backend.remove_volume(name)
        except EngineRefused as e:  # mounted by a container outside the launcher
            raise Conflict(f"volume {name} is in use outside the launcher: {e}") from e
        if not removed:
            raise NotFound(f"{owner} has no model volume ({name})", field="owner")
        return name
