"""A GPU of this host, a launch's GPU request, and who holds which GPU: the domain's data.

Pure: no imports from the rest of the launcher.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

VENDORS = ("nvidia", "amd")

#: GPU uuid -> ids of the workspaces holding it (one id per holder; a bare string is one holder).
Taken = Mapping[str, str | Sequence[str]]


@dataclass(frozen=True)
class Gpu:
    """One GPU of this host."""

    index: int
    uuid: str
    name: str
    memory_mib: int
    vendor: str  # "nvidia" | "amd"
    #: AMD only: the /dev/dri/renderD* node(s) a container needs to use this GPU.
    device_paths: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {**asdict(self), "device_paths": list(self.device_paths)}


@dataclass(frozen=True)
class GpuRequest:
    """What a launch asked for: no GPU, N of them, all of them, or these uuids."""

    kind: str  # "none" | "count" | "all" | "ids"
    count: int = 0
    ids: tuple[str, ...] = ()


def holders(taken: Taken, uuid: str) -> list[str]:
    """The ids of the workspaces holding the GPU ``uuid`` (none: ``[]``)."""
    held = taken.get(uuid) or ()
    return [held] if isinstance(held, str) else list(held)
