"""Who may have which GPU under the admin's policy, and the lock that makes a reservation atomic
across every host server sharing one container engine.

Reservations are not stored here: which workspace holds which GPU is read from the engine (the
labels of running and starting containers) inside :meth:`GpuAllocator.reservation_lock`, so a
restarted server, or a second one, sees the same truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import weakref
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

from filelock import AsyncFileLock, Timeout
from traitlets import Bool, Float, Instance, Int, Unicode, validate
from traitlets.config import LoggingConfigurable

from workspace_launcher.errors import ConfigError, Conflict
from workspace_launcher.gpus.inventory import GpuInventory
from workspace_launcher.gpus.model import Gpu, GpuRequest, Taken
from workspace_launcher.gpus.request import parse_gpu_request, select_gpus


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
        self._file_lock: AsyncFileLock | None = None
        # The file lock's own worker, not the loop's default executor: engine calls (builds, log
        # streams) can fill that, and a release queued behind them would keep other servers out.
        self._lock_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gpu-reservation-lock")

    def select(self, request: GpuRequest | object, taken: Taken, *, vendor: str | None = None,
               owner_holds: int = 0) -> list[Gpu]:
        """The GPUs to give a new workspace under this allocator's policy; see :func:`select_gpus`."""
        return select_gpus(
            self.inventory.gpus(), parse_gpu_request(request), taken, allow_sharing=self.allow_sharing,
            max_per_workspace=self.max_gpus_per_workspace or None, vendor=vendor,
            max_per_owner=self.max_gpus_per_owner or None, owner_holds=owner_holds,
        )

    def _get_file_lock(self) -> AsyncFileLock:
        path = os.path.abspath(self.lock_path)
        if self._file_lock is None or self._file_lock.lock_file != path:
            if not os.path.isdir(os.path.dirname(path)):
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with contextlib.suppress(OSError):  # host servers of several accounts share it
                    os.chmod(os.path.dirname(path), 0o777)  # noqa: S103
            # thread_local=False: its attempts run on the executor's thread, and the loops using it
            # may be on several threads.
            self._file_lock = AsyncFileLock(path, mode=0o666, thread_local=False, executor=self._lock_executor)
        return self._file_lock

    @contextlib.asynccontextmanager
    async def reservation_lock(self) -> AsyncIterator[None]:
        """Hold while reading the GPUs' holders and creating the container that takes some.

        An asyncio lock serialises this process's coroutines; a file lock (flock) on
        :attr:`lock_path` serialises host servers. Never blocks the event loop: the file lock's
        attempts and its release run on a worker thread.
        """
        loop = asyncio.get_running_loop()
        local = self._loop_locks.setdefault(loop, asyncio.Lock())
        async with local:
            try:
                file_lock = self._get_file_lock()
                # max(): at least one attempt, as filelock reads a negative timeout as "wait forever".
                # Polled every 20 ms, so a freed lock is soon taken.
                await file_lock.acquire(timeout=max(self.lock_timeout, 0.0), poll_interval=0.02)
            except Timeout:  # before OSError: Timeout is a TimeoutError
                raise Conflict(f"another launch has held the GPU reservation lock {self.lock_path} "
                               f"for over {self.lock_timeout:g} s; try again shortly") from None
            except OSError as e:  # e.g. a lock file or directory another account made read-only
                raise ConfigError(f"cannot take the GPU reservation lock {self.lock_path}: {e}; make it "
                                  "writable by every account running a host server (chmod 666) or set "
                                  "GpuAllocator.lock_path") from e
            try:
                yield
            finally:
                await file_lock.release()
