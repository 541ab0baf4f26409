"""This host's GPUs as the launcher sees them: declared by the admin, or discovered and cached."""

from __future__ import annotations

import time

from traitlets import Dict, Float, List, validate
from traitlets.config import LoggingConfigurable

from workspace_launcher.errors import ConfigError
from workspace_launcher.gpus import discovery
from workspace_launcher.gpus.model import VENDORS, Gpu

_DECLARED_EXAMPLE = "{'index': 0, 'uuid': 'GPU-...', 'name': 'NVIDIA H100', 'memory_mib': 81559, 'vendor': 'nvidia'}"
_DECLARED_CHECKS = (  # key, default, is valid, what a valid value looks like
    ("index", None, lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, f"an int >= 0, e.g. {_DECLARED_EXAMPLE}"),
    ("uuid", None, lambda v: isinstance(v, str) and v.strip(), "the GPU's uuid as 'nvidia-smi -L' shows it"),
    ("name", "GPU", lambda v: isinstance(v, str), "a display name, e.g. 'NVIDIA H100 80GB HBM3'"),
    ("memory_mib", 0, lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "an int >= 0 (MiB), e.g. 81559"),
    ("vendor", "nvidia", lambda v: v in VENDORS, f"one of {', '.join(VENDORS)}"),
    ("device_paths", (), lambda v: isinstance(v, (list, tuple)) and all(isinstance(p, str) and p for p in v),
     "a list of paths, e.g. ['/dev/dri/renderD128']"),
)


def _gpu_from_config(item: dict, position: int) -> Gpu:
    where = f"GpuInventory.declared_gpus[{position}]"
    unknown = sorted(set(item) - {key for key, *_ in _DECLARED_CHECKS})
    if unknown:
        raise ConfigError(f"{where} has unknown keys {unknown}; allowed: {', '.join(k for k, *_ in _DECLARED_CHECKS)}")
    values = {}
    for key, default, ok, looks_like in _DECLARED_CHECKS:
        values[key] = item.get(key, default)
        if not ok(values[key]):
            raise ConfigError(f"{where}: {key!r} must be {looks_like}, not {values[key]!r}")
    if values["vendor"] == "amd" and not values["device_paths"]:
        raise ConfigError(f"{where}: an AMD GPU needs 'device_paths', its render node(s), e.g. ['/dev/dri/renderD128']")
    values["uuid"], values["device_paths"] = values["uuid"].strip(), tuple(values["device_paths"])
    return Gpu(**values)


class GpuInventory(LoggingConfigurable):
    """This host's GPUs, declared by the admin or discovered (and cached)."""

    declared_gpus = List(
        Dict(),
        default_value=[],
        help="""Declare the host's GPUs instead of discovering them: for hosts where the server
        cannot load NVML or run nvidia-smi, and for tests. Each item is a dict with index, uuid,
        name, memory_mib (MiB), vendor ('nvidia', the default, or 'amd') and, for AMD GPUs,
        device_paths (the GPU's /dev/dri/renderD* node). Default: [] (discover). Example:
        c.GpuInventory.declared_gpus = [{"index": 0, "uuid": "GPU-5d2c6e1a-...",
        "name": "NVIDIA H100 80GB HBM3", "memory_mib": 81559, "vendor": "nvidia"}]""",
    ).tag(config=True)

    cache_seconds = Float(
        30.0,
        help="""How long, in seconds, a discovery result is reused before the GPUs are listed
        again (NVML start-up takes a moment, and GPUs rarely come and go). Default: 30.
        Example: c.GpuInventory.cache_seconds = 300""",
    ).tag(config=True)

    @validate("declared_gpus")
    def _check_declared(self, proposal: dict) -> list[dict]:
        gpus = [_gpu_from_config(item, i) for i, item in enumerate(proposal["value"])]
        for attr in ("index", "uuid"):
            values = [getattr(g, attr) for g in gpus]
            dupes = sorted({str(v) for v in values if values.count(v) > 1})
            if dupes:
                raise ConfigError(f"GpuInventory.declared_gpus: {attr} {', '.join(dupes)} is declared twice; "
                                  f"each GPU needs its own {attr}")
        return proposal["value"]

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._cached: tuple[float, list[Gpu], str] | None = None

    def gpus(self) -> list[Gpu]:
        """The host's GPUs, lowest index first. Discovery may block for a moment (NVML, nvidia-smi)."""
        if self.declared_gpus:
            return sorted((_gpu_from_config(g, i) for i, g in enumerate(self.declared_gpus)),
                          key=lambda g: g.index)
        now = time.monotonic()
        if self._cached is None or now - self._cached[0] >= self.cache_seconds:
            found, source = discovery.discover_gpus_with_source()
            self._cached = (now, found, source)
        return list(self._cached[1])

    @property
    def source(self) -> str:
        """Where :meth:`gpus` got its answer: "declared", "nvml", "nvidia-smi", "rocm" or "none"."""
        if self.declared_gpus:
            return "declared"
        if self._cached is None:
            self.gpus()
        assert self._cached is not None
        return self._cached[2]

    def refresh(self) -> None:
        """Forget the cached discovery, so the next :meth:`gpus` lists the GPUs again."""
        self._cached = None
