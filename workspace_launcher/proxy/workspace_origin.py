"""A workspace's own origin (``http://<id>.localhost:<port>`` by default), answered by this
server: the handshake's second half, the proxy to that one workspace, and nothing else.

These handlers are plain tornado handlers, not Jupyter ones: no host login, cookie or token
means anything here. The only credential is the workspace session cookie (HttpOnly,
SameSite=Lax, host-only, expiring) that ``SessionHandler`` sets for a one-time code minted by
the host. Requests are routed here by their Host, ahead of every host route, so nothing of the
host (its pages, its API, its static files) is ever served on a workspace's origin.
"""

from __future__ import annotations

from typing import Any, NoReturn

from jupyter_server.base.handlers import log as jupyter_log
from jupyter_server.utils import url_path_join
from tornado import web

from workspace_launcher.proxy.host import LauncherPageContext
from workspace_launcher.proxy.origins import SESSION_ROUTE, OriginTemplate, open_url
from workspace_launcher.proxy.pages import PAGE_CSP, error_page, json_error
from workspace_launcher.proxy.policy import cross_origin_refusal, guarded_read_refusal, origin_of
from workspace_launcher.proxy.relay import GONE, ProxyRelay
from workspace_launcher.proxy.rules import forwarded_cookies, rewrite_set_cookie
from workspace_launcher.proxy.sessions import COOKIE_NAME, COOKIE_NAMES, SECURE_COOKIE_NAME, Grant

PROXY_ROUTE = r"/workspace-launcher/workspaces/(?P<workspace_id>[^/]+)(?P<path>/.*)?"


class WorkspaceOriginContext(LauncherPageContext):
    """What every handler on a workspace's origin knows: which workspace the Host names."""

    @property
    def log(self):
        return jupyter_log()

    @property
    def template(self) -> OriginTemplate:
        return self.origins.template

    @property
    def host_workspace_id(self) -> str | None:
        return self.template.workspace_id(self.request.host_name)  # type: ignore[attr-defined]

    @property
    def own_origin(self) -> str:
        return self.template.own_origin(self.request.host)  # type: ignore[attr-defined]

    @property
    def host_base_url(self) -> str:
        return self.settings.get("base_url", "/")  # type: ignore[attr-defined]

    def reopen_link(self) -> tuple[str, str] | None:
        workspace_id = self.host_workspace_id
        if workspace_id is None:
            return None
        url = self.origins.reopen_url(self.request.host, open_url(self.host_base_url, workspace_id))  # type: ignore[attr-defined]
        return (url, "Open the workspace again through JupyterLab") if url else None

    def home_link(self) -> tuple[str, str] | None:
        """The host's JupyterLab, for a workspace that is gone (nothing to open again)."""
        url = self.origins.reopen_url(self.request.host, url_path_join(self.host_base_url, "lab"))  # type: ignore[attr-defined]
        return (url, "Back to JupyterLab") if url else None

    def check_xsrf_cookie(self) -> None:
        """No host XSRF here: ``prepare`` checks Origin and fetch metadata instead."""


class SessionHandler(WorkspaceOriginContext, web.RequestHandler):
    """Trades a one-time code for this workspace's session cookie, then goes where it was opened."""

    def get(self) -> None:
        workspace_id = self.host_workspace_id
        code = self.get_query_argument("code", "")
        redeemed = self.sessions.redeem(code, workspace_id=workspace_id) if workspace_id else None
        self.set_header("Cache-Control", "no-store")
        self.set_header("Referrer-Policy", "no-referrer")
        if redeemed is None:
            self.log.warning("refused a workspace code on %s (unknown, used, expired or for another workspace)",
                             self.request.host)
            raise web.HTTPError(403, "This link to the workspace has expired, was already used, or belongs "
                                     "to another workspace.")
        value, grant = redeemed
        secure = self.template.secure
        self.set_cookie(
            SECURE_COOKIE_NAME if secure else COOKIE_NAME, value, path="/", httponly=True, secure=secure,
            samesite="Lax", max_age=int(self.sessions.session_lifetime),
        )
        self.redirect(grant.next_path)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None))[1]
        message = error.log_message if isinstance(error, web.HTTPError) and error.log_message else self._reason
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.set_header("Content-Security-Policy", PAGE_CSP)
        self.finish(error_page(status_code, self._reason, message, self.reopen_link()))


class NotServedHandler(WorkspaceOriginContext, web.RequestHandler):
    """Everything else on a workspace's origin: the root leads to its lab, the rest is 404."""

    def prepare(self) -> None:
        workspace_id = self.host_workspace_id
        if workspace_id and self.request.method in ("GET", "HEAD") and self.request.path in ("/", self.host_base_url):
            self.redirect(self.manager.workspace_base_url(workspace_id) + "lab")
            return
        self.set_status(404)
        self.set_header("Content-Type", "application/json")
        self.finish(json_error("nothing but the workspace is served on a workspace's origin", "Not Found"))


