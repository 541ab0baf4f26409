"""The proxy's client side: one shared aiohttp session to every workspace, the request-body
hand-off from tornado to aiohttp, and where one request goes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
from yarl import URL

from workspace_launcher.workspaces.upstream import Upstream

#: Request chunks buffered between the browser and the workspace (with tornado's 64 KiB reads).
BODY_QUEUE_CHUNKS = 4
#: aiohttp's read buffer per upstream response; it pauses reading past twice this. Bigger than its
#: 64 KiB default so the workspace keeps sending while the browser's socket drains.
UPSTREAM_READ_BUFFER = 512 * 1024


class BodyPipe:
    """A bounded hand-off from tornado's ``data_received`` to aiohttp's request body.

    ``put`` waits while the queue is full, and tornado waits for ``put`` before reading more
    from the browser: that is the upload's backpressure. Once the workspace has answered (or
    failed), the rest of the body is dropped so a stalled upload cannot block the handler.
    """

    def __init__(self) -> None:
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(BODY_QUEUE_CHUNKS)
        self._open = True

    async def put(self, chunk: bytes) -> None:
        if self._open:
            await self._queue.put(chunk)

    async def finish(self) -> None:
        if self._open:
            self._open = False
            await self._queue.put(None)

    def abandon(self) -> None:
        self._open = False
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(None)  # wakes the reader; a blocked put lands after it, unread

    async def chunks(self) -> AsyncIterator[bytes]:
        while (chunk := await self._queue.get()) is not None:
            yield chunk


@dataclass(frozen=True)
class Target:
    """Where one request goes: the workspace's upstream (address, prefix, token) and the path."""

    workspace_id: str
    upstream: Upstream
    path: str

    @property
    def prefix(self) -> str:
        return self.upstream.base_url

    @property
    def token(self) -> str:
        return self.upstream.token

    def url(self, scheme: str = "http") -> URL:
        return self.upstream.url(self.path, scheme)


#: One aiohttp session per event loop (a session cannot outlive or change its loop).
_sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}


def upstream_session() -> aiohttp.ClientSession:
    """The one aiohttp session every proxied request shares, created on first use."""
    loop = asyncio.get_running_loop()
    session = _sessions.get(loop)
    if session is None or session.closed:
        session = _sessions[loop] = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),  # each open WebSocket holds a connection
            auto_decompress=False,  # bytes pass through as the workspace encoded them
            cookie_jar=aiohttp.DummyCookieJar(),  # a shared jar would carry cookies across workspaces
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),  # long polls, big downloads
            skip_auto_headers=("Accept", "Accept-Encoding", "Content-Type", "User-Agent"),
            read_bufsize=UPSTREAM_READ_BUFFER,
        )
    return session


async def close() -> None:
    """Close the shared upstream session; the app awaits this when the server stops."""
    session = _sessions.pop(asyncio.get_running_loop(), None)
    if session is not None:
        await session.close()
