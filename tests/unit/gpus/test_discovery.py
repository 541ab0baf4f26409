"""Finding this host's GPUs (``gpus/discovery.py``): nvidia-smi's CSV, NVML and ROCm's sysfs,
each through a fake (a script on PATH, a stand-in pynvml, a made-up /dev and /sys)."""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import pytest

from workspace_launcher.gpus.discovery import (
    discover_nvidia_smi,
    discover_nvml,
    discover_rocm,
    parse_nvidia_smi_csv,
)
from workspace_launcher.gpus.model import Gpu

# -- discovery --------------------------------------------------------------------------------
NVIDIA_SMI_OUTPUT = """\
0, GPU-5d2c6e1a-1111-2222-3333-444444444444, NVIDIA H100 80GB HBM3, 81559
1, GPU-6e3d7f2b-1111-2222-3333-444444444444, NVIDIA H100 80GB HBM3, 81559

2, GPU-7f4e8a3c-1111-2222-3333-444444444444, Tesla T4, [N/A]
"""


def test_parse_nvidia_smi_csv() -> None:
    found = parse_nvidia_smi_csv(NVIDIA_SMI_OUTPUT)
    assert found[0] == Gpu(0, "GPU-5d2c6e1a-1111-2222-3333-444444444444", "NVIDIA H100 80GB HBM3", 81559, "nvidia")
    assert [g.index for g in found] == [0, 1, 2]
    assert found[2].name == "Tesla T4" and found[2].memory_mib == 0
    assert parse_nvidia_smi_csv("") == []
    assert parse_nvidia_smi_csv("No devices were found\n") == []


def test_discover_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    system_path = os.environ.get("PATH", os.defpath)
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert discover_nvidia_smi() is None  # no binary
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{system_path}")  # the fake shadows a real one
    fake = tmp_path / "nvidia-smi"
    fake.write_text(f"#!/bin/sh\ncat <<'EOF'\n{NVIDIA_SMI_OUTPUT}EOF\n")
    fake.chmod(0o755)
    assert [g.name for g in discover_nvidia_smi() or []] == ["NVIDIA H100 80GB HBM3"] * 2 + ["Tesla T4"]
    fake.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    assert discover_nvidia_smi() is None
    fake.write_text("#!/bin/sh\nexec sleep 5\n")
    assert discover_nvidia_smi(timeout=0.2) is None


class _FakeNvmlError(Exception):
    pass


def _fake_pynvml(calls: list[str], *, init_fails: bool = False) -> types.ModuleType:
    m = types.ModuleType("pynvml")
    m.NVMLError = _FakeNvmlError  # type: ignore[attr-defined]

    def init() -> None:
        calls.append("init")
        if init_fails:
            raise _FakeNvmlError("NVML Shared Library Not Found")

    m.nvmlInit = init  # type: ignore[attr-defined]
    m.nvmlShutdown = lambda: calls.append("shutdown")  # type: ignore[attr-defined]
    m.nvmlDeviceGetCount = lambda: 2  # type: ignore[attr-defined]
    m.nvmlDeviceGetHandleByIndex = lambda i: i  # type: ignore[attr-defined]
    m.nvmlDeviceGetName = lambda h: b"NVIDIA A100-SXM4-40GB" if h else "NVIDIA H100 80GB HBM3"  # type: ignore[attr-defined]
    m.nvmlDeviceGetUUID = lambda h: f"GPU-{h}"  # type: ignore[attr-defined]
    m.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(total=(h + 1) * 2**30)  # type: ignore[attr-defined]
    return m


def test_discover_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setitem(sys.modules, "pynvml", _fake_pynvml(calls))
    assert discover_nvml() == [
        Gpu(0, "GPU-0", "NVIDIA H100 80GB HBM3", 1024, "nvidia"),
        Gpu(1, "GPU-1", "NVIDIA A100-SXM4-40GB", 2048, "nvidia"),
    ]
    assert calls == ["init", "shutdown"]
    calls.clear()
    monkeypatch.setitem(sys.modules, "pynvml", _fake_pynvml(calls, init_fails=True))
    assert discover_nvml() is None
    monkeypatch.setitem(sys.modules, "pynvml", None)  # nvidia-ml-py not installed
    assert discover_nvml() is None


def _fake_drm(root: Path, node: str, files: dict[str, str]) -> None:
    (root / "dev" / "dri" / node).touch()
    device = root / "sys" / "class" / "drm" / node / "device"
    device.mkdir(parents=True)
    for name, content in files.items():
        (device / name).write_text(content + "\n")


def test_discover_rocm(tmp_path: Path) -> None:
    (tmp_path / "dev" / "dri").mkdir(parents=True)
    (tmp_path / "dev" / "dri" / "card0").touch()
    _fake_drm(tmp_path, "renderD129", {"vendor": "0x1002"})
    _fake_drm(tmp_path, "renderD128", {
        "vendor": "0x1002", "product_name": "AMD Instinct MI210",
        "unique_id": "5f8a1c2d3e4b5a69", "mem_info_vram_total": str(64 * 2**30),
    })
    _fake_drm(tmp_path, "renderD130", {"vendor": "0x10de"})  # an NVIDIA card's render node
    dev, sys_dir = str(tmp_path / "dev"), str(tmp_path / "sys")
    assert discover_rocm(dev, sys_dir) == []  # no /dev/kfd: no ROCm
    (tmp_path / "dev" / "kfd").touch()
    assert discover_rocm(dev, sys_dir) == [
        Gpu(0, "5f8a1c2d3e4b5a69", "AMD Instinct MI210", 65536, "amd", (f"{dev}/dri/renderD128",)),
        Gpu(1, "amd-renderD129", "AMD GPU", 0, "amd", (f"{dev}/dri/renderD129",)),
    ]
