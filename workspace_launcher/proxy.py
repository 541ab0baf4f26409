"""The authenticated streaming reverse proxy from the host server to each workspace's Jupyter.

``{base_url}workspace-launcher/workspaces/{id}/...`` is answered by the workspace's own Jupyter,
which serves under that same prefix on a loopback port, so paths pass through unchanged.

Security, in the order :meth:`WorkspaceProxyHandler.prepare` applies it to EVERY request, the
WebSocket upgrade included (CVE-2024-28179 was an upgrade that skipped it):

1. the host's authentication: 403 for API paths and WebSocket upgrades, the login redirect for
   pages; then the host's authorizer (resource ``workspace_launcher``) and Origin check;
2. the host's own XSRF check, unchanged (see *Cookies* for why it suits the workspace's JupyterLab);
3. the target is looked up by id among the owner's workspaces; a host or port never comes from
   the URL, and the upstream is always one the engine reports (see ``upstream.py``);
4. host credentials are stripped and the workspace token is added server-side, so the browser
   never needs it; nor sees it: the workspace's Jupyter writes its token into the pages it serves
   a token-authenticated caller (JupyterLab's page config, error pages), so HTML is streamed
   through a redactor.

Cookies. The upstream is authenticated by the injected token, which makes it skip its own XSRF
check, so the host's check is the one that protects the workspace. For that to work with the
workspace's JupyterLab (which sends whatever ``_xsrf`` cookie it can read), there must be only one
``_xsrf`` cookie: the host's. So, both ways, these never pass: ``_xsrf``, ``username-*`` (Jupyter
login cookies: the host's is a host credential, the workspace's a workspace credential) and
``jupyterhub-*`` (a JupyterHub single-user host's session). Every other cookie passes: those are
set by apps in the workspace, and their ``Path`` is kept inside the workspace's prefix.

Bodies stream both ways with backpressure: a request body goes from ``data_received`` through a
small bounded queue into aiohttp; a response goes out chunk by chunk as aiohttp receives it
(whatever aiohttp holds by then), each awaited with ``flush``; aiohttp goes on reading the workspace
meanwhile, until its buffer holds ``2 * UPSTREAM_READ_BUFFER``, so the two sockets overlap.
"""

from __future__ import annotations

import asyncio
import html
import json
import posixpath
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, unquote_plus, urljoin, urlsplit, urlunsplit

import aiohttp
from jupyter_core.utils import ensure_async
from jupyter_server.auth.utils import HTTP_METHOD_TO_AUTH_ACTION
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from multidict import CIMultiDict
from tornado import httputil, web, websocket
from tornado.iostream import StreamClosedError
from yarl import URL

from .errors import Conflict, LauncherError
from .handlers import AUTH_RESOURCE, LauncherContext
from .upstream import Upstream

ROUTE = "/workspace-launcher/workspaces/"
#: Request chunks buffered between the browser and the workspace (with tornado's 64 KiB reads).
BODY_QUEUE_CHUNKS = 4
#: aiohttp's read buffer per upstream response; it pauses reading past twice this. Bigger than its
#: 64 KiB default so the workspace keeps sending while the browser's socket drains.
UPSTREAM_READ_BUFFER = 512 * 1024
#: Request bodies are streamed, so the host's buffering limit does not apply; the workspace's
#: Jupyter enforces its own (ServerApp.max_body_size).
MAX_BODY_SIZE = 1 << 40

HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
     "te", "trailer", "trailers", "transfer-encoding", "upgrade"}
)
#: Request headers never forwarded: host credentials (the XSRF headers carry the host's token),
#: headers the proxy sets itself, and the WebSocket handshake, which aiohttp makes anew.
DROPPED_REQUEST_HEADERS = HOP_BY_HOP | {
    "host", "authorization", "cookie", "expect", "origin", "x-xsrftoken", "x-csrftoken",
    "forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-port",
    "x-forwarded-prefix", "x-real-ip", "sec-websocket-key", "sec-websocket-version",
    "sec-websocket-extensions", "sec-websocket-protocol",
}
HOST_COOKIE_PREFIXES = ("username-", "jupyterhub-")
DROPPED_QUERY = frozenset({"token", "_xsrf"})
_UNSENDABLE_CLOSE_CODES = frozenset({1004, 1005, 1006, 1015})

