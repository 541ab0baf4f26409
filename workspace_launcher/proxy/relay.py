"""The streaming relay both proxy handlers share: HTTP (any method) and WebSockets between the
browser and one workspace's Jupyter, once a handler's ``prepare`` has chosen the target.

Bodies stream both ways with backpressure: a request body goes from ``data_received`` through a
small bounded queue into aiohttp; a response goes out chunk by chunk as aiohttp receives it,
handed to tornado at once and waited for only when ``RELAY_HIGH_WATER`` bytes are still on their
way to the browser; aiohttp goes on reading the workspace meanwhile, until its buffer holds twice
``client.UPSTREAM_READ_BUFFER``, so the two sockets overlap. HTML is streamed through a redactor
of the workspace's token, which Jupyter writes into the pages it serves a token-authenticated
caller (JupyterLab's page config, error pages). A big download of known length is relayed in the
kernel instead (``splice``); the WebSocket half is ``websocket_relay``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from multidict import CIMultiDict
from tornado import httputil, web
from tornado.iostream import SSLIOStream, StreamClosedError

from workspace_launcher.api.handlers import LauncherContext
from workspace_launcher.errors import Conflict, LauncherError, NotFound
from workspace_launcher.proxy.client import BodyPipe, Target, upstream_session
from workspace_launcher.proxy.log_limit import OncePerInterval
from workspace_launcher.proxy.pages import PAGE_CSP, error_page, json_error
from workspace_launcher.proxy.rules import (
    DROPPED_REQUEST_HEADERS,
    DROPPED_RESPONSE_HEADERS,
    HOP_BY_HOP,
    Redactor,
    drop_query,
    forwarded_query,
    has_query,
    rewrite_location,
    scrubbed_referer,
    sendable_close_code,
    valid_content_length,
    within,
)
from workspace_launcher.proxy.splice import UpstreamEnded, can_splice, response_head, splice_between
from workspace_launcher.proxy.websocket_relay import WebSocketRelay
from workspace_launcher.workspaces.upstream import Upstream

ROUTE = "/workspace-launcher/workspaces/"
#: Request bodies are streamed, so the host's buffering limit does not apply; the workspace's
#: Jupyter enforces its own (ServerApp.max_body_size).
MAX_BODY_SIZE = 1 << 40

#: What the proxy answers for a workspace its session proves existed and that is gone. Not 404:
#: JupyterLab's file browser takes a 404 of its directory for "directory not found" and asks for
#: "/" again at once, forever (about 90 requests a second here). On 410 it, the kernel, session
#: and terminal polls and the event WebSocket all back off, and a kernel is marked dead.
GONE = 410
DELETED_MESSAGE = ("Workspace %s was deleted. Nothing of it is left to load here: close this tab, "
                   "or go back to JupyterLab to launch another.")
#: The answers about an ended workspace (deleted; stopped) that its open tabs get over and over.
ENDED_STATUSES = frozenset({GONE, 503})


async def running_upstream(manager, owner: str, workspace_id: str, *, existed: bool = False) -> Upstream:
    """Where a running workspace of ``owner`` is reached, or the HTTP error to answer: 503 while it
    is not running (a conflict of state, not of input), 410 once it is gone when the caller
    knows that it ``existed`` (the proxy: a session for it), the launcher's own status otherwise."""
    try:
        return await manager.connection(owner=owner, workspace_id=workspace_id)
    except Conflict as e:
        raise web.HTTPError(503, "%s", e.message) from e
    except NotFound as e:
        if existed:
            raise web.HTTPError(GONE, DELETED_MESSAGE, workspace_id) from e
        raise web.HTTPError(e.status_code, "%s", e.message) from e
    except LauncherError as e:
        raise web.HTTPError(e.status_code, "%s", e.message) from e


#: Bytes of a response handed to tornado before the relay waits for the browser to take them.
RELAY_HIGH_WATER = 1024 * 1024


