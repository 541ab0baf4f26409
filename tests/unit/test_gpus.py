"""GPU requests, selection policy, discovery, and reservations racing through the lock."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import json
import multiprocessing
import os
import stat
import subprocess
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from traitlets import TraitError

from workspace_launcher.engine.gpu_devices import amd_devices, nvidia_device_ids, render_group_ids
from workspace_launcher.errors import ConfigError, Conflict, InvalidRequest
from workspace_launcher.gpus import discovery as gpus_discovery
from workspace_launcher.gpus.allocator import GpuAllocator
from workspace_launcher.gpus.discovery import (
    discover_nvidia_smi,
    discover_nvml,
    discover_rocm,
    parse_nvidia_smi_csv,
)
from workspace_launcher.gpus.inventory import GpuInventory
from workspace_launcher.gpus.model import Gpu, GpuRequest
from workspace_launcher.gpus.request import parse_gpu_request, select_gpus

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


# -- parse_gpu_request ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, GpuRequest("none")),
        ("0", GpuRequest("none")),
        ("none", GpuRequest("none")),
        (" None ", GpuRequest("none")),
        ([], GpuRequest("none")),
        (2, GpuRequest("count", count=2)),
        ("3", GpuRequest("count", count=3)),
        ("all", GpuRequest("all")),
        ("ALL", GpuRequest("all")),
        ([UUIDS[1], UUIDS[0]], GpuRequest("ids", ids=(UUIDS[1], UUIDS[0]))),
        ((UUIDS[2],), GpuRequest("ids", ids=(UUIDS[2],))),
        (GpuRequest("count", count=1), GpuRequest("count", count=1)),
    ],
)
def test_parse_gpu_request_valid(value: object, expected: GpuRequest) -> None:
    assert parse_gpu_request(value) == expected


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (True, "True"),
        (False, "False"),
        (None, "None"),
        (-1, "negative"),
        ("-1", "'-1'"),
        (1.0, "float"),
        (1.5, "float"),
        ("", "''"),
        ("  ", "'  '"),
        ("some", "'some'"),
        ("２", "'２'"),  # a non-ASCII digit
        ([UUIDS[0], UUIDS[0]], "listed twice"),
        ([0, 1], "not a GPU uuid"),
        ([UUIDS[0], ""], "not a GPU uuid"),
        ([UUIDS[0], None], "not a GPU uuid"),
        ({"count": 1}, "dict"),
    ],
)
def test_parse_gpu_request_invalid(value: object, says: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_gpu_request(value)
    assert info.value.field == "gpus"
    assert says in info.value.message
    # Every refusal says what a valid value looks like.
    assert "'all'" in info.value.message and "list of GPU uuids" in info.value.message


# -- select_gpus ------------------------------------------------------------------------------
def test_select_none_and_count_lowest_index_first() -> None:
    assert select_gpus(FOUR, GpuRequest("none"), {}) == []
    assert uuids(select_gpus(FOUR, GpuRequest("count", count=2), {})) == UUIDS[:2]
    taken = {UUIDS[0]: ["ws-a"], UUIDS[2]: "ws-b"}  # a bare string is one holder
    assert uuids(select_gpus(FOUR, GpuRequest("count", count=2), taken)) == [UUIDS[1], UUIDS[3]]
    # An entry with no holders is free.
    assert uuids(select_gpus(FOUR, GpuRequest("count", count=1), {UUIDS[0]: []})) == UUIDS[:1]


def test_select_count_more_than_host_has() -> None:
    with pytest.raises(InvalidRequest, match="asked for 5 GPUs but this host has 4 GPUs") as info:
        select_gpus(FOUR, GpuRequest("count", count=5), {})
    assert info.value.field == "gpus"
    with pytest.raises(InvalidRequest, match="this host has no GPUs; launch with gpus=0"):
        select_gpus([], GpuRequest("count", count=1), {})


def test_select_count_not_enough_free_names_holders() -> None:
    taken = {UUIDS[0]: ["ws-b"], UUIDS[1]: ["ws-a"]}
    with pytest.raises(Conflict) as info:
        select_gpus(FOUR, GpuRequest("count", count=3), taken)
    assert "2 of 4 GPUs are free" in info.value.message
    assert "held by workspaces ws-a, ws-b" in info.value.message
    assert "stop one of them or ask for fewer" in info.value.message


def test_select_all() -> None:
    assert select_gpus(FOUR, GpuRequest("all"), {}) == FOUR
    with pytest.raises(Conflict, match=rf"GPU 2 \({UUIDS[2]}\) by workspace ws-x"):
        select_gpus(FOUR, GpuRequest("all"), {UUIDS[2]: ["ws-x"]})
    assert select_gpus(FOUR, GpuRequest("all"), {UUIDS[2]: ["ws-x"]}, allow_sharing=True) == FOUR


def test_select_ids() -> None:
    assert uuids(select_gpus(FOUR, GpuRequest("ids", ids=(UUIDS[3], UUIDS[1])), {})) == [UUIDS[3], UUIDS[1]]
    with pytest.raises(InvalidRequest) as info:
        select_gpus(FOUR, GpuRequest("ids", ids=("GPU-nope",)), {})
    assert "no GPU 'GPU-nope'" in info.value.message and all(u in info.value.message for u in UUIDS)
    with pytest.raises(Conflict) as conflict:
        select_gpus(FOUR, GpuRequest("ids", ids=(UUIDS[0], UUIDS[1])), {UUIDS[1]: ["ws-holder"]})
    assert "ws-holder" in conflict.value.message and UUIDS[1] in conflict.value.message
    shared = select_gpus(FOUR, GpuRequest("ids", ids=(UUIDS[1],)), {UUIDS[1]: ["w"]}, allow_sharing=True)
    assert uuids(shared) == [UUIDS[1]]


def test_select_sharing_picks_least_used() -> None:
    taken = {UUIDS[0]: ["a", "b"], UUIDS[1]: ["c"], UUIDS[2]: ["d", "e", "f"], UUIDS[3]: ["g"]}
    picked = select_gpus(FOUR, GpuRequest("count", count=2), taken, allow_sharing=True)
    assert uuids(picked) == [UUIDS[1], UUIDS[3]]
    picked = select_gpus(FOUR, GpuRequest("count", count=3), taken, allow_sharing=True)
    assert uuids(picked) == [UUIDS[0], UUIDS[1], UUIDS[3]]
    # Sharing never makes a host bigger than it is.
    with pytest.raises(InvalidRequest, match="this host has 4"):
        select_gpus(FOUR, GpuRequest("count", count=5), taken, allow_sharing=True)


def test_select_policy_limits() -> None:
    with pytest.raises(InvalidRequest, match=r"at most 2 per workspace \(GpuAllocator.max_gpus_per_workspace\)"):
        select_gpus(FOUR, GpuRequest("count", count=3), {}, max_per_workspace=2)
    with pytest.raises(InvalidRequest, match="max_gpus_per_workspace"):
        select_gpus(FOUR, GpuRequest("all"), {}, max_per_workspace=2)
    assert len(select_gpus(FOUR, GpuRequest("count", count=2), {}, max_per_workspace=2)) == 2
    with pytest.raises(InvalidRequest, match=r"at most 2 per user \(GpuAllocator.max_gpus_per_owner\)"):
        select_gpus(FOUR, GpuRequest("count", count=3), {}, max_per_owner=2)
    with pytest.raises(Conflict, match="you already hold 1 GPU .* or ask for at most 1"):
        select_gpus(FOUR, GpuRequest("count", count=2), {}, max_per_owner=2, owner_holds=1)
    with pytest.raises(Conflict, match="stop a workspace first"):
        select_gpus(FOUR, GpuRequest("count", count=1), {}, max_per_owner=2, owner_holds=2)
    assert len(select_gpus(FOUR, GpuRequest("count", count=1), {}, max_per_owner=2, owner_holds=1)) == 1


def test_select_vendor_filter() -> None:
    assert uuids(select_gpus(MIXED, GpuRequest("count", count=1), {}, vendor="amd")) == ["amd-a0"]
    assert uuids(select_gpus(MIXED, GpuRequest("all"), {}, vendor="nvidia")) == ["GPU-n0", "GPU-n1"]
    with pytest.raises(InvalidRequest, match="asked for 3 GPUs but this host has 2 AMD GPUs"):
        select_gpus(MIXED, GpuRequest("count", count=3), {}, vendor="amd")
    with pytest.raises(InvalidRequest, match="GPU 'GPU-n0' is nvidia but this profile needs AMD GPUs"):
        select_gpus(MIXED, GpuRequest("ids", ids=("GPU-n0",)), {}, vendor="amd")
    with pytest.raises(Conflict, match="1 of 2 AMD GPUs are free"):
        select_gpus(MIXED, GpuRequest("count", count=2), {"amd-a1": ["w1"]}, vendor="amd")
    with pytest.raises(InvalidRequest, match="this host has no AMD GPUs"):
        select_gpus(FOUR, GpuRequest("count", count=1), {}, vendor="amd")
    with pytest.raises(ConfigError, match="unknown"):
        select_gpus(FOUR, GpuRequest("count", count=1), {}, vendor="intel")


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


# -- GpuInventory -----------------------------------------------------------------------------
def test_inventory_declared() -> None:
    inventory = GpuInventory(declared_gpus=list(reversed(DECLARED)))
    assert inventory.gpus() == FOUR
    assert inventory.source == "declared"
    amd = {"index": 0, "uuid": "amd-0", "name": "MI300X", "memory_mib": 1, "vendor": "amd",
           "device_paths": ["/dev/dri/renderD128"]}
    assert GpuInventory(declared_gpus=[amd]).gpus()[0].device_paths == ("/dev/dri/renderD128",)


@pytest.mark.parametrize(
    ("item", "says"),
    [
        ({"uuid": "GPU-1"}, "'index' must be an int >= 0"),
        ({"index": True, "uuid": "GPU-1"}, "'index' must be an int >= 0"),
        ({"index": 0}, "'uuid' must be the GPU's uuid"),
        ({"index": 0, "uuid": "GPU-1", "memory_mib": "80GB"}, "'memory_mib' must be an int"),
        ({"index": 0, "uuid": "GPU-1", "vendor": "intel"}, "'vendor' must be one of nvidia, amd"),
        ({"index": 0, "uuid": "a", "vendor": "amd"}, "AMD GPU needs 'device_paths'"),
        ({"index": 0, "uuid": "a", "device_paths": "/dev/x"}, "'device_paths' must be a list"),
        ({"index": 0, "uuid": "GPU-1", "memory": 5}, "unknown keys ['memory']"),
    ],
)
def test_inventory_declared_invalid(item: object, says: str) -> None:
    with pytest.raises(ConfigError, match=r"GpuInventory\.declared_gpus\[0\]") as info:
        GpuInventory(declared_gpus=[item])
    assert says in info.value.message


def test_inventory_declared_not_a_dict() -> None:
    with pytest.raises(TraitError, match="expected a dict"):
        GpuInventory(declared_gpus=["GPU-1"])


def test_inventory_declared_duplicates() -> None:
    with pytest.raises(ConfigError, match="uuid GPU-1 is declared twice"):
        GpuInventory(declared_gpus=[{"index": 0, "uuid": "GPU-1"}, {"index": 1, "uuid": "GPU-1"}])
    with pytest.raises(ConfigError, match="index 0 is declared twice"):
        GpuInventory(declared_gpus=[{"index": 0, "uuid": "GPU-1"}, {"index": 0, "uuid": "GPU-2"}])


def test_inventory_discovery_is_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fake_discover() -> tuple[list[Gpu], str]:
        calls.append(1)
        return FOUR[:1], "nvidia-smi"

    monkeypatch.setattr(gpus_discovery, "discover_gpus_with_source", fake_discover)
    inventory = GpuInventory()
    assert inventory.gpus() == FOUR[:1] and inventory.source == "nvidia-smi"
    inventory.gpus()
    assert len(calls) == 1
    inventory.refresh()
    inventory.gpus()
    assert len(calls) == 2
    inventory.cache_seconds = 0
    inventory.gpus()
    assert len(calls) == 3


# -- GpuAllocator -----------------------------------------------------------------------------
def make_allocator(lock_path: Path, **policy: object) -> GpuAllocator:
    return GpuAllocator(inventory=GpuInventory(declared_gpus=DECLARED), lock_path=str(lock_path), **policy)


def test_allocator_applies_policy(tmp_path: Path) -> None:
    allocator = make_allocator(tmp_path / "l", max_gpus_per_workspace=2, max_gpus_per_owner=3)
    assert uuids(allocator.select("2", {UUIDS[0]: ["w"]})) == UUIDS[1:3]
    with pytest.raises(InvalidRequest, match="max_gpus_per_workspace"):
        allocator.select(3, {})
    with pytest.raises(Conflict, match="max_gpus_per_owner"):
        allocator.select(2, {}, owner_holds=2)
    with pytest.raises(Conflict):
        allocator.select([UUIDS[0]], {UUIDS[0]: ["w"]})
    allocator.allow_sharing = True
    assert uuids(allocator.select([UUIDS[0]], {UUIDS[0]: ["w"]})) == [UUIDS[0]]
    with pytest.raises(ConfigError, match=">= 0"):
        allocator.max_gpus_per_owner = -1


def test_lock_file_created_world_writable(tmp_path: Path) -> None:
    lock_path = tmp_path / "new-dir" / "gpus.lock"
    allocator = make_allocator(lock_path)

    async def take() -> None:
        async with allocator.reservation_lock():
            assert lock_path.exists()
        async with allocator.reservation_lock():  # released, so it can be taken again
            pass

    asyncio.run(take())
    assert stat.S_IMODE(lock_path.stat().st_mode) == 0o666
    assert stat.S_IMODE(lock_path.parent.stat().st_mode) == 0o777


def test_lock_times_out_with_conflict(tmp_path: Path) -> None:
    holder, waiter = make_allocator(tmp_path / "l"), make_allocator(tmp_path / "l", lock_timeout=0.1)

    async def race() -> None:
        async with holder.reservation_lock():
            with pytest.raises(Conflict, match="held the GPU reservation lock"):
                async with waiter.reservation_lock():
                    pass

    asyncio.run(race())


def test_unusable_lock_path_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").touch()
    allocator = make_allocator(tmp_path / "a-file" / "gpus.lock")

    async def take() -> None:
        async with allocator.reservation_lock():
            pass

    with pytest.raises(ConfigError, match="GpuAllocator.lock_path"):
        asyncio.run(take())


def test_a_lock_path_that_cannot_be_opened_is_a_config_error(tmp_path: Path) -> None:
    # Here the lock file itself fails to open (the lock's own error), not its directory.
    (tmp_path / "a-dir").mkdir()
    lock_path = tmp_path / "a-dir"
    allocator = make_allocator(lock_path)

    async def take() -> None:
        async with allocator.reservation_lock():
            pass

    with pytest.raises(ConfigError) as info:
        asyncio.run(take())
    assert info.value.message.startswith(f"cannot take the GPU reservation lock {lock_path}: ")
    assert info.value.message.endswith("; make it writable by every account running a host server (chmod 666) "
                                       "or set GpuAllocator.lock_path")
    assert isinstance(info.value.__cause__, OSError)


_HOLDER = """
import fcntl, sys
with open(sys.argv[1], "a") as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    print("held", flush=True)
    sys.stdin.readline()
