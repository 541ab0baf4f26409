"""Large downloads relayed in the kernel: the workspace's socket to the browser's through a pipe
with ``splice(2)``, so the body's bytes never enter Python.

A big file through the streaming relay costs two copies per byte (kernel to Python, Python to
kernel) plus a pass of the event loop per chunk; on a small host that CPU is taken from the
workspace's own Jupyter and from the browser, and a download ran at about 0.78x of a direct one.
Spliced, the pages move between the two sockets by reference.

Only a plain response of known length takes this path (``can_splice``): no HTML to redact, no
TLS on the browser's side, HTTP/1.1, at least ``SPLICE_MIN_BYTES``. The browser's connection is
taken from tornado for it and closed after the body (the head says ``Connection: close``), and
the workspace's connection is closed rather than reused; everything else streams as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import Iterable

#: Responses smaller than this stream through Python: the connection they keep alive is worth
#: more than the copies they would save.
SPLICE_MIN_BYTES = 4 * 1024 * 1024
#: The pipe between the sockets; Linux's default is 64 KiB, and an unprivileged process may
#: raise it to /proc/sys/fs/pipe-max-size (1 MiB by default).
PIPE_BYTES = 1024 * 1024
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
_F_GETPIPE_SZ = getattr(fcntl, "F_GETPIPE_SZ", 1032)
_FLAGS = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_NONBLOCK", 2)


class UpstreamEnded(ConnectionError):
    """The workspace closed its connection before the length it announced."""


def splice_supported() -> bool:
    return hasattr(os, "splice")


def can_splice(*, method: str, http_version: str, status: int, headers: Iterable[tuple[str, str]],
               redacting: bool, browser_tls: bool) -> int | None:
    """The body length to splice for this response, or None when it streams through Python.

    Pure: what the request and the workspace's response say, and whether this kernel splices.
    """
    if not splice_supported() or redacting or browser_tls or method != "GET" or http_version != "HTTP/1.1":
        return None
    if status != 200 and status != 206:
        return None
    length = None
    for name, value in headers:
        key = name.lower()
        if key == "transfer-encoding":
            return None
        if key == "content-length":
            if length is not None or not value.isdigit():
                return None
            length = int(value)
    return length if length is not None and length >= SPLICE_MIN_BYTES else None


def response_head(status: int, reason: str, headers: Iterable[tuple[str, str]]) -> bytes:
    """The status line and headers of a spliced response, which closes its connection after."""
    lines = [f"HTTP/1.1 {status} {reason}"]
    for name, value in headers:
        if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
            raise ValueError(f"a header with a line break: {name!r}")
        if name.lower() != "connection":
            lines.append(f"{name}: {value}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _ready(source: int | None, sink: int | None) -> None:
    """Wait until ``source`` is readable or ``sink`` writable (whichever are given)."""
    loop = asyncio.get_running_loop()
    woken = loop.create_future()

    def wake() -> None:
        if not woken.done():
            woken.set_result(None)

    if source is not None:
        loop.add_reader(source, wake)
    if sink is not None:
        loop.add_writer(sink, wake)
    try:
        await woken
    finally:
        if source is not None:
            loop.remove_reader(source)
        if sink is not None:
            loop.remove_writer(sink)


async def splice_between(source_fd: int, sink_fd: int, length: int) -> int:
    """Move ``length`` bytes from one non-blocking socket to another through a pipe; the bytes
    moved. Raises ``UpstreamEnded`` when the source ends early, and the ``OSError`` of a sink
    that went away. The descriptors are duplicated, so the event loop's registrations of the
    originals (tornado's, aiohttp's) are left alone; the duplicates and the pipe are closed."""
    source, sink = os.dup(source_fd), os.dup(sink_fd)
    pipe_out, pipe_in = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        with contextlib.suppress(OSError):  # a lower pipe-max-size: the default pipe still works
            fcntl.fcntl(pipe_in, _F_SETPIPE_SZ, PIPE_BYTES)
        capacity = fcntl.fcntl(pipe_in, _F_GETPIPE_SZ)
        remaining, in_pipe, moved = length, 0, 0
        while remaining or in_pipe:
            progressed = False
            if remaining and in_pipe < capacity:
                try:
                    got = os.splice(source, pipe_in, min(remaining, capacity - in_pipe), flags=_FLAGS)
                except BlockingIOError:
                    got = None
                if got == 0:
                    raise UpstreamEnded(f"the workspace ended the body {remaining} bytes short")
                if got:
                    remaining, in_pipe, progressed = remaining - got, in_pipe + got, True
            if in_pipe:
                try:
                    sent = os.splice(pipe_out, sink, in_pipe, flags=_FLAGS)
                except BlockingIOError:
                    sent = 0
                if sent:
                    in_pipe, moved, progressed = in_pipe - sent, moved + sent, True
            if progressed:
                await asyncio.sleep(0)  # other requests go on meanwhile
            else:
                await _ready(source if remaining and in_pipe < capacity else None, sink if in_pipe else None)
        return moved
    finally:
        for fd in (source, sink, pipe_out, pipe_in):
            os.close(fd)
