"""The workspace proxy on a workspace's own origin: a real host server with the extension, the
real engine, a real workspace, and the handshake a browser makes to get there.

One ``minimal`` workspace serves the whole module (``proxy_support.workspace``). Forwarding details (which headers and cookies
reach the workspace, what comes back) are checked against a loopback echo server standing in
for a workspace: only ``manager.connection`` is pointed at it, the proxy code is the real one.
The handshake itself, and what the isolation refuses, are in ``test_origins.py``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import re
import threading
import time
import uuid

import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest

from workspace_launcher.proxy.sessions import COOKIE_NAME
from workspace_launcher.workspaces.manager import WorkspaceManager

from .proxy_support import (  # noqa: F401 (fixtures)
    BASE_URL,
    ECHO_ID,
    ECHO_TOKEN,
    MIB,
    auth,
    client,
    echo,
    fetch,
    host,
    jp_server_config,
    open_session,
    set_cookies,
    wait_for,
    workspace,
    ws_connect,
)


async def execute(ws, code: str) -> str:
    """Run code on a kernel's channels WebSocket; what it printed."""
    msg_id = uuid.uuid4().hex
    header = {"msg_id": msg_id, "msg_type": "execute_request", "username": "test", "session": uuid.uuid4().hex,
              "version": "5.3", "date": "2024-01-01T00:00:00Z"}
    content = {"code": code, "silent": False, "store_history": False, "user_expressions": {}, "allow_stdin": False,
               "stop_on_error": True}
    ws.write_message(json.dumps({"header": header, "parent_header": {}, "metadata": {}, "content": content,
                                 "channel": "shell", "buffers": []}))
    printed = ""
    while True:
        message = json.loads(await asyncio.wait_for(ws.read_message(), 60))
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        if message["msg_type"] == "stream":
            printed += message["content"]["text"]
        if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
            return printed


# -- through the proxy to a real workspace ---------------------------------------------------
async def test_a_kernel_runs_in_the_workspace_through_the_proxy(host, client, workspace):
    session = await open_session(client, host, workspace.id)
    assert session.landed == host.prefix(workspace.id) + "lab"
    own = {**session.cookie, "Origin": host.origin_of(workspace.id)}
    response = await fetch(client, host.at(workspace.id, "api/kernels"), method="POST", body=json.dumps({"name": "python3"}), headers=own)
    assert response.code == 201, response.body
    kernel_id = json.loads(response.body)["id"]
    try:
        ws = await ws_connect(host.at(workspace.id, f"api/kernels/{kernel_id}/channels"), own)
        assert (await execute(ws, "import socket; print(socket.gethostname())")).strip() == workspace.name
        ws.close()
        assert host.manager.proxy_idle_seconds(workspace.id) < 5
        # JupyterLab's binary kernel protocol: the workspace's choice reaches the browser.
        ws = await ws_connect(host.at(workspace.id, f"api/kernels/{kernel_id}/channels"), own,
                              subprotocols=["v1.kernel.websocket.jupyter.org"])
        assert ws.selected_subprotocol == "v1.kernel.websocket.jupyter.org"
        ws.close()
    finally:
        await fetch(client, host.at(workspace.id, f"api/kernels/{kernel_id}"), method="DELETE", headers=own)



async def test_the_workspaces_jupyter_is_quiet(host, client, workspace, docker_client):
    """The shared image's defaults: no news question or update check in the workspace's
    JupyterLab, and no WebSocket ping warning in its log once a kernel's WebSocket opened."""
    session = await open_session(client, host, workspace.id)
    own = {**session.cookie, "Origin": host.origin_of(workspace.id)}
    settings = await fetch(client, host.at(workspace.id, "lab/api/settings/@jupyterlab/apputils-extension:notification"),
                           headers=own)
    assert settings.code == 200, settings.body
    defaults = json.loads(settings.body)["schema"]["properties"]  # the image's overrides are its defaults
    assert defaults["fetchNews"]["default"] == "false" and defaults["checkForUpdates"]["default"] is False
    lab = await fetch(client, host.at(workspace.id, "lab"), headers=own)
    page_config = re.search(rb'<script id="jupyter-config-data" type="application/json">(.*?)</script>', lab.body, re.S)
    assert json.loads(page_config[1])["news"] == {"disabled": True}  # LabApp.news_url = None
    response = await fetch(client, host.at(workspace.id, "api/kernels"), method="POST", body=json.dumps({"name": "python3"}), headers=own)
    kernel_id = json.loads(response.body)["id"]
    try:
        ws = await ws_connect(host.at(workspace.id, f"api/kernels/{kernel_id}/channels"), own)
        assert (await execute(ws, "print(6 * 7)")).strip() == "42"
        ws.close()
    finally:
        await fetch(client, host.at(workspace.id, f"api/kernels/{kernel_id}"), method="DELETE", headers=own)
    log = docker_client.containers.get(f"workspace-launcher-{workspace.id}").logs().decode(errors="replace")
    assert f"Kernel started: {kernel_id}" in log  # the log of the Jupyter that served the WebSocket
    assert "websocket_ping" not in log, log[-3000:]