"""


@contextlib.contextmanager
def _held_by_another_process(lock_path: Path) -> Iterator[Callable[[], None]]:
    """Hold the flock on lock_path in a child process; yields a function that releases it."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    child = subprocess.Popen([sys.executable, "-c", _HOLDER, str(lock_path)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "held\n"

        def release() -> None:
            if child.poll() is None:
                child.stdin.write("\n")
                child.stdin.flush()
                child.wait(timeout=10)

        yield release
    finally:
        child.kill()
        child.communicate(timeout=10)


def _is_free(lock_path: Path) -> bool:
    with open(lock_path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(f, fcntl.LOCK_UN)
        return True


def test_lock_timeout_message_names_the_lock_and_the_wait(tmp_path: Path) -> None:
    lock_path = tmp_path / "l"
    waiter = make_allocator(lock_path, lock_timeout=0.3)

    async def wait() -> None:
        async with waiter.reservation_lock():
            pass

    with _held_by_another_process(lock_path):
        started = time.monotonic()
        with pytest.raises(Conflict) as info:
            asyncio.run(wait())
        waited = time.monotonic() - started
    assert info.value.message == (f"another launch has held the GPU reservation lock {lock_path} for over 0.3 s; "
                                  "try again shortly")
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert 0.3 <= waited < 5


@pytest.mark.parametrize("lock_timeout", [0, -1])
def test_a_timeout_of_zero_or_less_tries_once(tmp_path: Path, lock_timeout: float) -> None:
    lock_path = tmp_path / "l"
    waiter = make_allocator(lock_path, lock_timeout=lock_timeout)

    async def wait() -> None:
        async with waiter.reservation_lock():
            pass

    with _held_by_another_process(lock_path), pytest.raises(Conflict, match="held the GPU reservation lock"):
        asyncio.run(asyncio.wait_for(wait(), 5))


def test_waiting_for_another_process_keeps_the_event_loop_running(tmp_path: Path) -> None:
    lock_path = tmp_path / "l"
    allocator = make_allocator(lock_path, lock_timeout=30)
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    async def wait(release: Callable[[], None]) -> None:
        taken, done = asyncio.Event(), asyncio.Event()

        async def take() -> None:
            async with allocator.reservation_lock():
                taken.set()
                await done.wait()

        ticking = asyncio.create_task(ticker())
        waiting = asyncio.create_task(take())
        await asyncio.sleep(0.6)
        assert not taken.is_set()  # the other process still holds it
        release()
        await asyncio.wait_for(taken.wait(), 10)
        assert not _is_free(lock_path)  # the waiter got it once the other process let go
        done.set()
        await waiting
        ticking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticking

    with _held_by_another_process(lock_path) as release:
        asyncio.run(wait(release))
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert len(ticks) > 20 and max(gaps) < 0.3, f"the event loop stalled for {max(gaps):.2f} s"


def test_a_cancelled_wait_leaves_the_lock_free(tmp_path: Path) -> None:
    lock_path = tmp_path / "l"
    allocator = make_allocator(lock_path, lock_timeout=30)

    async def wait_then_cancel(release: Callable[[], None]) -> None:
        async def take() -> None:
            async with allocator.reservation_lock():
                pass

        waiting = asyncio.create_task(take())
        await asyncio.sleep(0.2)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        release()
        async with allocator.reservation_lock():  # neither the asyncio lock nor the file lock leaked
            assert not _is_free(lock_path)
        assert _is_free(lock_path)

    with _held_by_another_process(lock_path) as release:
        asyncio.run(asyncio.wait_for(wait_then_cancel(release), 20))


def test_the_lock_does_not_queue_behind_a_busy_default_executor(tmp_path: Path) -> None:
    # Engine calls run on the loop's default executor; a long one must not hold up the lock.
    allocator = make_allocator(tmp_path / "l", lock_timeout=5)

    async def take() -> None:
        async with allocator.reservation_lock():
            pass

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(1))
        gate = threading.Event()
        busy = loop.run_in_executor(None, gate.wait)
        try:
            await asyncio.wait_for(take(), 5)
        finally:
            gate.set()
            await busy

    asyncio.run(main())


