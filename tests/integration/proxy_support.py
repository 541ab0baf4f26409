"""What the proxy's integration tests share: the host server, an HTTP client that resolves
``*.localhost`` as browsers do, the handshake as a browser makes it, and a loopback stand-in
for a workspace that records what it receives.

Import the fixtures into a test module by name (pytest finds them there).
"""

from __future__ import annotations

import asyncio
import re
import socket
from dataclasses import dataclass
from http.cookies import SimpleCookie
from urllib.parse import urlsplit

import pytest
from tornado import web, websocket
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.httpserver import HTTPServer
from tornado.iostream import StreamClosedError
from tornado.netutil import DefaultLoopResolver, bind_sockets
from tornado.websocket import websocket_connect

from workspace_launcher.errors import NotFound
from workspace_launcher.proxy.sessions import COOKIE_NAME
from workspace_launcher.workspaces.manager import WorkspaceManager
from workspace_launcher.workspaces.upstream import Upstream

from .conftest import make_config

#: pytest-jupyter's default (odd) base URL; the module's workspace is launched for it.
BASE_URL = "/a%40b/"
ECHO_ID = "0123456789ab"
OTHER_ID = "ba9876543210"
ECHO_TOKEN = "echo-workspace-token-0123456789abcdef"
MIB = 2**20


class LocalhostResolver(DefaultLoopResolver):
    """Resolves every ``*.localhost`` name to loopback, as browsers do (the system may not)."""

    async def resolve(self, host, port, family=socket.AF_UNSPEC):
        if host == "localhost" or host.endswith(".localhost"):
            host, family = "127.0.0.1", socket.AF_INET
        return await super().resolve(host, port, family)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"token {token}"}


async def fetch(client, url: str, **kwargs):
    kwargs.setdefault("follow_redirects", False)
    kwargs.setdefault("allow_nonstandard_methods", True)
    return await client.fetch(HTTPRequest(url, **kwargs), raise_error=False)


def set_cookies(response) -> SimpleCookie:
    cookies = SimpleCookie()
    for header in response.headers.get_list("Set-Cookie"):
        cookies.load(header)
    return cookies


@dataclass
class Host:
    """The real host server (this package's extension inside pytest-jupyter's server)."""

    manager: object
    url: str  # http://127.0.0.1:PORT/a%40b/
    token: str
    port: int

    def origin_of(self, workspace_id: str) -> str:
        return f"http://{workspace_id}.localhost:{self.port}"

    def prefix(self, workspace_id: str) -> str:
        return f"{BASE_URL}workspace-launcher/workspaces/{workspace_id}/"

    def at(self, workspace_id: str, rest: str = "") -> str:
        """A URL on the workspace's own origin, below its prefix."""
        return self.origin_of(workspace_id) + self.prefix(workspace_id) + rest

    def open_url(self, workspace_id: str, query: str = "") -> str:
        return f"{self.url}workspace-launcher/open/{workspace_id}" + (f"?{query}" if query else "")


@dataclass
class Session:
    """A workspace session as a browser holds it after the handshake."""

    workspace_id: str
    value: str
    landed: str  # where the handshake sent the browser

    @property
    def cookie(self) -> dict[str, str]:
        return {"Cookie": f"{COOKIE_NAME}={self.value}"}


async def handshake_code(client, host: Host, workspace_id: str, query: str = "") -> str:
    """The first half: the host (logged in by its token) redirects to the workspace's origin."""
    opened = await fetch(client, host.open_url(workspace_id, query), headers=auth(host.token))
    assert opened.code == 302, (opened.code, opened.body[:300])
    location = opened.headers["Location"]
    assert location.startswith(host.origin_of(workspace_id) + f"{BASE_URL}workspace-launcher/session?code="), location
    assert opened.headers["Referrer-Policy"] == "no-referrer"
    return location


async def open_session(client, host: Host, workspace_id: str, query: str = "") -> Session:
    """Both halves, as a browser follows them: the code is traded for the session cookie."""
    traded = await fetch(client, await handshake_code(client, host, workspace_id, query))
    assert traded.code == 302, (traded.code, traded.body[:300])
    cookie = set_cookies(traded)[COOKIE_NAME]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/" and not cookie["domain"]
    return Session(workspace_id, cookie.value, traded.headers["Location"])


async def ws_connect(url: str, headers: dict, subprotocols=None):
    request = HTTPRequest(url.replace("http://", "ws://"), headers=headers)
    return await websocket_connect(request, subprotocols=subprotocols, resolver=LocalhostResolver())


# -- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture
def jp_server_config(request, dataset_root, tmp_path, test_owner):
    config = make_config(dataset_root, tmp_path)
    config.WorkspaceLauncherApp.owner = test_owner
    # The host's own terminals are not needed (the workspace's are proxied).
    config.ServerApp.jpserver_extensions = {"workspace_launcher": True, "jupyter_server_terminals": False}
    for key, value in getattr(request, "param", {}).items():
        section, name = key.split(".")
        setattr(getattr(config, section), name, value)
    return config