async def test_a_terminal_runs_in_the_workspace_through_the_proxy(host, client, workspace):
    session = await open_session(client, host, workspace.id)
    own = {**session.cookie, "Origin": host.origin_of(workspace.id)}
    response = await fetch(client, host.at(workspace.id, "api/terminals"), method="POST", body="{}", headers=own)
    name = json.loads(response.body)["name"]
    try:
        ws = await ws_connect(host.at(workspace.id, f"terminals/websocket/{name}"), own)
        ws.write_message(json.dumps(["stdin", "echo proxied-$((6*7))\r"]))
        seen = ""
        while "proxied-42" not in seen:
            message = await asyncio.wait_for(ws.read_message(), 30)
            assert message is not None, f"the terminal closed; it printed {seen!r}"
            kind, *data = json.loads(message)
            if kind == "stdout":
                seen += data[0]
        ws.close()
    finally:
        await fetch(client, host.at(workspace.id, f"api/terminals/{name}"), method="DELETE", headers=own)


class RssSampler:
    """Peak resident memory of this process (the host server runs in it) while a block runs."""

    def __enter__(self):
        self.baseline = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth(self) -> int:
        return self.peak - self.baseline

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._rss())

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def base64_pieces(path):
    with open(path, "rb") as f:
        while piece := f.read(3 * 256 * 1024):
            yield base64.b64encode(piece)


def random_file(path, mib: int) -> str:
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        for _ in range(mib):
            piece = os.urandom(MIB)
            digest.update(piece)
            f.write(piece)
    return digest.hexdigest()


