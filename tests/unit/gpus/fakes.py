"""Sample GPUs shared by the GPU unit tests (and the engine's gpu_devices tests): four NVIDIA
H100s, a mixed NVIDIA and AMD host, and the declared form of the four."""

from __future__ import annotations

from workspace_launcher.gpus.model import Gpu

UUIDS = [f"GPU-0000000{i}-aaaa-bbbb-cccc-dddddddddddd" for i in range(4)]
FOUR = [Gpu(i, UUIDS[i], "NVIDIA H100 80GB HBM3", 81559, "nvidia") for i in range(4)]
DECLARED = [g.to_dict() for g in FOUR]
MIXED = [
    Gpu(0, "GPU-n0", "NVIDIA L4", 23034, "nvidia"),
    Gpu(1, "GPU-n1", "NVIDIA L4", 23034, "nvidia"),
    Gpu(2, "amd-a0", "AMD Instinct MI210", 65520, "amd", ("/dev/dri/renderD128",)),
    Gpu(3, "amd-a1", "AMD Instinct MI210", 65520, "amd", ("/dev/dri/renderD129",)),
]


def uuids(selected: list[Gpu]) -> list[str]:
    return [g.uuid for g in selected]