@pytest.fixture(scope="module")
def workspace(request, session_config, minimal_image, test_owner):
    """One real ``minimal`` workspace of the run's owner for each module that imports this
    fixture, launched for the host's base URL and named after the module (``test_proxy.py``:
    ``proxy``); purged after the module's last test."""
    name = request.module.__name__.rpartition(".")[2].removeprefix("test_")
    manager = WorkspaceManager(config=session_config, base_url=BASE_URL)
    launched = asyncio.run(manager.launch(owner=test_owner, profile="minimal", name=name))
    yield launched
    asyncio.run(manager.delete(owner=test_owner, workspace_id=launched.id, purge=True))
    manager.engine.close()


@pytest.fixture
def host(jp_serverapp, http_server_client, jp_http_port, jp_base_url) -> Host:
    """The real host server, listening."""
    assert jp_base_url == BASE_URL
    manager = jp_serverapp.web_app.settings["workspace_launcher_manager"]
    return Host(manager, f"http://127.0.0.1:{jp_http_port}{jp_base_url}", jp_serverapp.identity_provider.token, jp_http_port)


@pytest.fixture
def client():
    client = AsyncHTTPClient(force_instance=True, max_body_size=2**31, max_buffer_size=2**27, resolver=LocalhostResolver())
    yield client
    client.close()


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
            for cookie in ("app=1; Path=/", f"_xsrf=workspace-xsrf; Path={self.prefix}", f"{COOKIE_NAME}=forged",
                           f"deep=2; Path={self.prefix}sub/; Domain=localhost; HttpOnly"):
                self.add_header("Set-Cookie", cookie)
        elif name == "origin-wide":  # what a workspace's server extension may answer
            self.set_header("Service-Worker-Allowed", "/")
            self.set_header("Clear-Site-Data", '"cookies", "storage"')
            self.set_header("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
            self.set_header("X-Kept", "yes")
            self.write("ok")
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
        elif name == "broken-big":  # a download big enough to be spliced, cut short
            self.set_header("Content-Type", "application/octet-stream")  # tornado's default, HTML, is redacted
            self.set_header("Content-Length", str(64 * MIB))
            self.write(b"x" * (6 * MIB))
            await self.flush()
            self.request.connection.stream.close()
        elif name == "big-page":  # an HTML page too big to splice: the token is still redacted
            self.set_header("Content-Type", "text/html")
            self.set_header("Content-Length", str(8 * MIB + len(ECHO_TOKEN)))
            self.write(b" " * (8 * MIB) + ECHO_TOKEN.encode())
        elif name in ("endless", "endless-big"):  # until the reader goes away
            if name == "endless-big":  # a length announced: the proxy splices it
                self.set_header("Content-Type", "application/octet-stream")
                self.set_header("Content-Length", str(2**40))
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

    def check_origin(self, origin: str) -> bool:
        return True  # the proxy sends the upstream's own origin; this records whatever comes

    def select_subprotocol(self, subprotocols):
        return "v1.echo" if "v1.echo" in subprotocols else None

    async def open(self) -> None:
        self.seen.append({"ws-open": dict(self.request.headers.get_all())})

    async def on_message(self, message):
        if message == "close-please":
            self.close(4002, "asked to")
        else:
            await self.write_message(message, binary=isinstance(message, bytes))

    def on_close(self) -> None:
        self.seen.append({"closed": self.close_code, "reason": self.close_reason})


@pytest.fixture
def echo(host, jp_asyncio_loop, monkeypatch, test_owner):
    """The host's manager points workspaces ECHO_ID and OTHER_ID at one echo server; returns
    what it saw."""
    seen: list = []
    routes = []
    for workspace_id in (ECHO_ID, OTHER_ID):
        prefix = host.prefix(workspace_id)
        routes += [(re.escape(prefix) + "ws", EchoSocket, {"seen": seen, "prefix": prefix}),
                   (re.escape(prefix) + ".*", EchoHandler, {"seen": seen, "prefix": prefix})]
    sockets = bind_sockets(0, "127.0.0.1")
    port = sockets[0].getsockname()[1]

    async def start() -> HTTPServer:
        http_server = HTTPServer(web.Application(routes))
        http_server.add_sockets(sockets)
        return http_server

    http_server = jp_asyncio_loop.run_until_complete(start())
    real_connection = host.manager.connection

    async def connection(*, owner, workspace_id):
        if workspace_id not in (ECHO_ID, OTHER_ID):
            return await real_connection(owner=owner, workspace_id=workspace_id)
        if owner != test_owner:
            raise NotFound(f"no workspace {workspace_id}")
        return Upstream("127.0.0.1", port, host.prefix(workspace_id), ECHO_TOKEN, generation="echo-1")

    monkeypatch.setattr(host.manager, "connection", connection)
    yield seen
    http_server.stop()
    jp_asyncio_loop.run_until_complete(http_server.close_all_connections())


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def wait_for(condition, timeout: float = 5.0) -> bool:
    for _ in range(int(timeout / 0.05)):
        if condition():
            return True
        await asyncio.sleep(0.05)
    return condition()