def test_the_lock_is_taken_again_from_other_event_loops_and_threads(tmp_path: Path) -> None:
    lock_path = tmp_path / "l"
    allocator = make_allocator(lock_path, lock_timeout=5)

    async def take() -> None:
        async with allocator.reservation_lock():
            assert not _is_free(lock_path)
        assert _is_free(lock_path)

    asyncio.run(take())
    asyncio.run(take())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, take()).result(timeout=10)
    asyncio.run(take())


# -- concurrent reservations ------------------------------------------------------------------
# The "engine" is a dict (one process) or a JSON file (several): uuid -> holder workspace ids.
# Every reservation reads it, waits (as a container create would), then records its GPUs, as
# the WorkspaceManager does; without the lock, all racers read the same state and collide.
async def _reserve(allocator: GpuAllocator, engine: dict, workspace_id: str, lock: bool = True) -> str:
    async with allocator.reservation_lock() if lock else contextlib.nullcontext():
        taken = dict(engine)
        (gpu,) = allocator.select(1, taken)
        await asyncio.sleep(0.01)
        engine.setdefault(gpu.uuid, []).append(workspace_id)
        return gpu.uuid


async def _race_in_process(allocator: GpuAllocator, lock: bool) -> tuple[list[str], int, dict]:
    engine: dict[str, list[str]] = {}
    results = await asyncio.gather(
        *(_reserve(allocator, engine, f"ws-{i}", lock) for i in range(12)), return_exceptions=True
    )
    won = [r for r in results if isinstance(r, str)]
    conflicts = sum(isinstance(r, Conflict) for r in results)
    assert len(won) + conflicts == len(results), results
    return won, conflicts, engine


