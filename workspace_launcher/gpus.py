"""The host's GPUs: what there is (inventory), who may have which (allocation), and the lock that
makes a reservation atomic across every host server sharing one container engine.

Reservations are not stored here: which workspace holds which GPU is read from the engine (the
labels of running and starting containers) inside :meth:`GpuAllocator.reservation_lock`, so a
restarted server, or a second one, sees the same truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
import weakref
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from filelock import FileLock, Timeout
from traitlets import Bool, Dict, Float, Instance, Int, List, Unicode, validate
from traitlets.config import LoggingConfigurable

from .errors import ConfigError, Conflict, InvalidRequest

log = logging.getLogger(__name__)

VENDORS = ("nvidia", "amd")
_AMD_PCI_VENDOR = "0x1002"
_NVIDIA_SMI_QUERY = "index,uuid,name,memory.total"
_GPUS_HELP = (
    "gpus must be a number of GPUs (e.g. 1), 'all', 'none' (or 0), or a list of GPU uuids "
    "(e.g. ['GPU-5d2c6e1a-...']) as listed by 'nvidia-smi -L'"
)

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


def _invalid(detail: str) -> InvalidRequest:
    return InvalidRequest(f"{detail}; {_GPUS_HELP}", field="gpus")


def parse_gpu_request(value: object) -> GpuRequest:
    """A :class:`GpuRequest` from user input.

    Accepted: ``0``/``"0"``/``"none"``/``[]`` (no GPU), a positive int or digit string (that
    many GPUs, whichever are free), ``"all"``, or a list of GPU uuid strings. Lists of indexes
    are refused on purpose: indexes differ between ``nvidia-smi``, CUDA and containers, and
    uuids do not. A :class:`GpuRequest` is returned as is.
    """
    if isinstance(value, GpuRequest):
        return value
    if isinstance(value, bool) or value is None:
        raise _invalid(f"gpus {value!r} is not valid")
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("all", "none"):
            return GpuRequest(kind=text)
        if not text.isascii() or not text.isdigit():
            raise _invalid(f"gpus {value!r} is not valid")
        value = int(text)
    if isinstance(value, int):
        if value < 0:
            raise _invalid(f"gpus {value} is negative")
        return GpuRequest(kind="count", count=value) if value else GpuRequest(kind="none")
    if isinstance(value, (list, tuple)):
        ids: list[str] = []
        for item in value:
            if not isinstance(item, str) or not item.strip():
                raise _invalid(f"gpus list item {item!r} is not a GPU uuid")
            if item.strip() in ids:
                raise _invalid(f"GPU {item.strip()!r} is listed twice")
            ids.append(item.strip())
        return GpuRequest(kind="ids", ids=tuple(ids)) if ids else GpuRequest(kind="none")
    raise _invalid(f"gpus {value!r} (a {type(value).__name__}) is not valid")


def _holders(taken: Taken, uuid: str) -> list[str]:
    held = taken.get(uuid) or ()
    return [held] if isinstance(held, str) else list(held)


def _gpus_word(n: int) -> str:
    return f"{n} GPU" if n == 1 else f"{n} GPUs"


def select_gpus(
    inventory: Sequence[Gpu],
    request: GpuRequest,
    taken: Taken,
    *,
    allow_sharing: bool = False,
    max_per_workspace: int | None = None,
    vendor: str | None = None,
    max_per_owner: int | None = None,
    owner_holds: int = 0,
) -> list[Gpu]:
    """The GPUs to give a new workspace, lowest index first. Pure.

    ``taken`` maps a GPU uuid to the ids of the workspaces holding it. With ``allow_sharing``
    held GPUs stay eligible and a count request gets the least-used ones. ``vendor`` limits the
    choice to that vendor's GPUs (a profile built for ROCm cannot use CUDA GPUs). Limits of
    ``None`` or 0 mean none; ``owner_holds`` is how many GPUs the requesting user already holds.

    Raises :class:`InvalidRequest` for a request this host or policy can never satisfy and
    :class:`Conflict` for one that fails only because of what others hold now.
    """
    if request.kind == "none":
        return []
    if vendor is not None and vendor not in VENDORS:
        raise ConfigError(f"GPU vendor {vendor!r} is unknown; use one of {', '.join(VENDORS)}")
    eligible = sorted((g for g in inventory if vendor in (None, g.vendor)), key=lambda g: g.index)
    what = f"{vendor.upper() if vendor == 'amd' else vendor.capitalize()} GPUs" if vendor else "GPUs"

    if request.kind == "ids":
        by_uuid = {g.uuid: g for g in inventory}
        for uuid in request.ids:
            if uuid not in by_uuid:
                known = ", ".join(g.uuid for g in eligible) or "none"
                raise InvalidRequest(f"this host has no GPU {uuid!r}; its {what} are: {known}", field="gpus")
            if vendor is not None and by_uuid[uuid].vendor != vendor:
                raise InvalidRequest(f"GPU {uuid!r} is {by_uuid[uuid].vendor} but this profile needs {what}; "
                                     "pick another GPU or another profile", field="gpus")
        chosen = [by_uuid[u] for u in request.ids]
    elif not eligible:
        raise InvalidRequest(f"this host has no {what}; launch with gpus=0 or pick a profile for this "
                             "host's GPUs", field="gpus")
    else:
        wanted = len(eligible) if request.kind == "all" else request.count
        if wanted > len(eligible):
            raise InvalidRequest(f"asked for {_gpus_word(wanted)} but this host has {len(eligible)} {what}; "
                                 f"ask for at most {len(eligible)}", field="gpus")
        chosen = eligible[:wanted]

    n = len(chosen)
    for limit, per, trait in ((max_per_workspace, "workspace", "workspace"), (max_per_owner, "user", "owner")):
        if limit and n > limit:
            raise InvalidRequest(f"asked for {_gpus_word(n)} but the policy allows at most {limit} per {per} "
                                 f"(GpuAllocator.max_gpus_per_{trait}); ask for fewer", field="gpus")
    if max_per_owner and owner_holds + n > max_per_owner:
        left = max(max_per_owner - owner_holds, 0)
        raise Conflict(
            f"you already hold {_gpus_word(owner_holds)} and the policy allows at most "
            f"{max_per_owner} per user (GpuAllocator.max_gpus_per_owner); stop a workspace"
            + (f" or ask for at most {left}" if left else " first")
        )
    if allow_sharing:
        if request.kind == "count":  # least used first, then lowest index
            chosen = sorted(eligible, key=lambda g: (len(_holders(taken, g.uuid)), g.index))[:n]
            chosen.sort(key=lambda g: g.index)
        return chosen

    if request.kind == "count":
        free = [g for g in eligible if not _holders(taken, g.uuid)]
        if len(free) >= n:
            return free[:n]
        holders = sorted({h for g in eligible for h in _holders(taken, g.uuid)})
        raise Conflict(
            f"asked for {_gpus_word(n)} but {len(free)} of {len(eligible)} {what} are free; the "
            f"others are held by workspaces {', '.join(holders)}; stop one of them or ask for fewer"
        )
    busy = [(g, _holders(taken, g.uuid)) for g in chosen if _holders(taken, g.uuid)]
    if busy:
        detail = "; ".join(f"GPU {g.index} ({g.uuid}) by workspace {', '.join(h)}" for g, h in busy)
        raise Conflict(f"GPUs already in use: {detail}; stop those workspaces or ask for free GPUs")
    return chosen


# -- discovery ------------------------------------------------------------------------------
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
            found, source = discover_gpus_with_source()
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


class GpuAllocator(LoggingConfigurable):
    """Who may have which GPU, and the lock that makes read-holders-then-create atomic."""

    inventory = Instance(GpuInventory)

    allow_sharing = Bool(
        False,
        help="""Let several workspaces share one GPU. Off by default: each GPU goes to one
        workspace at a time, and a launch asking for a held GPU is refused. When on, a request
        for N GPUs gets the N least-used ones. Example: c.GpuAllocator.allow_sharing = True""",
    ).tag(config=True)

    max_gpus_per_workspace = Int(
        0,
        help="""The most GPUs one workspace may have. Default: 0, no limit.
        Example: c.GpuAllocator.max_gpus_per_workspace = 2""",
    ).tag(config=True)

    max_gpus_per_owner = Int(
        0,
        help="""The most GPUs one user may hold at once, summed over their running workspaces.
        Default: 0, no limit. Example: c.GpuAllocator.max_gpus_per_owner = 4""",
    ).tag(config=True)

    lock_path = Unicode(
        os.path.join(tempfile.gettempdir(), "workspace-launcher", "gpus.lock"),
        help="""The lock file that makes GPU reservations atomic between host servers. All host
        servers sharing one container engine must use the same path, on a local file system,
        and every account running one must be able to write it (the launcher creates it, and its
        directory, world-writable where permitted). Default: <tmp>/workspace-launcher/gpus.lock
        (not directly in /tmp: its sticky bit keeps other accounts from locking a file one
        account created). Example: c.GpuAllocator.lock_path = "/run/workspace-launcher/gpus.lock\"""",
    ).tag(config=True)

    lock_timeout = Float(
        60.0,
        help="""How long, in seconds, a launch waits for another launch's GPU reservation
        before giving up with a 409. Default: 60. Example: c.GpuAllocator.lock_timeout = 120""",
    ).tag(config=True)

    @validate("max_gpus_per_workspace", "max_gpus_per_owner")
    def _check_limit(self, proposal: dict) -> int:
        if proposal["value"] < 0:
            raise ConfigError(f"GpuAllocator.{proposal['trait'].name} must be >= 0 (0 means no limit)")
        return proposal["value"]

    def __init__(self, *, inventory: GpuInventory, **kwargs: object) -> None:
        super().__init__(inventory=inventory, **kwargs)
        # One asyncio.Lock per event loop: a lock is bound to the loop it is first used in.
        self._loop_locks: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._file_lock: FileLock | None = None

    def select(self, request: GpuRequest | object, taken: Taken, *, vendor: str | None = None,
               owner_holds: int = 0) -> list[Gpu]:
        """The GPUs to give a new workspace under this allocator's policy; see :func:`select_gpus`."""
        return select_gpus(
            self.inventory.gpus(), parse_gpu_request(request), taken, allow_sharing=self.allow_sharing,
            max_per_workspace=self.max_gpus_per_workspace or None, vendor=vendor,
            max_per_owner=self.max_gpus_per_owner or None, owner_holds=owner_holds,
        )

    def _get_file_lock(self) -> FileLock:
        path = os.path.abspath(self.lock_path)
        if self._file_lock is None or self._file_lock.lock_file != path:
            if not os.path.isdir(os.path.dirname(path)):
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with contextlib.suppress(OSError):  # host servers of several accounts share it
                    os.chmod(os.path.dirname(path), 0o777)  # noqa: S103
            # thread_local=False: the lock is taken and released from whichever thread runs the loop.
            self._file_lock = FileLock(path, mode=0o666, thread_local=False)
        return self._file_lock

    @contextlib.asynccontextmanager
    async def reservation_lock(self) -> AsyncIterator[None]:
        """Hold while reading the GPUs' holders and creating the container that takes some.

        An asyncio lock serialises this process's coroutines; a file lock (flock) on
        :attr:`lock_path` serialises host servers. Never blocks the event loop.
        """
        loop = asyncio.get_running_loop()
        local = self._loop_locks.setdefault(loop, asyncio.Lock())
        async with local:
            deadline = loop.time() + self.lock_timeout
            while True:
                try:
                    file_lock = self._get_file_lock()
                    file_lock.acquire(blocking=False)
                    break
                except Timeout:
                    if loop.time() >= deadline:
                        raise Conflict(f"another launch has held the GPU reservation lock {self.lock_path} "
                                       f"for over {self.lock_timeout:g} s; try again shortly") from None
                    await asyncio.sleep(0.02)
                except OSError as e:  # e.g. a lock file or directory another account made read-only
                    raise ConfigError(f"cannot take the GPU reservation lock {self.lock_path}: {e}; make it "
                                      "writable by every account running a host server (chmod 666) or set "
                                      "GpuAllocator.lock_path") from e
            try:
                yield
            finally:
                file_lock.release()


# -- what a container needs to see its GPUs -------------------------------------------------
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


def busy_gpus(uuids: Sequence[str], taken: Taken) -> dict[str, list[str]]:
    """Which of ``uuids`` are held by some workspace now (uuid -> holders), e.g. to refuse
    restarting a stopped workspace whose GPUs were given to someone else meanwhile."""
    return {uuid: holders for uuid in uuids if (holders := _holders(taken, uuid))}