async def upload(client, url: str, path, headers: dict) -> float:
    """PUT a file to the contents API as base64 JSON, produced piecewise (never whole in memory)."""
    head, tail = b'{"type": "file", "format": "base64", "content": "', b'"}'

    async def produce(write):
        await write(head)
        for piece in base64_pieces(path):
            await write(piece)
        await write(tail)

    length = len(head) + 4 * ((path.stat().st_size + 2) // 3) + len(tail)
    started = time.monotonic()
    headers = {**headers, "Content-Type": "application/json", "Content-Length": str(length)}
    response = await fetch(client, url, method="PUT", body_producer=produce, request_timeout=300, headers=headers)
    assert response.code in (200, 201), response.body[:500]
    return time.monotonic() - started


async def download(client, url: str, headers: dict, *, spliced: bool | None = None) -> tuple[str, float]:
    """The body's SHA-256 and the seconds it took; ``spliced``: whether the proxy must have relayed
    it in the kernel (proxy.splice), which closes the browser's connection after it."""
    digest = hashlib.sha256()
    started = time.monotonic()
    if spliced is not None:  # as browsers ask; tornado's client would ask to close otherwise
        headers = {**headers, "Connection": "keep-alive"}
    response = await fetch(client, url, headers=headers, streaming_callback=digest.update, request_timeout=300)
    assert response.code == 200, response.code
    if spliced is not None:
        assert (response.headers.get("Connection", "").lower() == "close") is spliced, response.headers
    return digest.hexdigest(), time.monotonic() - started


async def test_100_mb_streams_both_ways_without_growing_the_host(host, workspace, client, tmp_path, docker_client):
    local = tmp_path / "big.bin"
    sha256 = random_file(local, 100)
    session = await open_session(client, host, workspace.id)
    own = {**session.cookie, "Origin": host.origin_of(workspace.id)}
    upstream = await host.manager.connection(owner=workspace.owner, workspace_id=workspace.id)
    direct = str(upstream.url(upstream.base_url))

    with RssSampler() as upload_rss:
        up_proxied = await upload(client, host.at(workspace.id, "api/contents/big.bin"), local, own)
    result = docker_client.containers.get(workspace.container_id).exec_run(["sha256sum", "/home/jovyan/work/big.bin"])
    assert result.output.decode().split()[0] == sha256
    with RssSampler() as download_rss:  # a same-origin read, as the workspace's JupyterLab makes it
        same_origin = {**session.cookie, "Sec-Fetch-Site": "same-origin"}
        downloaded, down_proxied = await download(client, host.at(workspace.id, "files/big.bin"), same_origin,
                                                  spliced=True)
    assert downloaded == sha256
    # Below the splice threshold a file streams through Python, on a connection kept alive.
    small_sha256 = random_file(tmp_path / "small.bin", 1)
    await upload(client, host.at(workspace.id, "api/contents/small.bin"), tmp_path / "small.bin", own)
    small, _ = await download(client, host.at(workspace.id, "files/small.bin"), same_origin, spliced=False)
    assert small == small_sha256

    up_direct = await upload(client, direct + "api/contents/direct.bin", local, auth(upstream.token))
    _, down_direct = await download(client, direct + "files/direct.bin", auth(upstream.token))
    print(f"\n100 MiB upload: proxied {up_proxied:.2f} s, direct {up_direct:.2f} s; download: proxied "
          f"{down_proxied:.2f} s, direct {down_direct:.2f} s; host RSS growth: upload "
          f"{upload_rss.growth / MIB:.1f} MiB, download {download_rss.growth / MIB:.1f} MiB")
    assert upload_rss.growth < 24 * MIB and download_rss.growth < 24 * MIB


async def test_the_workspaces_jupyterlab_works_with_its_own_cookies(host, workspace, client):
    """JupyterLab in the workspace, on its origin: the page, then API calls with the workspace's
    own ``_xsrf`` cookie, as its JupyterLab makes them. No host cookie is ever set there."""
    session = await open_session(client, host, workspace.id)
    workspace_token = (await host.manager.connection(owner=workspace.owner, workspace_id=workspace.id)).token
    page = await fetch(client, host.at(workspace.id, "lab"), headers=session.cookie)
    assert page.code == 200 and b"<html" in page.body.lower()
    assert workspace_token.encode() not in page.body and host.token.encode() not in page.body
    cookies = set_cookies(page)
    assert "_xsrf" in cookies and not any(name.startswith("username-127-0-0-1") for name in cookies)
    assert all(c["path"].startswith(host.prefix(workspace.id)) and not c["domain"] for c in cookies.values())
    browser = {"Cookie": f"{COOKIE_NAME}={session.value}; _xsrf={cookies['_xsrf'].value}",
               "X-XSRFToken": cookies["_xsrf"].value, "Origin": host.origin_of(workspace.id)}
    created = await fetch(client, host.at(workspace.id, "api/kernels"), method="POST", body="{}", headers=browser)
    assert created.code == 201, created.body
    kernel = json.loads(created.body)["id"]
    gone = await fetch(client, host.at(workspace.id, f"api/kernels/{kernel}"), method="DELETE", headers=browser)
    assert gone.code == 204
    # The workspace's own error pages embed its token for logged-in users; the proxy strips it.
    missing = await fetch(client, host.at(workspace.id, "no-such-page"), headers=session.cookie)
    assert missing.code == 404 and workspace_token.encode() not in missing.body


async def test_a_stopped_workspace_cannot_be_opened_and_says_so(host, session_config, minimal_image, test_owner, client):
    manager = WorkspaceManager(config=session_config, base_url=BASE_URL)
    stopped = await manager.launch(owner=test_owner, profile="minimal", name="stopped")
    try:
        await manager.stop(owner=test_owner, workspace_id=stopped.id)
        page = await fetch(client, host.open_url(stopped.id), headers=auth(host.token))
        assert page.code == 503 and page.headers["Content-Type"].startswith("text/html")
        assert b"stopped" in page.body
        probe = await fetch(client, host.open_url(stopped.id), method="HEAD", headers=auth(host.token))
        assert probe.code == 503
    finally:
        await manager.delete(owner=test_owner, workspace_id=stopped.id, purge=True)
        manager.engine.close()


async def test_a_running_workspace_answers_the_readiness_probe(host, workspace, client):
    probe = await fetch(client, host.open_url(workspace.id), method="HEAD", headers=auth(host.token))
    assert probe.code == 204
    assert (await fetch(client, host.open_url(workspace.id), method="HEAD")).code in (302, 403)  # no login


# -- what crosses the proxy, against the echo server ------------------------------------------
async def test_paths_may_not_leave_the_workspace(host, echo, client):
    session = await open_session(client, host, ECHO_ID)
    for rest in ("..", "../../api/status", "..%2F..%2Fapi%2Fstatus", "%2e%2e/%2E%2E/x", "a/..%5C..%5C..%5Cx"):
        response = await fetch(client, host.at(ECHO_ID, rest), headers=session.cookie)
        assert response.code == 400, f"{rest} answered {response.code}"
    assert [s for s in echo if "method" in s] == []
    response = await fetch(client, host.at(ECHO_ID).rstrip("/"), headers=session.cookie)
    assert response.code == 302 and response.headers["Location"] == host.prefix(ECHO_ID)


async def test_credentials_never_reach_the_workspace(host, echo, client):
    session = await open_session(client, host, ECHO_ID)
    browser = {
        "Cookie": f"{COOKIE_NAME}={session.value}; app=1",
        "Origin": host.origin_of(ECHO_ID),
        "Referer": host.at(ECHO_ID, f"lab?token={host.token}&_xsrf=abc&reset"),
        "Authorization": f"token {host.token}",  # sent by a confused client: replaced
        "X-Forwarded-For": "6.6.6.6",
    }
    response = await fetch(client, host.at(ECHO_ID, "echo?keep=2&token=t&_xsrf=x"), method="POST", body=b"x" * 100_000, headers=browser)
    assert response.code == 200
    assert len(echo) == 1
    seen = echo[0]
    headers = {k.lower(): v for k, v in seen["headers"].items()}
    assert host.token not in json.dumps(seen) and session.value not in json.dumps(seen)
    assert headers["authorization"] == f"token {ECHO_TOKEN}"
    assert "token=" not in seen["uri"] and "_xsrf" not in seen["uri"] and "keep=2" in seen["uri"]
    assert headers["cookie"] == "app=1" and headers["content-length"] == "100000"
    assert headers["referer"] == host.at(ECHO_ID, "lab?reset")
    assert headers["host"].startswith("127.0.0.1:") and headers["origin"] == f"http://{headers['host']}"
    assert headers["x-forwarded-for"] == "127.0.0.1" and headers["x-forwarded-proto"] == "http"


async def test_a_page_url_holding_a_token_is_redirected_without_it(host, echo, client):
    session = await open_session(client, host, ECHO_ID)
    response = await fetch(client, host.at(ECHO_ID, f"lab/tree/x.ipynb?reset&token={host.token}"), headers=session.cookie)
    assert response.code == 302 and response.headers["Location"] == host.prefix(ECHO_ID) + "lab/tree/x.ipynb?reset"
    assert echo == []


async def test_responses_stay_inside_the_workspace(host, echo, client):
    session = await open_session(client, host, ECHO_ID)
    prefix = host.prefix(ECHO_ID)
    for name, location in (("away", prefix), ("absolute", prefix + "lab?x=1"), ("up", prefix)):
        response = await fetch(client, host.at(ECHO_ID, name), headers=session.cookie)
        assert response.code == 302 and response.headers["Location"] == location, name
    cookies = (await fetch(client, host.at(ECHO_ID, "cookies"), headers=session.cookie)).headers.get_list("Set-Cookie")
    # The workspace's own cookies stay inside its prefix and host-only; a forged session cookie goes.
    assert sorted(cookies) == sorted([f"app=1; Path={prefix}", f"_xsrf=workspace-xsrf; Path={prefix}",
                                      f"deep=2; Path={prefix}sub/; HttpOnly"])
    page = await fetch(client, host.at(ECHO_ID, "page"), headers=session.cookie)
    assert page.body == b"<body data-token=''>hello </body>"
    head = await fetch(client, host.at(ECHO_ID, "echo"), method="HEAD", headers=session.cookie)
    assert head.code == 200 and head.body == b"" and head.headers["Content-Length"] == "5"


async def test_origin_wide_response_headers_never_cross(host, echo, client):
    session = await open_session(client, host, ECHO_ID)
    response = await fetch(client, host.at(ECHO_ID, "origin-wide"), headers=session.cookie)
    assert response.code == 200 and response.headers["X-Kept"] == "yes"
    for name in ("Service-Worker-Allowed", "Clear-Site-Data", "Strict-Transport-Security"):
        assert name not in response.headers, name


@pytest.mark.parametrize("broken, endless, left_after", [
    ("broken", "endless", 4 * MIB),  # streamed through Python
    ("broken-big", "endless-big", 8 * MIB),  # a length announced, octets: spliced in the kernel
])
async def test_broken_responses_and_departed_browsers_end_both_sides(host, echo, client, broken, endless, left_after):
    session = await open_session(client, host, ECHO_ID)
    with pytest.raises(HTTPClientError) as info:  # cut short as the workspace did: no hang, no "complete" body
        await client.fetch(HTTPRequest(host.at(ECHO_ID, broken), headers=session.cookie, request_timeout=20))
    assert info.value.code == 599
    received = []

    def leave(chunk: bytes) -> None:
        received.append(len(chunk))
        if sum(received) > left_after:
            raise ConnectionAbortedError("the browser tab was closed")

    with pytest.raises(HTTPClientError):
        await client.fetch(HTTPRequest(host.at(ECHO_ID, endless), headers=session.cookie, streaming_callback=leave))
    assert await wait_for(lambda: {"endless": "reader gone"} in echo)  # the proxy lets go of the workspace too
    assert (await fetch(client, host.at(ECHO_ID, "anything"), headers=session.cookie)).code == 200


async def test_a_big_page_is_never_spliced_its_token_is_redacted(host, echo, client):
    session = await open_session(client, host, ECHO_ID)
    page = await fetch(client, host.at(ECHO_ID, "big-page"), headers={**session.cookie, "Connection": "keep-alive"},
                       request_timeout=20)
    assert page.code == 200 and len(page.body) == 8 * MIB  # the token taken out
    assert ECHO_TOKEN.encode() not in page.body and page.headers.get("Connection", "").lower() != "close"


async def test_websockets_relay_both_ways_with_close_codes(host, echo, client):
    session = await open_session(client, host, ECHO_ID)
    own = {**session.cookie, "Origin": host.origin_of(ECHO_ID)}
    ws = await ws_connect(host.at(ECHO_ID, "ws"), own, subprotocols=["v1.echo", "other"])
    assert ws.selected_subprotocol == "v1.echo"
    await ws.write_message("hello")
    assert await ws.read_message() == "hello"
    await ws.write_message(b"\x00\x01binary", binary=True)
    assert await ws.read_message() == b"\x00\x01binary"
    await ws.write_message("close-please")
    assert await ws.read_message() is None
    assert (ws.close_code, ws.close_reason) == (4002, "asked to")
    ws.close()
    assert host.manager.proxy_idle_seconds(ECHO_ID) < 5
    opened = next(s["ws-open"] for s in echo if "ws-open" in s)
    assert session.value not in json.dumps(opened) and opened["Authorization"] == f"token {ECHO_TOKEN}"

    ws = await ws_connect(host.at(ECHO_ID, "ws"), own)
    assert ws.selected_subprotocol is None
    ws.close(4003, "browser leaves")
    assert await wait_for(lambda: echo[-1] == {"closed": 4003, "reason": "browser leaves"})


async def raw_request(port: int, head: str, body: bytes = b"") -> bytes:
    """Bytes on the wire, as a hostile client writes them (no client library normalising them)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(65536), timeout=10)
    finally:
        writer.close()


@pytest.mark.parametrize("length", ["3, 3", "3,4", "+3", "0x3", "3 3", "99999999999999999999999"])
async def test_malformed_content_lengths_are_refused_and_never_forwarded(host, echo, client, length):
    session = await open_session(client, host, ECHO_ID)
    head = (
        f"POST {host.prefix(ECHO_ID)}echo HTTP/1.1\n"
        f"Host: {ECHO_ID}.localhost:{host.port}\n"
        f"Cookie: {session.cookie['Cookie']}\n"
        f"Content-Length: {length}\n"
        "Connection: close\n"
    )
    answer = await raw_request(host.port, head, b"abc")
    status = int(answer.split(b" ", 2)[1])
    assert 400 <= status < 500, answer[:300]
    assert [s for s in echo if "method" in s] == []