def test_concurrent_reservations_in_one_process(tmp_path: Path) -> None:
    won, conflicts, engine = asyncio.run(_race_in_process(make_allocator(tmp_path / "l"), lock=True))
    assert sorted(won) == sorted(UUIDS) and conflicts == 8
    assert all(len(holders) == 1 for holders in engine.values())


def test_in_process_race_is_real_without_the_lock(tmp_path: Path) -> None:
    # The control for the test above: the same race, unlocked, hands a GPU out twice.
    won, _, engine = asyncio.run(_race_in_process(make_allocator(tmp_path / "l"), lock=False))
    assert len(won) > len(set(won))


def _process_worker(lock_path: str, engine_path: str, name: str, barrier, results) -> None:  # noqa: ANN001
    async def reserve(workspace_id: str) -> tuple[str, str]:
        async with allocator.reservation_lock():
            try:
                taken = json.loads(Path(engine_path).read_text())
            except FileNotFoundError:
                taken = {}
            try:
                (gpu,) = allocator.select(1, taken)
            except Conflict:
                return workspace_id, "conflict"
            await asyncio.sleep(0.05)
            taken.setdefault(gpu.uuid, []).append(workspace_id)
            tmp = f"{engine_path}.{workspace_id}"
            Path(tmp).write_text(json.dumps(taken))
            os.replace(tmp, engine_path)
            return workspace_id, gpu.uuid

    async def main() -> list[tuple[str, str]]:
        return list(await asyncio.gather(reserve(f"{name}-a"), reserve(f"{name}-b")))

    try:
        allocator = make_allocator(Path(lock_path))
        barrier.wait(timeout=30)
        results.put(asyncio.run(main()))
    except BaseException as e:  # report, so the parent fails with the cause
        results.put([(name, f"error: {e!r}")])


