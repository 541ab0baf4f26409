"""The workspace proxy: a real host server with the extension, the real engine, a real workspace.

One ``minimal`` workspace serves the whole module. Forwarding details (which headers and cookies
reach the workspace, what comes back) are checked against a loopback echo server standing in
for a workspace: only ``manager.connection`` is pointed at it, the proxy code is the real one.
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
from http.cookies import SimpleCookie

import pytest
from tornado import web, websocket
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.httpserver import HTTPServer
from tornado.iostream import StreamClosedError
from tornado.netutil import bind_sockets
from tornado.websocket import websocket_connect

from workspace_launcher.errors import NotFound
from workspace_launcher.proxy import (
    Redactor,
    forwarded_query,
    sendable_close_code,
    within,
)
from workspace_launcher.upstream import Upstream
from workspace_launcher.workspaces import WorkspaceManager

from .conftest import make_config

#: pytest-jupyter's default (odd) base URL; the module's workspace is launched for it.
BASE_URL = "/a%40b/"
WS = ("workspace-launcher", "workspaces")
ECHO_ID = "0123456789ab"
ECHO_TOKEN = "echo-workspace-token-0123456789abcdef"
MIB = 2**20


def run(coro):
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def workspace(session_config, minimal_image, test_owner):
    manager = WorkspaceManager(config=session_config, base_url=BASE_URL)
    workspace = run(manager.launch(owner=test_owner, profile="minimal", name="proxied"))
    yield workspace
    run(manager.delete(owner=test_owner, workspace_id=workspace.id, purge=True))
    manager.engine.close()


@pytest.fixture
def jp_server_config(request, dataset_root, tmp_path, test_owner):
    config = make_config(dataset_root, tmp_path)
    config.WorkspaceLauncherApp.owner = test_owner
    # The host's own terminals are not needed (the workspace's are proxied).
    config.ServerApp.jpserver_extensions = {"workspace_launcher": True, "jupyter_server_terminals": False}
    config.ServerApp.allow_unauthenticated_access = getattr(request, "param", True)
    return config


@pytest.fixture
def server(jp_serverapp, http_server_client, jp_http_port, jp_base_url):
    """(manager, host URL, host token) of the real host server, listening."""
    assert jp_base_url == BASE_URL
    manager = jp_serverapp.web_app.settings["workspace_launcher_manager"]
    return manager, f"http://127.0.0.1:{jp_http_port}{jp_base_url}", jp_serverapp.identity_provider.token


@pytest.fixture
def client():
    client = AsyncHTTPClient(force_instance=True, max_body_size=2**31, max_buffer_size=2**27)
    yield client
    client.close()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"token {token}"}


async def fetch(client, url: str, **kwargs):
    kwargs.setdefault("follow_redirects", False)
    kwargs.setdefault("allow_nonstandard_methods", True)
    return await client.fetch(HTTPRequest(url, **kwargs), raise_error=False)


# -- a loopback stand-in for a workspace, recording what it receives -----------------------------
class EchoHandler(web.RequestHandler):
    def initialize(self, seen: list, prefix: str) -> None:
        self.seen, self.prefix = seen, prefix

    def check_xsrf_cookie(self) -> None:
        pass

    async def prepare(self) -> None:
        self.seen.append({"method": self.request.method, "uri": self.request.uri, "headers": dict(self.request.headers.get_all())})

    async def get(self) -> None:
        name = self.request.path.rsplit("/", 1)[-1]
        if name == "away":
            self.redirect("http://evil.example/steal")
        elif name == "absolute":
            self.redirect(f"http://127.0.0.1:{self.request.host.split(':')[1]}{self.prefix}lab?x=1")
        elif name == "up":
            self.redirect(f"{self.prefix}../../../api/kernels")
        elif name == "cookies":
            for cookie in ("app=1; Path=/", "_xsrf=workspace-xsrf; Path=" + self.prefix, "username-127-0-0-1-1=cred",
                           f"deep=2; Path={self.prefix}sub/; Domain=127.0.0.1; HttpOnly"):
                self.add_header("Set-Cookie", cookie)
        elif name == "page":  # Jupyter's template puts the token in pages; here split across chunks
            self.set_header("Content-Type", "text/html")
            half = len(ECHO_TOKEN) // 2
            self.write(f"<body data-token='{ECHO_TOKEN[:half]}")
            await self.flush()
            self.write(f"{ECHO_TOKEN[half:]}'>hello {ECHO_TOKEN}</body>")
        elif name == "broken":  # promises 1 MiB, sends 10 bytes, hangs up
            self.set_header("Content-Length", str(MIB))
            self.write(b"0123456789")
            await self.flush()
            self.request.connection.stream.close()
        elif name == "endless":  # until the reader goes away
            try:
                while True:
                    self.write(b"x" * 65536)
                    await self.flush()
            except StreamClosedError:
                self.seen.append({"endless": "reader gone"})
        else:
            self.write(self.seen[-1])

    post = put = patch = delete = get

    def head(self) -> None:
        self.set_header("Content-Length", "5")


class EchoSocket(websocket.WebSocketHandler):
    def initialize(self, seen: list, prefix: str) -> None:
        self.seen = seen

    def select_subprotocol(self, subprotocols):
        return "v1.echo" if "v1.echo" in subprotocols else None

    async def on_message(self, message):
        if message == "close-please":
            self.close(4002, "asked to")
        else:
            await self.write_message(message, binary=isinstance(message, bytes))

    def on_close(self) -> None:
        self.seen.append({"closed": self.close_code, "reason": self.close_reason})


@pytest.fixture
def echo(server, jp_asyncio_loop, monkeypatch, test_owner):
    """The host's manager points workspace ECHO_ID at the echo server; returns what it saw."""
    manager = server[0]
    prefix = f"{BASE_URL}workspace-launcher/workspaces/{ECHO_ID}/"
    seen: list = []
    app = web.Application([(re.escape(prefix) + "ws", EchoSocket, {"seen": seen, "prefix": prefix}),
                           (re.escape(prefix) + ".*", EchoHandler, {"seen": seen, "prefix": prefix})])
    sockets = bind_sockets(0, "127.0.0.1")
    port = sockets[0].getsockname()[1]

    async def start() -> HTTPServer:
        http_server = HTTPServer(app)
        http_server.add_sockets(sockets)
        return http_server

    http_server = jp_asyncio_loop.run_until_complete(start())
    real_connection = manager.connection

    async def connection(*, owner, workspace_id):
        if workspace_id != ECHO_ID:
            return await real_connection(owner=owner, workspace_id=workspace_id)
        if owner != test_owner:
            raise NotFound(f"no workspace {workspace_id}")
        return Upstream("127.0.0.1", port, prefix, ECHO_TOKEN)

    monkeypatch.setattr(manager, "connection", connection)
    yield seen
    http_server.stop()
    jp_asyncio_loop.run_until_complete(http_server.close_all_connections())


