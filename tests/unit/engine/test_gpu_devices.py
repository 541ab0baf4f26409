"""What a container needs to see its GPUs (``engine/gpu_devices.py``): NVIDIA device ids, AMD
device nodes, the render groups."""

from __future__ import annotations

from tests.unit.gpus.fakes import FOUR, MIXED, UUIDS
from workspace_launcher.engine.gpu_devices import amd_devices, nvidia_device_ids, render_group_ids


def test_container_helpers() -> None:
    assert nvidia_device_ids(FOUR[:2]) == UUIDS[:2]
    assert nvidia_device_ids(MIXED) == ["GPU-n0", "GPU-n1"]
    assert amd_devices(FOUR) == []
    assert amd_devices(MIXED) == [
        "/dev/kfd:/dev/kfd:rwm",
        "/dev/dri/renderD128:/dev/dri/renderD128:rwm",
        "/dev/dri/renderD129:/dev/dri/renderD129:rwm",
    ]
    assert all(isinstance(gid, int) for gid in render_group_ids())
