"""What a test run left on an engine, by owner: checked (and reported) before it is swept away.

Model volumes are not leftovers: the launcher keeps them on purpose (only `models rm` removes
one), so they are swept without complaint. Everything else an owner has at the end — a container
in any state, a work volume, a snapshot image — is a test (or product) that did not clean up.
"""

from __future__ import annotations

import docker

from workspace_launcher.engine import spec as specs

OWNER = specs.label("owner")


def _owned_by(labels: dict | None, prefix: str) -> bool:
    owner = (labels or {}).get(OWNER, "")
    return owner == prefix or owner.startswith(prefix + "-")


def leftovers(client: docker.DockerClient, owner_prefix: str) -> list[str]:
    """Containers, non-model volumes and images of the owner (and of ``<owner>-...`` owners)."""
    found = [f"container {c.name} ({c.status})" for c in client.containers.list(all=True, filters={"label": OWNER})
             if _owned_by(c.labels, owner_prefix)]
    found += [f"volume {v.name}" for v in client.volumes.list(filters={"label": OWNER})
              if _owned_by(v.attrs.get("Labels"), owner_prefix) and (v.attrs.get("Labels") or {}).get(specs.label("role")) != "models"]
    found += [f"image {', '.join(i.tags) or i.short_id}" for i in client.images.list(filters={"label": OWNER})
              if _owned_by(i.labels, owner_prefix)]
    return found


def sweep(client: docker.DockerClient, owner_prefix: str) -> None:
    """Remove everything of the owner(s), model volumes included."""
    for container in client.containers.list(all=True, filters={"label": OWNER}):
        if _owned_by(container.labels, owner_prefix):
            container.remove(force=True)
    for volume in client.volumes.list(filters={"label": OWNER}):
        if _owned_by(volume.attrs.get("Labels"), owner_prefix):
            volume.remove(force=True)
    for image in client.images.list(filters={"label": OWNER}):
        if _owned_by(image.labels, owner_prefix):
            client.images.remove(image.id, force=True)


def check_and_sweep(client: docker.DockerClient, owner_prefix: str) -> list[str]:
    """Leftovers first (what the caller asserts on), then the sweep, whatever was found."""
    found = leftovers(client, owner_prefix)
    sweep(client, owner_prefix)
    return found
