"""What a container needs to see its GPUs: NVIDIA device-request ids, AMD device nodes and the
host groups ROCm needs. Pure except :func:`render_group_ids`, which reads the host's groups."""

from __future__ import annotations

import contextlib
import grp
from collections.abc import Sequence

from workspace_launcher.gpus.model import Gpu


def nvidia_device_ids(gpus: Sequence[Gpu]) -> list[str]:
    """Device ids for an NVIDIA ``DeviceRequest``: uuids, stable unlike indexes."""
    return [g.uuid for g in gpus if g.vendor == "nvidia"]


def amd_devices(gpus: Sequence[Gpu]) -> list[str]:
    """Docker ``devices`` entries for AMD GPUs: ``/dev/kfd`` plus each GPU's render node(s)."""
    amd = [g for g in gpus if g.vendor == "amd"]
    if not amd:
        return []
    return ["/dev/kfd:/dev/kfd:rwm"] + [f"{p}:{p}:rwm" for g in amd for p in g.device_paths]


def render_group_ids() -> list[int]:
    """Gids of this host's "render" and "video" groups (those that exist): ROCm needs them."""
    gids = []
    for name in ("render", "video"):
        with contextlib.suppress(KeyError):
            gids.append(grp.getgrnam(name).gr_gid)
    return gids