class ProxyRelay(LauncherContext, WebSocketRelay):
    """Relays one request (or WebSocket) to ``self._target``, which ``prepare`` sets.

    Subclasses decide who may come in (``prepare``), which browser cookies go on
    (``forwarded_cookie_header``), what becomes of the workspace's ``Set-Cookie``
    (``rewritten_set_cookie``), and where an error page leads (``way_back``).
    """

    def initialize(self) -> None:
        headers = self.request.headers
        self._upgrade = self.request.method == "GET" and headers.get("Upgrade", "").lower() == "websocket"
        _, slash, rest = self.request.path.partition(ROUTE)[2].partition("/")
        self._rest = slash + rest  # raw, as sent: forwarded byte for byte
        #: API calls (Jupyter's and JupyterLab's own, lab/api/) and WebSocket upgrades get 403 and
        #: JSON errors; pages a login redirect and HTML.
        self._api = self._upgrade or self._rest == "/api" or self._rest.startswith(("/api/", "/lab/api/"))
        self._target: Target | None = None
        self._body: BodyPipe | None = None
        self._upstream: asyncio.Task[aiohttp.ClientResponse] | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Set for an ended workspace's repeated answer: ``ended_log`` speaks for it instead.
        self._quiet = False

    # -- choosing the target ----------------------------------------------------------------
    async def running_upstream(self, owner: str, workspace_id: str) -> Upstream:
        """The owner's running workspace, or the HTTP error to answer: 503 while not running,
        410 once it is gone (a session for it, checked before, shows that it existed)."""
        try:
            return await running_upstream(self.manager, owner, workspace_id, existed=True)
        except web.HTTPError as e:
            if e.status_code in ENDED_STATUSES:
                self._note_ended(workspace_id, e)
            raise

    @property
    def ended_log(self) -> OncePerInterval:
        """One per application: every handler's requests count against the same interval."""
        return self.settings.setdefault("workspace_launcher_ended_log", OncePerInterval())  # type: ignore[attr-defined]

    def _note_ended(self, workspace_id: str, error: web.HTTPError) -> None:
        """Log an ended workspace's answer once per interval, not per request of its open tabs,
        which go on polling; this request's own warning and access line are left out."""
        self._quiet = True
        held = self.ended_log.due((workspace_id, error.status_code))
        if held is not None:
            message = error.log_message % error.args if error.args else error.log_message
            self.log.warning("workspace %s: answering %s to its open tabs (%s); %d such requests in the last "
                             "%.0f s were not logged", workspace_id, error.status_code, message, held,
                             self.ended_log.interval)

    def route_to(self, workspace_id: str, upstream: Upstream) -> None:
        """Aim this request at ``upstream``; or answer it here (a redirect, a refusal)."""
        prefix, query = upstream.base_url, self.request.query
        if not self._rest:  # ".../workspaces/<id>" without the slash the workspace serves under
            if self._upgrade or self.request.method not in ("GET", "HEAD"):
                raise web.HTTPError(404)
            self.redirect(prefix)
            return
        path = prefix + self._rest[1:]
        if not within(path, prefix):
            raise web.HTTPError(400, "the path leaves the workspace")
        if not valid_content_length(self.request.headers.get_list("Content-Length")):
            # Forwarded as is, an ambiguous length is a request-smuggling vector upstream.
            raise web.HTTPError(400, "the request's Content-Length is not one plain number")
        if not self._api and not self._upgrade and self.request.method == "GET" and has_query(query, "token"):
            rest = drop_query(query, frozenset({"token"}))  # a host token must not stay in a workspace URL
            self.redirect(self.request.path + ("?" + rest if rest else ""))
            return
        self.before_forwarding(self._rest[1:])
        query = forwarded_query(query)
        self._target = Target(workspace_id, upstream, path + ("?" + query if query else ""))
        if not self._upgrade:
            self._start_upstream()

    # -- what subclasses decide -------------------------------------------------------------
    def before_forwarding(self, rest: str) -> None:
        """Last checks of a request for ``rest`` (below the prefix); raise to refuse it."""

    def forwarded_cookie_header(self) -> str:
        raise NotImplementedError

    def rewritten_set_cookie(self, value: str, prefix: str) -> str | None:
        raise NotImplementedError

    def way_back(self, status_code: int) -> tuple[str, str] | None:
        """The (href, text) of the link an error page for ``status_code`` offers."""
        return None

    def compute_etag(self) -> str | None:
        return None  # the workspace's validators pass through untouched

    def _upstream_headers(self, target: Target) -> CIMultiDict[str]:
        """The browser's headers minus credentials and hop-by-hop ones, plus the token."""
        request_headers = self.request.headers
        listed = {name.strip().lower() for name in request_headers.get("Connection", "").split(",")}
        headers: CIMultiDict[str] = CIMultiDict()
        for name, value in request_headers.get_all():
            if name.lower() not in DROPPED_REQUEST_HEADERS and name.lower() not in listed:
                headers.add(name, value)
        if cookies := self.forwarded_cookie_header():
            headers["Cookie"] = cookies
        if "Origin" in request_headers:  # already checked by prepare: same-origin upstream
            headers["Origin"] = target.upstream.origin
        if referer := request_headers.get("Referer"):
            headers["Referer"] = scrubbed_referer(referer)
        headers["Authorization"] = f"token {target.token}"
        headers["X-Forwarded-For"] = self.request.remote_ip or ""
        headers["X-Forwarded-Proto"] = self.request.protocol
        headers["X-Forwarded-Host"] = self.request.host
        return headers

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
            if (length := self._splice_length(response, redact is not None)) is not None:
                await self._splice(response, length)
                return
            unflushed = 0
            async for chunk in response.content.iter_any():  # as received: no re-slicing into copies
                if chunk := redact(chunk) if redact else chunk:
                    self.write(chunk)
                    flushed = self.flush()
                    unflushed += len(chunk)
                    if flushed.done():  # written at once, or refused: the browser has left
                        flushed.result()
                        unflushed = 0
                    # Backpressure without a wait per chunk: the browser's socket drains while
                    # aiohttp reads on, and at most RELAY_HIGH_WATER bytes wait in tornado.
                    elif unflushed >= RELAY_HIGH_WATER:
                        await flushed
                        unflushed = 0
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

    def _splice_length(self, response: aiohttp.ClientResponse, redacting: bool) -> int | None:
        """The body length to relay in the kernel (``splice``), or None to stream it here."""
        transport = response.connection.transport if response.connection is not None else None
        if transport is None or transport.get_extra_info("socket") is None:
            return None
        return can_splice(method=self.request.method or "", http_version=self.request.version,
                          status=response.status, headers=response.headers.items(), redacting=redacting,
                          browser_tls=isinstance(self.request.connection.stream, SSLIOStream))  # type: ignore[union-attr]

    async def _splice(self, response: aiohttp.ClientResponse, length: int) -> None:
        """Send the head and what aiohttp already holds of the body, then the rest socket to
        socket in the kernel; both connections close after (``proxy.splice``)."""
        assert self._target is not None and response.connection is not None
        transport = response.connection.transport
        held = response.content.read_nowait()  # may resume aiohttp's reading: pause it after
        transport.pause_reading()
        head = response_head(self.get_status(), self._reason, self._headers.get_all())
        browser = self.detach()
        try:
            await browser.write(head + held)
            await splice_between(transport.get_extra_info("socket").fileno(), browser.socket.fileno(),
                                 length - len(held))
        except UpstreamEnded as e:  # the head is gone: all that is left is to cut it short
            self.log.warning("workspace %s broke off a response: %s", self._target.workspace_id, e)
        except (StreamClosedError, OSError):  # the browser left
            self.log.debug("browser left during a spliced %s of %s", self.request.method, self.request.path)
        else:
            self.manager.record_activity(self._target.workspace_id)
        finally:
            browser.close()
            response.close()
            self._log()

    def _copy_response_head(self, response: aiohttp.ClientResponse, target: Target) -> Redactor | None:
        """Status and headers from the workspace: Location and Set-Cookie kept inside it, and
        nothing that acts on the whole origin (``DROPPED_RESPONSE_HEADERS``)."""
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
            if key in HOP_BY_HOP or key in DROPPED_RESPONSE_HEADERS or key in listed or (key == "content-length" and redact):
                continue
            if key == "location":
                value = rewrite_location(value, prefix=prefix, upstream=target.upstream, request_path=self.request.path)
            elif key == "set-cookie":
                if (cookie := self.rewritten_set_cookie(value, prefix)) is None:
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
            self.finish(json_error(message, self._reason))
            return
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.set_header("Content-Security-Policy", PAGE_CSP)
        self.finish(error_page(status_code, self._reason, message, self.way_back(status_code)))

    def log_exception(self, typ, value, tb) -> None:  # type: ignore[no-untyped-def]
        if not self._quiet:
            super().log_exception(typ, value, tb)

    def _log(self) -> None:
        """The access log line (tornado's hook for it), but not for an ended workspace's
        repeated answers: ``_note_ended`` logs those once per interval."""
        if not self._quiet:
            super()._log()
