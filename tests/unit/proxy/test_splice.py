"""The kernel-side download relay: which responses take it (pure), the head it writes (pure), and
``splice_between`` moving bytes between real loopback TCP sockets."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket

import pytest

from workspace_launcher.proxy import splice
from workspace_launcher.proxy.splice import (
    SPLICE_MIN_BYTES,
    UpstreamEnded,
    can_splice,
    response_head,
    splice_between,
)

pytestmark = pytest.mark.skipif(not splice.splice_supported(), reason="os.splice needs Linux and Python 3.10")

BIG = [("Content-Type", "application/octet-stream"), ("Content-Length", str(SPLICE_MIN_BYTES))]


def spliceable(**changes):
    request = {"method": "GET", "http_version": "HTTP/1.1", "status": 200, "headers": BIG, "redacting": False,
               "browser_tls": False}
    return can_splice(**{**request, **changes})


def test_a_big_plain_download_is_spliced_for_its_length():
    assert spliceable() == SPLICE_MIN_BYTES
    assert spliceable(status=206) == SPLICE_MIN_BYTES


@pytest.mark.parametrize("changes", [
    {"method": "HEAD"}, {"method": "POST"}, {"http_version": "HTTP/1.0"}, {"status": 404}, {"status": 304},
    {"redacting": True}, {"browser_tls": True},
    {"headers": [("Content-Length", str(SPLICE_MIN_BYTES - 1))]},
    {"headers": [("Transfer-Encoding", "chunked")]},
    {"headers": BIG + [("Transfer-Encoding", "chunked")]},
    {"headers": [("Content-Type", "text/plain")]},
    {"headers": BIG + [("content-length", str(SPLICE_MIN_BYTES))]},  # two lengths: ambiguous
    {"headers": [("Content-Length", "+8388608")]},
])
def test_everything_else_streams_through_python(changes):
    assert spliceable(**changes) is None


def test_the_head_closes_the_connection_and_keeps_the_workspace_headers():
    head = response_head(200, "OK", [("Content-Length", "9"), ("Connection", "keep-alive"), ("ETag", '"x"')])
    assert head == b'HTTP/1.1 200 OK\r\nContent-Length: 9\r\nETag: "x"\r\nConnection: close\r\n\r\n'
    with pytest.raises(ValueError, match="line break"):
        response_head(200, "OK", [("X-A", "1\r\nSet-Cookie: x=1")])


def tcp_pair() -> tuple[socket.socket, socket.socket]:
    """A connected, non-blocking loopback TCP pair (what the proxy splices between)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        near = socket.create_connection(server.getsockname())
        far, _ = server.accept()
    for s in (near, far):
        s.setblocking(False)
    return near, far


async def send_all(loop, sock: socket.socket, data: bytes, *, close: bool = True) -> None:
    await loop.sock_sendall(sock, data)
    if close:
        sock.close()


async def receive(loop, sock: socket.socket, *, pause: float = 0.0) -> bytes:
    pieces = []
    while piece := await loop.sock_recv(sock, 256 * 1024):
        pieces.append(piece)
        if pause:
            await asyncio.sleep(pause)  # a slow browser: the relay must wait, not spin or buffer
    return b"".join(pieces)


async def test_bytes_cross_intact_while_the_loop_serves_others():
    loop = asyncio.get_running_loop()
    workspace, upstream = tcp_pair()  # the workspace writes into ``workspace``; the proxy reads ``upstream``
    browser_side, browser = tcp_pair()
    body = os.urandom(12 * 1024 * 1024 + 17)
    ticks = 0

    async def other_requests():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    async def relay():
        try:
            return await splice_between(upstream.fileno(), browser_side.fileno(), len(body))
        finally:
            browser_side.close()  # what the proxy does after the body

    ticker = asyncio.ensure_future(other_requests())
    moved, _, got = await asyncio.gather(relay(), send_all(loop, workspace, body), receive(loop, browser, pause=0.002))
    ticker.cancel()
    assert moved == len(body)
    assert hashlib.sha256(got).digest() == hashlib.sha256(body).digest()
    assert ticks > 10
    upstream.close()
    browser.close()


async def test_a_workspace_that_stops_short_is_an_error():
    loop = asyncio.get_running_loop()
    workspace, upstream = tcp_pair()
    browser_side, browser = tcp_pair()
    send = asyncio.ensure_future(send_all(loop, workspace, b"x" * 1000))
    with pytest.raises(UpstreamEnded, match="bytes short"):
        await splice_between(upstream.fileno(), browser_side.fileno(), 5000)
    await send
    for s in (upstream, browser_side, browser):
        s.close()


async def test_a_browser_that_leaves_ends_the_relay():
    loop = asyncio.get_running_loop()
    workspace, upstream = tcp_pair()
    browser_side, browser = tcp_pair()
    browser.close()
    send = asyncio.ensure_future(send_all(loop, workspace, os.urandom(8 * 1024 * 1024), close=False))
    with pytest.raises(OSError):
        await asyncio.wait_for(splice_between(upstream.fileno(), browser_side.fileno(), 8 * 1024 * 1024), 10)
    send.cancel()
    for s in (workspace, upstream, browser_side):
        s.close()


async def test_no_descriptor_is_left_open():
    fds = len(os.listdir("/proc/self/fd"))
    loop = asyncio.get_running_loop()
    workspace, upstream = tcp_pair()
    browser_side, browser = tcp_pair()
    await asyncio.gather(splice_between(upstream.fileno(), browser_side.fileno(), 4096),
                         send_all(loop, workspace, b"y" * 4096), loop.sock_recv(browser, 8192))
    for s in (upstream, browser_side, browser):
        s.close()
    assert len(os.listdir("/proc/self/fd")) == fds
