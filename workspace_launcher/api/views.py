"""What the REST API shows: workspaces, profiles and GPUs as JSON-ready dicts (openapi.json's
Workspace, Profile and GpuInventory)."""

from __future__ import annotations

from workspace_launcher.gpus.choices import gpu_choices
from workspace_launcher.images.pinning import pinned_digest
from workspace_launcher.proxy.origins import open_url
from workspace_launcher.workspaces.manager import WorkspaceManager
from workspace_launcher.workspaces.model import Workspace


def workspace_view(workspace: Workspace, *, base_url: str) -> dict:
    """A workspace as the API shows it: no container ids or prefixes; ``url`` opens it in a
    browser, through the host's handshake (on the demo notebook when the launch asked for it)."""
    data = workspace.to_dict()
    data.pop("container_id", None)
    data.pop("base_url", None)
    demo = data.pop("demo_notebook")
    data["url"] = open_url(base_url, workspace.id, f"lab/tree/{demo}" if demo else "")
    return data


async def profiles_view(manager: WorkspaceManager) -> list[dict]:
    """Profiles with the image a launch would use now and whether it is already built."""
    described = []
    lock = manager.builder.lock()
    for profile in manager.profiles.all().values():
        built = await manager.builder.find(profile)
        estimate = None if built else await manager.builder.build_estimate(profile, image_missing=True)
        described.append({
            **profile.to_dict(),
            "image": built.tag if built else None,
            "pinned_digest": pinned_digest(profile, manager.builder, lock),
            "built": built is not None,
            "build_estimate": estimate.to_dict() if estimate else None,
        })
    return described


async def gpus_view(manager: WorkspaceManager, *, owner: str) -> dict:
    """The inventory, who holds each GPU (names only for the owner's own), the policy, and the
    owner's choices under it now (:func:`gpu_choices`: what the launch dialog and the notebook
    widget show, so neither computes the policy itself)."""
    held, names = await manager.gpu_holders(owner=owner)
    inventory = manager.inventory.gpus()
    allocator = manager.allocator
    choices = gpu_choices(
        inventory, held, names, allow_sharing=allocator.allow_sharing,
        max_per_workspace=allocator.max_gpus_per_workspace, max_per_owner=allocator.max_gpus_per_owner,
    )
    gpus = []
    for gpu in inventory:
        holders = [{"id": i, "name": names.get(i), "mine": i in names} for i in held.get(gpu.uuid, [])]
        gpus.append({
            **gpu.to_dict(),
            "held_by": holders,
            "status": choices.status[gpu.uuid],
            "pick_reasons": {key: c.pick_reasons[gpu.uuid] for key, c in choices.by_key.items()},
        })
    policy = {
        "allow_sharing": allocator.allow_sharing,
        "max_gpus_per_workspace": allocator.max_gpus_per_workspace,
        "max_gpus_per_owner": allocator.max_gpus_per_owner,
    }
    return {
        "gpus": gpus,
        "policy": policy,
        "source": manager.inventory.source,
        "owner_holds": choices.owner_holds,
        "max_gpus": {key: c.limit.most for key, c in choices.by_key.items()},
        "max_gpus_reason": {key: c.limit.reason for key, c in choices.by_key.items()},
        "count_reasons": {key: list(c.count_reasons) for key, c in choices.by_key.items()},
        "max_picked": choices.pick_limit.most,
        "max_picked_reason": choices.pick_limit.reason,
    }