def test_concurrent_reservations_across_processes(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    n = 4
    barrier, results = ctx.Barrier(n), ctx.Queue()
    args = (str(tmp_path / "locks" / "gpus.lock"), str(tmp_path / "engine.json"), barrier, results)
    procs = [ctx.Process(target=_process_worker, args=(args[0], args[1], f"p{i}", *args[2:])) for i in range(n)]
    for p in procs:
        p.start()
    outcomes = [item for _ in procs for item in results.get(timeout=60)]
    for p in procs:
        p.join(timeout=10)
    assert not [o for o in outcomes if o[1].startswith("error")], outcomes
    won = [uuid for _, uuid in outcomes if uuid != "conflict"]
    assert len(won) == len(set(won)), f"a GPU was handed out twice: {outcomes}"
    assert sorted(won) == sorted(UUIDS)
    engine = json.loads((tmp_path / "engine.json").read_text())
    assert sorted(engine) == sorted(UUIDS) and all(len(h) == 1 for h in engine.values())


def test_busy_gpus_names_who_took_a_stopped_workspaces_gpus():
    from workspace_launcher.gpus.request import busy_gpus

    taken = {"GPU-1": ["aaaaaaaaaaaa"], "GPU-2": [], "GPU-3": "bbbbbbbbbbbb"}
    assert busy_gpus(["GPU-1", "GPU-2", "GPU-3", "GPU-4"], taken) == {"GPU-1": ["aaaaaaaaaaaa"], "GPU-3": ["bbbbbbbbbbbb"]}
    assert busy_gpus([], taken) == {}
