"""Snapshots: a workspace's container (not its volumes) committed as an image its owner can
launch again. A snapshot holds its owner's home, so only its owner ever sees or launches it.
"""

from __future__ import annotations

import re
from datetime import datetime

from workspace_launcher.engine import spec as specs
from workspace_launcher.engine.objects import Container
from workspace_launcher.engine.protocol import WorkspaceEngine
from workspace_launcher.errors import InvalidRequest, NotFound
from workspace_launcher.workspaces.model import Workspace
from workspace_launcher.workspaces.validation import owner_slug

SNAPSHOT_REPOSITORY = "workspace-launcher/snapshot"
_TAG_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,127}$")


def snapshot_tag(workspace_name: str, tag: object, now: datetime) -> str:
    """The tag asked for, or one made of the workspace's name and the time; InvalidRequest
    names what a valid tag is."""
    tag = tag or f"{workspace_name}-{now:%Y%m%d%H%M%S}"
    if not isinstance(tag, str) or not _TAG_RE.fullmatch(tag):
        raise InvalidRequest(
            f"tag {tag!r} is not valid: use up to 128 lowercase letters, digits, '.', '_' and '-'",
            field="tag",
        )
    return tag


def snapshot_repository(owner: str) -> str:
    return f"{SNAPSHOT_REPOSITORY}-{owner_slug(owner)}"


async def owner_snapshot_labels(backend: WorkspaceEngine, *, owner: str, image: str | None) -> dict[str, str]:
    """The labels of the owner's snapshot ``image``; NotFound for unknown images and others'
    snapshots (those hold another user's home) alike."""
    labels = await backend.image_labels(image) if image else None
    if labels is None or labels.get(specs.label("role")) != "snapshot" or labels.get(specs.label("owner")) != owner:
        raise NotFound(
            f"no snapshot {image!r} of yours; list them with 'workspace-launcher images list'",
            field="snapshot",
        )
    return labels


async def commit_snapshot(backend: WorkspaceEngine, container: Container, workspace: Workspace, *,
                          tag: str, now: datetime) -> str:
    """Commit the container as ``<repository>:<tag>`` (a tag :func:`snapshot_tag` made) and
    return that reference."""
    repository = snapshot_repository(workspace.owner)
    await backend.commit(
        container,
        repository=repository,
        tag=tag,
        labels=specs.snapshot_labels(container.labels, created=now.isoformat(timespec="seconds")),
        message=f"snapshot of workspace {workspace.name} ({workspace.id})",
    )
    return f"{repository}:{tag}"