@web.stream_request_body
class WorkspaceOriginProxyHandler(WorkspaceOriginContext, ProxyRelay):
    """Proxies HTTP and WebSockets to the one workspace whose origin this is, for its session."""

    async def prepare(self) -> None:  # type: ignore[override]
        workspace_id = self.host_workspace_id
        if workspace_id is None or self.path_kwargs["workspace_id"] != workspace_id:
            raise web.HTTPError(404, "a workspace's origin serves that workspace alone")
        if refusal := cross_origin_refusal(self.request.method or "GET", self.request.headers, own_origin=self.own_origin):
            raise web.HTTPError(403, "%s", refusal)
        grant = self.sessions.find(self._session_values(), workspace_id=workspace_id)
        if grant is None or grant.owner != self.owner:
            await self._refuse_without_session(workspace_id)
        self.current_user = grant
        upstream = await self.running_upstream(grant.owner, workspace_id)
        if upstream.generation != grant.generation:
            self.sessions.revoke(workspace_id)
            raise web.HTTPError(403, "the workspace restarted since it was opened: open it again from JupyterLab")
        self.manager.record_activity(workspace_id)
        self.route_to(workspace_id, upstream)

    async def _refuse_without_session(self, workspace_id: str) -> NoReturn:
        """403; but a tab whose session ended with its workspace is told why (410 deleted, 503
        stopped), an answer JupyterLab backs off on, and it stops asking so often."""
        ended = self.sessions.find_ended(self._session_values(), workspace_id=workspace_id)
        if ended is not None and ended.owner == self.owner:
            upstream = await self.running_upstream(ended.owner, workspace_id)  # raises while gone or stopped
            if upstream.generation == ended.generation:  # ended, yet still up: on its way out
                error = web.HTTPError(503, "workspace %s is stopping", workspace_id)
                self._note_ended(workspace_id, error)
                raise error
            raise web.HTTPError(403, "the workspace restarted since it was opened: open it again from JupyterLab")
        raise web.HTTPError(403, "no session for this workspace here: open it from JupyterLab")

    def before_forwarding(self, rest: str) -> None:
        refusal = guarded_read_refusal(self.request.method or "GET", rest, self.request.headers,
                                       own_origin=self.own_origin, xsrf_matches=self._xsrf_matches())
        if refusal:
            raise web.HTTPError(403, "%s", refusal)

    def _session_values(self) -> list[str]:
        """Every session cookie value the browser sent (a sibling may add a same-named one)."""
        values = []
        for header in self.request.headers.get_list("Cookie"):
            for item in header.split(";"):
                name, _, value = item.strip().partition("=")
                if name.strip() in COOKIE_NAMES:
                    values.append(value.strip())
        return values

    def _xsrf_matches(self) -> bool:
        """Whether the ``_xsrf`` argument matches the workspace's ``_xsrf`` cookie (JupyterLab's
        download links carry it), by tornado's own comparison."""
        if not self.get_query_argument("_xsrf", None):
            return False
        try:
            web.RequestHandler.check_xsrf_cookie(self)
        except web.HTTPError:
            return False
        return True

    def get_current_user(self) -> Grant | None:
        return None  # set by prepare, from the session

    def check_origin(self, origin: str) -> bool:
        """WebSockets: only from pages of this workspace's own origin."""
        return origin_of(origin) == self.own_origin

    def forwarded_cookie_header(self) -> str:
        return forwarded_cookies(self.request.headers.get_list("Cookie"), COOKIE_NAMES)

    def rewritten_set_cookie(self, value: str, prefix: str) -> str | None:
        return rewrite_set_cookie(value, prefix=prefix, dropped=COOKIE_NAMES)

    def way_back(self, status_code: int) -> tuple[str, str] | None:
        return self.home_link() if status_code == GONE else self.reopen_link()


def workspace_origin_handlers(base_url: str) -> list[tuple[str, type[web.RequestHandler]]]:
    """The routes of every workspace's origin, the last catching whatever the others do not."""
    return [
        (url_path_join(base_url, SESSION_ROUTE), SessionHandler),
        (url_path_join(base_url, PROXY_ROUTE), WorkspaceOriginProxyHandler),
        (r".*", NotServedHandler),
    ]


def serve_workspace_origins(web_app: web.Application, template: OriginTemplate, base_url: str) -> None:
    """Answer every request whose Host is a workspace's origin with the workspace handlers,
    ahead of every host route (tornado tries host rules in order, falling through on no match)."""
    web_app.add_handlers(template.host_pattern, workspace_origin_handlers(base_url))
    rules = web_app.default_router.rules
    rules.insert(0, rules.pop(-2))  # add_handlers put it just before the catch-all host rule
