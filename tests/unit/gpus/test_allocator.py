"""The GPU allocator (``gpus/allocator.py``): its policy settings, and the reservation lock that
keeps concurrent launches, in one process or several, from getting the same GPU."""

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
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.unit.gpus.fakes import DECLARED, UUIDS, uuids
from workspace_launcher.errors import ConfigError, Conflict, InvalidRequest
from workspace_launcher.gpus.allocator import GpuAllocator
from workspace_launcher.gpus.inventory import GpuInventory


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
