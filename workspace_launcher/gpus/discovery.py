"""Finding this host's GPUs: NVML, then nvidia-smi, then ROCm's device nodes."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import subprocess
from pathlib import Path

from workspace_launcher.gpus.model import Gpu

log = logging.getLogger(__name__)

_AMD_PCI_VENDOR = "0x1002"
_NVIDIA_SMI_QUERY = "index,uuid,name,memory.total"


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def discover_nvml() -> list[Gpu] | None:
    """NVIDIA GPUs through NVML; ``None`` when nvidia-ml-py, libnvidia-ml or the driver is missing."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as e:
        log.debug("NVML unavailable: %s", e)
        return None
    try:
        gpus = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            uuid, name = _text(pynvml.nvmlDeviceGetUUID(handle)), _text(pynvml.nvmlDeviceGetName(handle))
            gpus.append(Gpu(index, uuid, name, int(memory.total) // 2**20, "nvidia"))
        return gpus
    except pynvml.NVMLError as e:
        log.warning("NVML failed while listing GPUs: %s", e)
        return None
    finally:
        with contextlib.suppress(pynvml.NVMLError):
            pynvml.nvmlShutdown()


def parse_nvidia_smi_csv(text: str) -> list[Gpu]:
    """GPUs from ``nvidia-smi --query-gpu=index,uuid,name,memory.total --format=csv,noheader,nounits``."""
    gpus = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 4 or not parts[0].isdigit():
            log.warning("ignoring unexpected nvidia-smi line %r", line)
            continue
        memory = int(parts[-1]) if parts[-1].isdigit() else 0  # "[N/A]" on some boards
        gpus.append(Gpu(int(parts[0]), parts[1], ", ".join(parts[2:-1]), memory, "nvidia"))
    return gpus


def discover_nvidia_smi(timeout: float = 10.0) -> list[Gpu] | None:
    """NVIDIA GPUs by running ``nvidia-smi``; ``None`` when it is missing, fails or hangs."""
    binary = shutil.which("nvidia-smi")
    if binary is None:
        return None
    command = [binary, f"--query-gpu={_NVIDIA_SMI_QUERY}", "--format=csv,noheader,nounits"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        log.warning("nvidia-smi did not answer: %s", e)
        return None
    if result.returncode != 0:
        log.warning("nvidia-smi failed (exit %s): %s", result.returncode, result.stderr.strip())
        return None
    return parse_nvidia_smi_csv(result.stdout)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def discover_rocm(dev_dir: str = "/dev", sys_dir: str = "/sys") -> list[Gpu]:
    """AMD GPUs: each ``/dev/dri/renderD*`` node of PCI vendor 0x1002, if ``/dev/kfd`` exists."""
    if not os.path.exists(os.path.join(dev_dir, "kfd")):
        return []
    nodes = sorted(
        Path(dev_dir, "dri").glob("renderD*"),
        key=lambda p: int(re.sub(r"\D", "", p.name) or 0),
    )
    gpus = []
    for node in nodes:
        device = Path(sys_dir, "class", "drm", node.name, "device")
        if (_read(device / "vendor") or "").lower() != _AMD_PCI_VENDOR:
            continue
        vram = _read(device / "mem_info_vram_total") or ""
        uuid = _read(device / "unique_id") or f"amd-{node.name}"
        name = _read(device / "product_name") or "AMD GPU"
        memory = int(vram) // 2**20 if vram.isdigit() else 0
        gpus.append(Gpu(len(gpus), uuid, name, memory, "amd", (str(node),)))
    return gpus


def discover_gpus_with_source() -> tuple[list[Gpu], str]:
    """This host's GPUs and which source found them: "nvml", "nvidia-smi", "rocm" or "none"."""
    for source, discover in (("nvml", discover_nvml), ("nvidia-smi", discover_nvidia_smi), ("rocm", discover_rocm)):
        found = discover()
        if found:
            log.info("found %d GPU(s) through %s", len(found), source)
            return found, source
    log.info("found no GPUs (no NVML, nvidia-smi or ROCm device)")
    return [], "none"


def discover_gpus() -> list[Gpu]:
    """NVML, then nvidia-smi, then ROCm; ``[]`` when none of them finds a GPU."""
    return discover_gpus_with_source()[0]