ERROR_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1><p>{message}</p><p><a href="{lab}">Back to JupyterLab</a></p></body></html>
"""


def is_host_cookie(name: str, xsrf_cookie: str = "_xsrf", login_cookie: str | None = None) -> bool:
    """Cookies that never cross the proxy, either way (see the module's docstring)."""
    return name in (xsrf_cookie, login_cookie) or name.startswith(HOST_COOKIE_PREFIXES)


def forwarded_cookies(cookie_headers: list[str], **host_names: str | None) -> str:
    """The browser's cookies minus the host's, in their original order and form."""
    kept = []
    for header in cookie_headers:
        for item in header.split(";"):
            item = item.strip()
            if item and not is_host_cookie(item.partition("=")[0].strip(), **host_names):
                kept.append(item)
    return "; ".join(kept)


def forwarded_query(query: str) -> str:
    """The query string minus the host's credentials (``token``, ``_xsrf``), byte for byte."""
    return "&".join(p for p in query.split("&") if p and unquote_plus(p.partition("=")[0]) not in DROPPED_QUERY)


def within(path: str, prefix: str) -> bool:
    """Whether ``path``, percent-decoded and with dot segments resolved, stays under ``prefix``.

    Decoding first means ``%2e%2e`` and ``%2F`` cannot smuggle a ``..`` past the check.
    """
    decoded = unquote(path).replace("\\", "/")
    root = unquote(prefix).rstrip("/")
    normal = posixpath.normpath(decoded) if decoded else ""
    return normal == root or normal.startswith(root + "/")


def rewrite_location(location: str, *, prefix: str, upstream: Upstream, request_path: str) -> str:
    """Keep a redirect inside the workspace: an absolute URL to the upstream itself becomes a path,
    and anything that would leave the prefix (another host, ``..``) becomes the prefix's root."""
    parts = urlsplit(location)
    if parts.scheme or parts.netloc:
        try:
            to_upstream = upstream.is_self(parts.hostname, parts.port)
        except ValueError:
            to_upstream = False
        if not to_upstream or parts.scheme not in ("http", "https"):
            return prefix
    path = urljoin(request_path, parts.path) if parts.path else request_path
    if not within(path, prefix):
        return prefix
    return urlunsplit(("", "", path, parts.query, parts.fragment))


def rewrite_set_cookie(value: str, *, prefix: str, xsrf_cookie: str = "_xsrf") -> str | None:
    """A workspace's ``Set-Cookie`` scoped to its prefix and host-only; ``None`` drops it."""
    name_value, *attributes = value.split(";")
    if is_host_cookie(name_value.partition("=")[0].strip(), xsrf_cookie):
        return None
    path = prefix
    kept = [name_value.strip()]
    for attribute in attributes:
        key, _, attribute_value = attribute.strip().partition("=")
        if key.lower() == "path":
            if within(attribute_value.strip() or "/", prefix):
                path = attribute_value.strip()
        elif key.lower() != "domain" and key:
            kept.append(attribute.strip())
    kept.insert(1, f"Path={path}")
    return "; ".join(kept)


def sendable_close_code(code: int | None) -> int | None:
    """A close code that may go in a close frame (1005, 1006 and 1015 only describe closes)."""
    if code is None or code == 1005:
        return None
    if code in _UNSENDABLE_CLOSE_CODES or not (1000 <= code <= 1014 or 3000 <= code <= 4999):
        return 1011
    return code


class Redactor:
    """Removes a secret from a streamed body, even where it straddles two chunks."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self._carry = b""

    def __call__(self, chunk: bytes) -> bytes:
        data = self._carry + chunk
        while self.secret in data:
            data = data.replace(self.secret, b"")
        keep = len(self.secret) - 1
        self._carry, data = (data[-keep:], data[:-keep]) if keep else (b"", data)
        return data

    def end(self) -> bytes:
        rest, self._carry = self._carry, b""
        return rest


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


@web.stream_request_body
class WorkspaceProxyHandler(LauncherContext, websocket.WebSocketHandler, JupyterHandler):
    """Proxies HTTP (any method, streamed) and WebSockets to one of the owner's workspaces."""

    def initialize(self) -> None:
        headers = self.request.headers
        self._upgrade = self.request.method == "GET" and headers.get("Upgrade", "").lower() == "websocket"
        _, slash, rest = self.request.path.partition(ROUTE)[2].partition("/")
        self._rest = slash + rest  # raw, as sent: forwarded byte for byte
        #: API calls and WebSocket upgrades get 403 and JSON errors; pages a login redirect and HTML.
        self._api = self._upgrade or self._rest == "/api" or self._rest.startswith("/api/")
        self._target: Target | None = None
        self._body: BodyPipe | None = None
        self._upstream: asyncio.Task[aiohttp.ClientResponse] | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- the gate every request passes, WebSocket upgrades included --------------------------
    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare(_redirect_to_login=not self._api)  # JupyterHandler: auth and XSRF
        if self._finished:
            return
        if self.current_user is None:  # also when the server allows unauthenticated access
            if self._api:
                raise web.HTTPError(403)
            web.authenticated(lambda handler: None)(self)  # login redirect; 403 but for GET/HEAD
            return
        action = "execute" if self._upgrade else HTTP_METHOD_TO_AUTH_ACTION[self.request.method or "GET"]
        user = self.current_user
        if not await ensure_async(self.authorizer.is_authorized(self, user, action, AUTH_RESOURCE)):
            raise web.HTTPError(403, "you are not authorized to %s workspaces", action)
        if not self.check_origin():
            raise web.HTTPError(403, "cross-origin requests to workspaces are not allowed")
        workspace_id = self.path_kwargs["workspace_id"]
        try:
            upstream = await self.manager.connection(owner=self.owner, workspace_id=workspace_id)
        except Conflict as e:
            raise web.HTTPError(503, "%s", e.message) from e
        except LauncherError as e:
            raise web.HTTPError(e.status_code, "%s", e.message) from e
        self.manager.record_activity(workspace_id)
        prefix = upstream.base_url
        if not self._rest:  # ".../workspaces/<id>" without the slash the workspace serves under
            if self._upgrade or self.request.method not in ("GET", "HEAD"):
                raise web.HTTPError(404)
            query = forwarded_query(self.request.query)
            self.redirect(prefix + ("?" + query if query else ""))
            return
        path = prefix + self._rest[1:]
        if not within(path, prefix):
            raise web.HTTPError(400, "the path leaves the workspace")
        query = forwarded_query(self.request.query)
        self._target = Target(workspace_id, upstream, path + ("?" + query if query else ""))
        if not self._api and self.request.method == "GET":
            _ = self.xsrf_token  # sets the host's _xsrf cookie if missing: the workspace's JupyterLab sends it
        if not self._upgrade:
            self._start_upstream()

    def check_origin(self, origin_to_satisfy_tornado: str = "") -> bool:
        """The host's Origin check (token-authenticated clients and allow_origin honoured)."""
        return JupyterHandler.check_origin(self, origin_to_satisfy_tornado)

    def compute_etag(self) -> str | None:
        return None  # the workspace's validators pass through untouched

    def _upstream_headers(self, target: Target) -> CIMultiDict[str]:
        """The browser's headers minus host credentials and hop-by-hop ones, plus the token."""
        request_headers = self.request.headers
        listed = {name.strip().lower() for name in request_headers.get("Connection", "").split(",")}
        headers: CIMultiDict[str] = CIMultiDict()
        for name, value in request_headers.get_all():
            if name.lower() not in DROPPED_REQUEST_HEADERS and name.lower() not in listed:
                headers.add(name, value)
        if cookies := forwarded_cookies(request_headers.get_list("Cookie"), **self._host_cookie_names()):
            headers["Cookie"] = cookies
        if "Origin" in request_headers:  # already checked against the host: same-origin upstream
            headers["Origin"] = target.upstream.origin
        headers["Authorization"] = f"token {target.token}"
        headers["X-Forwarded-For"] = self.request.remote_ip or ""
        headers["X-Forwarded-Proto"] = self.request.protocol
        headers["X-Forwarded-Host"] = self.request.host
        return headers

    def _host_cookie_names(self) -> dict[str, str | None]:
        login_name = getattr(self.identity_provider, "get_cookie_name", None)  # a custom provider may lack it
        return {"xsrf_cookie": self._xsrf_cookie, "login_cookie": login_name(self) if login_name else None}

    @property
    def _xsrf_cookie(self) -> str:
        return self.settings.get("xsrf_cookie_name", "_xsrf")

    # -- HTTP -------------------------------------------------------------------------------
    def _start_upstream(self) -> None:
        """Send the request upstream now, so the body can stream while it arrives."""
        assert self._target is not None
        headers = self.request.headers
        if headers.get("Content-Length", "0") != "0" or "Transfer-Encoding" in headers:
            self.request.connection.set_max_body_size(MAX_BODY_SIZE)  # type: ignore[union-attr]
            self._body = BodyPipe()
        self._upstream = self._keep(asyncio.ensure_future(self._request(self._target, self._body)))
        if self._body is not None:
            self._upstream.add_done_callback(lambda _: self._body and self._body.abandon())

    async def _request(self, target: Target, body: BodyPipe | None) -> aiohttp.ClientResponse:
        return await upstream_session().request(
            self.request.method or "GET",
            target.url(),
            headers=self._upstream_headers(target),
            data=body.chunks() if body is not None else None,
            allow_redirects=False,
        )

    async def data_received(self, chunk: bytes) -> None:
        if self._body is not None:
            await self._body.put(chunk)

    async def _relay(self) -> None:
        """Answer with the workspace's response, streamed chunk by chunk with backpressure."""
        assert self._upstream is not None and self._target is not None
        if self._body is not None:
            await self._body.finish()
        try:
            response = await self._upstream
        except aiohttp.ClientError as e:
            self.log.warning("workspace %s did not answer: %s", self._target.workspace_id, e)
            raise web.HTTPError(503, "workspace %s is not answering; it may be stopping or restarting",
                                self._target.workspace_id) from e
        complete = False
        try:
            redact = self._copy_response_head(response, self._target)
            async for chunk in response.content.iter_any():  # as received: no re-slicing into copies
                if chunk := redact(chunk) if redact else chunk:
                    self.write(chunk)
                    await self.flush()
            if redact and (tail := redact.end()):
                self.write(tail)
            complete = True
        except StreamClosedError:
            self.log.debug("browser left during a proxied %s of %s", self.request.method, self.request.path)
            return
        except aiohttp.ClientError as e:  # the headers are gone: all that is left is to cut it short
            self.log.warning("workspace %s broke off a response: %s", self._target.workspace_id, e)
            self.request.connection.close()  # type: ignore[union-attr]
            return
        finally:
            if complete:
                response.release()
            else:
                response.close()
        self.manager.record_activity(self._target.workspace_id)
        self.finish()

    def _copy_response_head(self, response: aiohttp.ClientResponse, target: Target) -> Redactor | None:
        """Status and headers from the workspace, with Location and Set-Cookie kept inside it.

        HTML is redacted of the workspace token: Jupyter's own page template embeds the token
        for logged-in users, and the browser must never get it.
        """
        content_type = response.headers.get("Content-Type", "")
        encoded = response.headers.get("Content-Encoding", "identity").lower() != "identity"
        html_body = content_type.startswith("text/html") and not encoded and self.request.method != "HEAD"
        redact = Redactor(target.token.encode()) if html_body else None
        self.set_status(response.status, response.reason)
        self._headers = httputil.HTTPHeaders()  # not the host's defaults: the workspace's own
        listed = {name.strip().lower() for name in response.headers.get("Connection", "").split(",")}
        prefix = target.prefix
        for name, value in response.headers.items():
            key = name.lower()
            if key in HOP_BY_HOP or key in listed or (key == "content-length" and redact):
                continue
            if key == "location":
                value = rewrite_location(value, prefix=prefix, upstream=target.upstream, request_path=self.request.path)
            elif key == "set-cookie":
                if (cookie := rewrite_set_cookie(value, prefix=prefix, xsrf_cookie=self._xsrf_cookie)) is None:
                    continue
                value = cookie
            self.add_header(name, value)
        return redact

    @web.authenticated
    async def get(self, workspace_id: str, path: str | None = None) -> None:
        if self._upgrade:
            await self._open_websocket()
        else:
            await self._relay()

    @web.authenticated
    async def post(self, workspace_id: str, path: str | None = None) -> None:
        await self._relay()

    head = put = patch = delete = options = post

    # -- WebSocket --------------------------------------------------------------------------
    async def _open_websocket(self) -> None:
        """Connect upstream first, so the browser gets the subprotocol the workspace chose, or
        the workspace's refusal (a missing kernel's 404) as the answer to its upgrade."""
        assert self._target is not None
        offered = [p.strip() for p in self.request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        offered = [p for p in offered if p]
        try:
            self._ws = await upstream_session().ws_connect(
                self._target.url("ws"), headers=self._upstream_headers(self._target), protocols=offered,
                max_msg_size=0,
            )
        except aiohttp.WSServerHandshakeError as e:
            raise web.HTTPError(e.status if 400 <= e.status < 600 else 502,
                                "the workspace refused the WebSocket: %s", e.message) from e
        except aiohttp.ClientError as e:
            raise web.HTTPError(503, "workspace %s is not answering", self._target.workspace_id) from e
        try:
            await websocket.WebSocketHandler.get(self)  # returns when the WebSocket is over
        finally:
            if self.get_status() != 101:  # refused here (Origin, version): close the workspace's side
                await self._ws.close()

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return self._ws.protocol if self._ws is not None else None

    def open(self, *args: str, **kwargs: str) -> None:
        # Kernel replies are bursts of small messages; with Nagle's algorithm on, each after the
        # first waits for the browser's delayed ACK (40 ms). aiohttp's upstream side has it off.
        self.set_nodelay(True)
        self._keep(asyncio.ensure_future(self._from_upstream()))

    async def _from_upstream(self) -> None:
        """Workspace to browser, message by message, until either side closes."""
        assert self._ws is not None and self._target is not None
        code, reason = None, None
        while True:
            message = await self._ws.receive()
            if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                self.manager.record_activity(self._target.workspace_id)
                try:
                    await self.write_message(message.data, binary=message.type is aiohttp.WSMsgType.BINARY)
                except websocket.WebSocketClosedError:
                    break
            else:  # CLOSE carries the workspace's code and reason; CLOSED and ERROR end it too
                if message.type is aiohttp.WSMsgType.CLOSE:
                    code, reason = message.data, message.extra
                else:
                    code = self._ws.close_code
                break
        self.close(sendable_close_code(code), reason)

    async def on_message(self, message: str | bytes) -> None:
        """Browser to workspace; tornado reads the next message only once this one is sent."""
        assert self._ws is not None and self._target is not None
        self.manager.record_activity(self._target.workspace_id)
        try:
            if isinstance(message, bytes):
                await self._ws.send_bytes(message)
            else:
                await self._ws.send_str(message)
        except (ConnectionError, aiohttp.ClientError):
            self.close(1011, "the workspace's end of the WebSocket is gone")

    def on_close(self) -> None:
        """The browser left: close the workspace's side with the browser's code (WebSocket), or
        stop the upstream request (HTTP)."""
        if self._ws is not None and not self._ws.closed:
            code, reason = sendable_close_code(self.close_code) or 1000, (self.close_reason or "").encode()
            self._keep(asyncio.ensure_future(self._ws.close(code=code, message=reason)))
        self._cancel_upstream()

    def on_finish(self) -> None:
        self._cancel_upstream()

    def _cancel_upstream(self) -> None:
        if self._body is not None:
            self._body.abandon()
        if self._upstream is None:
            return
        if not self._upstream.done():
            self._upstream.cancel()
        elif not self._upstream.cancelled() and self._upstream.exception() is None:
            self._upstream.result().close()  # no-op once released; frees an unread response

    def _keep(self, task: asyncio.Future[Any]) -> asyncio.Future[Any]:
        """Hold a reference to a background task and log its failure."""
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None and task is not self._upstream:
            self.log.error("workspace proxy task failed: %s", error, exc_info=error)

    # -- errors -----------------------------------------------------------------------------
    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """JSON for API calls, a small page with a way back for people; everything echoed escaped."""
        error = kwargs["exc_info"][1] if "exc_info" in kwargs else None
        message = self._reason
        if isinstance(error, web.HTTPError) and error.log_message:
            message = error.log_message % error.args if error.args else error.log_message
        if self._api:
            self.set_header("Content-Type", "application/json")
            body = json.dumps({"message": message, "reason": self._reason})
            self.finish(body.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))
            return
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        title = f"{status_code} {self._reason}"
        lab = url_path_join(self.base_url, "lab")
        page = ERROR_PAGE.format(title=html.escape(title), message=html.escape(message), lab=html.escape(lab))
        self.finish(page)


#: Routes relative to the server's base_url, as ExtensionApp.initialize_handlers expects.
default_handlers: list[tuple[str, type[web.RequestHandler]]] = [
    (r"/workspace-launcher/workspaces/(?P<workspace_id>[^/]+)(?P<path>/.*)?", WorkspaceProxyHandler),
]
