"""The launcher's containers as the engine last described them, kept current from its event stream.

The reflector pattern (Kubernetes informers, KubeSpawner's reflectors): list once, then watch the
engine's events and re-inspect each container an event names, with a periodic full resync that
repairs anything a dropped event missed. Status polls and lists then cost no engine round trip.

Reads are served from here only while the stream is connected (``synced``); otherwise callers go
to the engine, so an engine that stopped answers as stopped (503), never with stale state.
Decisions that must see other host servers' newest containers (GPU reservations, under the
reservation lock) always read the engine directly.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from docker.errors import DockerException, NotFound
from requests import RequestException

from workspace_launcher.engine.labels import MANAGED_LABEL
from workspace_launcher.engine.objects import Container

log = logging.getLogger(__name__)

#: Events after which a container's description may have changed.
_WATCHED = {"label": [MANAGED_LABEL], "type": ["container"]}
#: Seconds to wait before reconnecting to an engine whose stream broke (doubling, up to 30 s).
_RETRY_FIRST, _RETRY_MAX = 0.5, 30.0


class ContainerReflector:
    """Every launcher container on one engine, by container id, as last described."""

    def __init__(self, engine: Any, *, resync_interval: float = 60.0) -> None:
        self.engine = engine
        self.resync_interval = resync_interval
        self._containers: dict[str, Container] = {}
        self._synced = False
        self._task: asyncio.Task | None = None
        self._stream: Any = None
        #: Container ids named by events and not yet re-inspected (coalesces bursts).
        self._dirty: set[str] = set()
        #: When the last full list finished (monotonic), for status and tests.
        self.last_resync = 0.0

    @property
    def synced(self) -> bool:
        """True while the event stream is connected and the initial list is in."""
        return self._synced

    def containers(self, *, owner: str | None = None, workspace_id: str | None = None) -> list[Container]:
        """The cached containers, filtered as :meth:`DockerBackend.list_workspaces` filters, newest first."""
        found = [c for c in self._containers.values()
                 if c.workspace_id and workspace_id in (None, c.workspace_id) and owner in (None, c.owner)]
        return sorted(found, key=lambda c: c.created, reverse=True)

    def get(self, container_id: str) -> Container | None:
        return self._containers.get(container_id)

    # -- keeping it current ------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._synced = False
        if self._task is not None:
            self._task.cancel()
            self._close_stream()
            await asyncio.wait([self._task])
            self._task = None

    async def refresh(self, container_id: str) -> None:
        """Re-read one container now (after this process changed it: read-your-writes)."""
        try:
            attrs = await self.engine.call(self.engine.api.inspect_container, container_id)
        except NotFound:
            self._containers.pop(container_id, None)
            return
        container = Container.from_attrs(attrs)
        if container.workspace_id:
            self._containers[container_id] = container

    def forget(self, container_id: str) -> None:
        self._containers.pop(container_id, None)

    async def resync(self) -> None:
        """A full list: new and changed containers set, vanished ones removed."""
        listed = await self.engine.call(self.engine.api.containers, all=True, filters={"label": MANAGED_LABEL})
        ids = {c["Id"] for c in listed}
        for container_id in ids | set(self._containers):
            await self.refresh(container_id)
        self.last_resync = time.monotonic()

    async def _run(self) -> None:
        delay = _RETRY_FIRST
        while True:
            events: asyncio.Queue = asyncio.Queue()
            try:
                # The stream opens before the list, so nothing between the two is missed.
                self._stream = await self.engine.call(self.engine.api.events, filters=_WATCHED, decode=True)
                reader = threading.Thread(target=_pump, args=(self._stream, events, asyncio.get_running_loop()),
                                          name="workspace-launcher-events", daemon=True)
                reader.start()
                await self.resync()
                self._synced = True
                delay = _RETRY_FIRST
                log.debug("watching the engine's container events (%d workspaces)", len(self._containers))
                await self._consume(events)
            except asyncio.CancelledError:
                raise
            except (DockerException, RequestException, OSError, Exception) as e:  # noqa: B014
                log.info("engine event stream lost (%s); reads go to the engine until it is back", e)
            finally:
                self._synced = False
                self._close_stream()
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX)

    async def _consume(self, events: asyncio.Queue) -> None:
        next_resync = time.monotonic() + self.resync_interval
        while True:
            timeout = max(0.0, next_resync - time.monotonic())
            try:
                event = await asyncio.wait_for(events.get(), timeout=timeout)
            except asyncio.TimeoutError:
                await self.resync()
                next_resync = time.monotonic() + self.resync_interval
                continue
            if event is None:  # the stream ended: the engine stopped or dropped us
                raise ConnectionError("the event stream ended")
            container_id = _container_of(event)
            if not container_id:
                continue
            if event.get("Action") == "destroy":
                self.forget(container_id)
                continue
            self._dirty.add(container_id)
            # Take every event already queued before inspecting: one inspect per container per burst.
            while not events.empty():
                more = events.get_nowait()
                if more is None:
                    raise ConnectionError("the event stream ended")
                more_id = _container_of(more)
                if more.get("Action") == "destroy":
                    self._dirty.discard(more_id)
                    self.forget(more_id)
                elif more_id:
                    self._dirty.add(more_id)
            dirty, self._dirty = self._dirty, set()
            for one in dirty:
                await self.refresh(one)

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.close()
            except Exception:  # already broken: nothing to close
                pass


def _container_of(event: dict) -> str | None:
    return event.get("id") or (event.get("Actor") or {}).get("ID")


def _pump(stream: Iterator[dict], events: asyncio.Queue, loop: asyncio.AbstractEventLoop) -> None:
    """Read the blocking event stream in a thread, handing each event to the loop; None at the end."""
    try:
        for event in stream:
            loop.call_soon_threadsafe(events.put_nowait, event)
    except Exception:  # closed by stop(), or the engine went away
        pass
    finally:
        try:
            loop.call_soon_threadsafe(events.put_nowait, None)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            pass