# -- through the proxy to a real workspace ---------------------------------------------------
async def test_a_kernel_runs_in_the_workspace_through_the_proxy(jp_fetch, jp_ws_fetch, workspace, server):
    manager = server[0]
    response = await jp_fetch(*WS, workspace.id, "api", "kernels", method="POST", body=json.dumps({"name": "python3"}))
    assert response.code == 201
    kernel_id = json.loads(response.body)["id"]
    try:
        ws = await jp_ws_fetch(*WS, workspace.id, "api", "kernels", kernel_id, "channels")
        msg_id = uuid.uuid4().hex
        header = {"msg_id": msg_id, "msg_type": "execute_request", "username": "test", "session": uuid.uuid4().hex,
                  "version": "5.3", "date": "2024-01-01T00:00:00Z"}
        content = {"code": "import socket; print(socket.gethostname())", "silent": False, "store_history": False,
                   "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}
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
                break
        ws.close()
        assert printed.strip() == workspace.name
        assert manager.proxy_idle_seconds(workspace.id) < 5
        # JupyterLab's binary kernel protocol: the workspace's choice reaches the browser.
        ws = await jp_ws_fetch(*WS, workspace.id, "api", "kernels", kernel_id, "channels",
                               subprotocols=["v1.kernel.websocket.jupyter.org"])
        assert ws.selected_subprotocol == "v1.kernel.websocket.jupyter.org"
        ws.close()
    finally:
        await jp_fetch(*WS, workspace.id, "api", "kernels", kernel_id, method="DELETE")


async def test_a_terminal_runs_in_the_workspace_through_the_proxy(jp_fetch, jp_ws_fetch, workspace):
    response = await jp_fetch(*WS, workspace.id, "api", "terminals", method="POST", body="{}")
    name = json.loads(response.body)["name"]
    try:
        ws = await jp_ws_fetch(*WS, workspace.id, "terminals", "websocket", name)
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
        await jp_fetch(*WS, workspace.id, "api", "terminals", name, method="DELETE")


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


async def download(client, url: str, headers: dict) -> tuple[str, float]:
    digest = hashlib.sha256()
    started = time.monotonic()
    response = await fetch(client, url, headers=headers, streaming_callback=digest.update, request_timeout=300)
    assert response.code == 200
    return digest.hexdigest(), time.monotonic() - started


async def test_100_mb_streams_both_ways_without_growing_the_host(server, workspace, client, tmp_path, docker_client):
    manager, host, token = server
    local = tmp_path / "big.bin"
    sha256 = random_file(local, 100)
    proxied = f"{host}workspace-launcher/workspaces/{workspace.id}/"
    upstream = await manager.connection(owner=workspace.owner, workspace_id=workspace.id)
    workspace_token = upstream.token
    direct = str(upstream.url(upstream.base_url))

    with RssSampler() as upload_rss:
        up_proxied = await upload(client, proxied + "api/contents/big.bin", local, auth(token))
    result = docker_client.containers.get(workspace.container_id).exec_run(["sha256sum", "/home/jovyan/work/big.bin"])
    assert result.output.decode().split()[0] == sha256
    with RssSampler() as download_rss:
        downloaded, down_proxied = await download(client, proxied + "files/big.bin", auth(token))
    assert downloaded == sha256

    up_direct = await upload(client, direct + "api/contents/direct.bin", local, auth(workspace_token))
    _, down_direct = await download(client, direct + "files/direct.bin", auth(workspace_token))
    print(f"\n100 MiB upload: proxied {up_proxied:.2f} s, direct {up_direct:.2f} s; download: proxied "
          f"{down_proxied:.2f} s, direct {down_direct:.2f} s; host RSS growth: upload "
          f"{upload_rss.growth / MIB:.1f} MiB, download {download_rss.growth / MIB:.1f} MiB")
    assert upload_rss.growth < 24 * MIB and download_rss.growth < 24 * MIB


async def test_a_browser_session_works_with_the_host_xsrf_cookie(server, workspace, client):
    """JupyterLab in the workspace: logged in by the host's cookie, sending the host's _xsrf."""
    _, host, token = server
    prefix = f"{host}workspace-launcher/workspaces/{workspace.id}/"
    workspace_token = (await server[0].connection(owner=workspace.owner, workspace_id=workspace.id)).token
    page = await fetch(client, prefix + f"lab?token={token}")
    assert page.code == 200 and b"<html" in page.body.lower()
    cookies = SimpleCookie()
    for header in page.headers.get_list("Set-Cookie"):
        cookies.load(header)
    assert set(cookies) == {"_xsrf", f"username-127-0-0-1-{host.split(':')[2].split('/')[0]}"}
    assert all(c["path"] == BASE_URL for c in cookies.values())
    assert workspace_token.encode() not in page.body
    browser = {"Cookie": "; ".join(f"{k}={v.value}" for k, v in cookies.items())}

    assert (await fetch(client, prefix + "api/kernels", method="POST", body="{}", headers=browser)).code == 403
    created = await fetch(client, prefix + "api/kernels", method="POST", body="{}",
                          headers={**browser, "X-XSRFToken": cookies["_xsrf"].value})
    assert created.code == 201
    kernel = json.loads(created.body)["id"]
    gone = await fetch(client, prefix + f"api/kernels/{kernel}", method="DELETE",
                       headers={**browser, "X-XSRFToken": cookies["_xsrf"].value})
    assert gone.code == 204
    # The workspace's own error pages embed its token for logged-in users; the proxy strips it.
    missing = await fetch(client, prefix + "no-such-page", headers=auth(token))
    assert missing.code == 404 and workspace_token.encode() not in missing.body


# -- authentication, lookup and bad input ------------------------------------------------------
@pytest.mark.parametrize("jp_server_config", [True, False], indirect=True, ids=["default", "no-unauthenticated-access"])
async def test_unauthenticated_requests_are_refused_before_any_forwarding(server, echo, workspace, client):
    _, host, _ = server
    for workspace_id in (ECHO_ID, workspace.id):
        prefix = f"{host}workspace-launcher/workspaces/{workspace_id}/"
        for headers in ({}, auth("wrong-token"), {"Cookie": "username-127-0-0-1-1=forged; _xsrf=x"}):
            for method in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
                body = b"{}" if method in ("POST", "PUT", "PATCH") else None
                response = await fetch(client, prefix + "api/contents/x", method=method, body=body, headers=headers)
                assert response.code == 403, f"{method} api answered {response.code}"
                response = await fetch(client, prefix + "lab", method=method, body=body, headers=headers)
                if method in ("GET", "HEAD"):
                    assert response.code == 302 and "/login?next=" in response.headers["Location"]
                else:
                    assert response.code == 403, f"{method} page answered {response.code}"
            for path in ("api/kernels/k/channels", "terminals/websocket/1", "ws"):
                with pytest.raises(HTTPClientError) as info:
                    await websocket_connect(HTTPRequest(prefix.replace("http:", "ws:") + path, headers=headers))
                assert info.value.code == 403
    assert echo == []


async def test_unknown_malformed_and_foreign_ids(server, workspace, client, jp_serverapp, monkeypatch):
    _, host, token = server
    base = f"{host}workspace-launcher/workspaces/"
    assert (await fetch(client, base + "fedcba987654/lab", headers=auth(token))).code == 404
    for raw_id in ("..", "0123456789ab%2F..%2F..", "127.0.0.1:22", "127.0.0.1%3A22", "%2e%2e", "ABCDEF012345"):
        response = await fetch(client, base + raw_id + "/api/status", headers=auth(token))
        assert response.code in (400, 404), f"{raw_id} answered {response.code}"
    script = "%3Cscript%3Ealert(1)%3C%2Fscript%3E"
    for path in ("/lab", "/api/status"):
        response = await fetch(client, base + script + path, headers=auth(token))
        assert response.code == 400 and b"<script>" not in response.body
        assert b"&lt;script&gt;" in response.body or b"\\u003cscript\\u003e" in response.body
    monkeypatch.setitem(jp_serverapp.web_app.settings, "workspace_launcher_owner", "someone-else")
    response = await fetch(client, base + workspace.id + "/api/status", headers=auth(token))
    assert response.code == 404


async def test_paths_may_not_leave_the_workspace(server, echo, client):
    _, host, token = server
    prefix = f"{host}workspace-launcher/workspaces/{ECHO_ID}"
    for rest in ("/..", "/../../api/status", "/..%2F..%2Fapi%2Fstatus", "/%2e%2e/%2E%2E/x", "/a/..%5C..%5C..%5Cx"):
        response = await fetch(client, prefix + rest, headers=auth(token))
        assert response.code == 400, f"{rest} answered {response.code}"
    assert echo == []
    response = await fetch(client, prefix, headers=auth(token))
    assert response.code == 302 and response.headers["Location"] == f"{BASE_URL}workspace-launcher/workspaces/{ECHO_ID}/"


async def test_a_stopped_workspace_answers_503_with_a_way_back(server, session_config, minimal_image, test_owner, client):
    _, host, token = server
    manager = WorkspaceManager(config=session_config, base_url=BASE_URL)
    stopped = await manager.launch(owner=test_owner, profile="minimal", name="stopped")
    try:
        await manager.stop(owner=test_owner, workspace_id=stopped.id)
        prefix = f"{host}workspace-launcher/workspaces/{stopped.id}/"
        page = await fetch(client, prefix + "lab", headers=auth(token))
        assert page.code == 503 and page.headers["Content-Type"].startswith("text/html")
        assert b"stopped" in page.body and f'href="{BASE_URL}lab"'.encode() in page.body
        api = await fetch(client, prefix + "api/status", headers=auth(token))
        assert api.code == 503 and "stopped" in json.loads(api.body)["message"]
    finally:
        await manager.delete(owner=test_owner, workspace_id=stopped.id, purge=True)
        manager.engine.close()


# -- what crosses the proxy, against the echo server ------------------------------------------
async def test_host_credentials_never_reach_the_workspace(server, echo, client):
    _, host, token = server
    prefix = f"{host}workspace-launcher/workspaces/{ECHO_ID}/"
    page = await fetch(client, prefix + f"echo?token={token}&keep=1&_xsrf=abc")
    cookies = SimpleCookie()
    for header in page.headers.get_list("Set-Cookie"):
        cookies.load(header)
    login = next(name for name in cookies if name.startswith("username-"))
    browser = {
        "Cookie": f"{login}={cookies[login].value}; _xsrf={cookies['_xsrf'].value}; app=1; jupyterhub-session-id=s",
        "X-XSRFToken": cookies["_xsrf"].value,
        "Origin": host.split("/a%40b/")[0],
        "X-Forwarded-For": "6.6.6.6",
    }
    response = await fetch(client, prefix + "echo?keep=2", method="POST", body=b"x" * 100_000, headers=browser)
    assert response.code == 200
    by_token = await fetch(client, prefix + "echo?keep=3", method="PUT", body=b"{}", headers=auth(token))
    assert by_token.code == 200
    assert len(echo) == 3
    for seen in echo:
        headers = {k.lower(): v for k, v in seen["headers"].items()}
        assert token not in json.dumps(seen) and cookies["_xsrf"].value not in json.dumps(seen)
        assert headers["authorization"] == f"token {ECHO_TOKEN}"
        assert "token=" not in seen["uri"] and "_xsrf" not in seen["uri"] and "keep=" in seen["uri"]
        assert headers["host"].startswith("127.0.0.1:")
        assert "x-xsrftoken" not in headers
        assert headers["x-forwarded-for"] == "127.0.0.1" and headers["x-forwarded-proto"] == "http"
    posted = {k.lower(): v for k, v in echo[1]["headers"].items()}
    assert posted["cookie"] == "app=1" and posted["content-length"] == "100000"
    assert posted["origin"] == f"http://{posted['host']}"


async def test_responses_stay_inside_the_workspace(server, echo, client):
    _, host, token = server
    prefix_path = f"{BASE_URL}workspace-launcher/workspaces/{ECHO_ID}/"
    prefix = f"{host}workspace-launcher/workspaces/{ECHO_ID}/"
    for name, location in (("away", prefix_path), ("absolute", prefix_path + "lab?x=1"), ("up", prefix_path)):
        response = await fetch(client, prefix + name, headers=auth(token))
        assert response.code == 302 and response.headers["Location"] == location, name
    cookies = (await fetch(client, prefix + "cookies", headers=auth(token))).headers.get_list("Set-Cookie")
    # The host's own login and _xsrf cookies (its XSRF check needs the latter), scoped to the host.
    host_cookies = [c for c in cookies if c.endswith(f"Path={BASE_URL}")]
    assert sorted(c.split("=")[0] for c in host_cookies) == ["_xsrf", f"username-{host.split('//')[1].split('/')[0].replace('.', '-').replace(':', '-')}"]
    assert not any("workspace-xsrf" in c or "cred" in c for c in host_cookies)
    assert sorted(set(cookies) - set(host_cookies)) == [f"app=1; Path={prefix_path}", f"deep=2; Path={prefix_path}sub/; HttpOnly"]
    page = await fetch(client, prefix + "page", headers=auth(token))
    assert page.body == b"<body data-token=''>hello </body>"
    head = await fetch(client, prefix + "echo", method="HEAD", headers=auth(token))
    assert head.code == 200 and head.body == b"" and head.headers["Content-Length"] == "5"


async def test_broken_responses_and_departed_browsers_end_both_sides(server, echo, client):
    _, host, token = server
    prefix = f"{host}workspace-launcher/workspaces/{ECHO_ID}/"
    with pytest.raises(HTTPClientError) as info:  # cut short as the workspace did: no hang, no "complete" body
        await fetch(client, prefix + "broken", headers=auth(token), request_timeout=10)
    assert info.value.code == 599
    received = []

    def leave(chunk: bytes) -> None:
        received.append(len(chunk))
        if sum(received) > 4 * MIB:
            raise ConnectionAbortedError("the browser tab was closed")

    with pytest.raises(HTTPClientError):
        await client.fetch(HTTPRequest(prefix + "endless", headers=auth(token), streaming_callback=leave))
    for _ in range(100):  # the proxy lets go of the workspace's response too
        if {"endless": "reader gone"} in echo:
            break
        await asyncio.sleep(0.05)
    assert {"endless": "reader gone"} in echo


async def test_websockets_relay_both_ways_with_close_codes(server, echo, jp_ws_fetch):
    manager = server[0]
    ws = await jp_ws_fetch(*WS, ECHO_ID, "ws", subprotocols=["v1.echo", "other"])
    assert ws.selected_subprotocol == "v1.echo"
    await ws.write_message("hello")
    assert await ws.read_message() == "hello"
    await ws.write_message(b"\x00\x01binary", binary=True)
    assert await ws.read_message() == b"\x00\x01binary"
    await ws.write_message("close-please")
    assert await ws.read_message() is None
    assert (ws.close_code, ws.close_reason) == (4002, "asked to")
    ws.close()
    assert manager.proxy_idle_seconds(ECHO_ID) < 5

    ws = await jp_ws_fetch(*WS, ECHO_ID, "ws")
    assert ws.selected_subprotocol is None
    ws.close(4003, "browser leaves")
    for _ in range(100):
        if echo and "closed" in echo[-1] and echo[-1]["closed"] == 4003:
            break
        await asyncio.sleep(0.05)
    assert echo[-1] == {"closed": 4003, "reason": "browser leaves"}


# -- the pure rules, directly --------------------------------------------------------------------
def test_redaction_survives_any_chunking():
    body = b"<p>" + ECHO_TOKEN.encode() + b"</p><i>" + ECHO_TOKEN.encode() + b"</i>"
    for size in (1, 2, 7, len(ECHO_TOKEN) - 1, len(ECHO_TOKEN), 1000):
        redact = Redactor(ECHO_TOKEN.encode())
        out = b"".join(redact(body[i : i + size]) for i in range(0, len(body), size)) + redact.end()
        assert out == b"<p></p><i></i>", size


@pytest.mark.parametrize(
    "path,inside",
    [("/p/x/", True), ("/p/x", True), ("/p/x/a/../b", True), ("/p/x/..", False), ("/p/x/%2e%2e/y", False),
     ("/p/x/a%2F..%2F..%2Fy", False), ("/p/x/..%5Cy", False), ("/p/xy", False), ("//p/x/", False)],
)
def test_within(path, inside):
    assert within(path, "/p/x/") is inside


def test_close_codes_and_queries():
    assert [sendable_close_code(c) for c in (None, 1000, 1005, 1006, 1015, 4001, 999)] == [None, 1000, None, 1011, 1011, 4001, 1011]
    assert forwarded_query("a=1&token=t&Token=x&%5Fxsrf=y&_xsrf=z&b=%20") == "a=1&Token=x&b=%20"
