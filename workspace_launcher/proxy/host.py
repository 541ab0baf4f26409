"""The host origin's side: opening a workspace (the handshake's first half) and the old
``workspaces/<id>/`` route, which serves workspaces only when the admin opted into one origin.

``GET {base_url}workspace-launcher/open/<id>?path=lab/tree/x.ipynb`` checks the host login and
that the workspace is the caller's and running, mints a one-time code bound to (owner,
workspace, the container's start), and redirects to the workspace's own origin, which trades
the code for a session cookie there (``workspace_origin.py``). ``HEAD`` on the same URL tells a
front end whether the workspace's Jupyter answers, without minting anything.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized
from jupyter_server.auth.utils import HTTP_METHOD_TO_AUTH_ACTION
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.httpclient import AsyncHTTPClient

from workspace_launcher.api.handlers import AUTH_RESOURCE, LauncherContext
from workspace_launcher.proxy.origins import (
    DEFAULT_PORTS,
    OPEN_ROUTE,
    SESSION_ROUTE,
    WorkspaceOrigins,
    open_url,
    split_host,
)
from workspace_launcher.proxy.relay import ProxyRelay, running_upstream
from workspace_launcher.proxy.rules import forwarded_cookies, rewrite_set_cookie, within
from workspace_launcher.proxy.sessions import COOKIE_NAMES, WorkspaceSessions
from workspace_launcher.workspaces.readiness import answers
from workspace_launcher.workspaces.upstream import Upstream

#: Characters a ``path`` keeps as they are; everything else is percent-encoded.
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"


def path_inside(prefix: str, path: str) -> str:
    """``prefix + path`` when that stays inside the workspace, else ``InvalidRequest``-worthy
    ``ValueError``; ``path`` is relative (``lab``, ``lab/tree/x.ipynb``)."""
    if "\\" in path or path.startswith("/") or any(ord(c) < 32 for c in path):
        raise ValueError(f"path {path!r} must be relative to the workspace, e.g. lab/tree/notebook.ipynb")
    joined = prefix + quote(path, safe=_PATH_SAFE)
    if not within(joined, prefix):
        raise ValueError(f"path {path!r} leaves the workspace")
    return joined


class LauncherPageContext(LauncherContext):
    """The origin and session settings the app put beside the manager."""

    @property
    def origins(self) -> WorkspaceOrigins:
        return self.settings["workspace_launcher_origins"]  # type: ignore[attr-defined]

    @property
    def sessions(self) -> WorkspaceSessions:
        return self.settings["workspace_launcher_sessions"]  # type: ignore[attr-defined]


class OpenWorkspaceHandler(LauncherPageContext, JupyterHandler):
    """Opens one of the caller's workspaces in the browser: the handshake's first half."""

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()  # JupyterHandler: the login (a redirect for pages, else 403)
        if self._finished or self.current_user is None:
            return
        # A user the authorizer denies workspaces gets 403 whatever the method, not a 405 that
        # tells which methods this route has (get and head check their own actions too).
        action = "execute" if self.request.method == "GET" else HTTP_METHOD_TO_AUTH_ACTION.get(self.request.method or "", "write")
        if not await ensure_async(self.authorizer.is_authorized(self, self.current_user, action, AUTH_RESOURCE)):
            raise web.HTTPError(403, "you are not authorized to %s workspaces", action)

    async def _running(self, workspace_id: str) -> Upstream:
        return await running_upstream(self.manager, self.owner, workspace_id)

    @web.authenticated
    @authorized("execute", resource=AUTH_RESOURCE)
    async def get(self, workspace_id: str) -> None:
        upstream = await self._running(workspace_id)
        try:
            next_path = path_inside(upstream.base_url, self.get_query_argument("path", "lab", strip=False))
        except ValueError as e:
            raise web.HTTPError(400, "%s", e) from None
        self.set_header("Cache-Control", "no-store")
        # The next request (on the workspace's origin) carries no Referer: this URL may hold ?token=.
        self.set_header("Referrer-Policy", "no-referrer")
        if self.origins.same_origin:
            self.redirect(next_path)
            return
        code = self.sessions.mint_code(
            owner=self.owner, workspace_id=workspace_id, generation=upstream.generation, next_path=next_path
        )
        port = split_host(self.request.host)[1] or DEFAULT_PORTS[self.origins.template.scheme]
        origin = self.origins.template.origin(workspace_id, port=port)
        self.redirect(origin + url_path_join(self.base_url, SESSION_ROUTE) + "?" + urlencode({"code": code}))

    @web.authenticated
    @authorized("read", resource=AUTH_RESOURCE)
    async def head(self, workspace_id: str) -> None:
        """204 once the workspace's Jupyter answers, 503 while it does not (no code minted)."""
        upstream = await self._running(workspace_id)
        if not await answers(AsyncHTTPClient(), upstream):
            raise web.HTTPError(503, "workspace %s is not answering yet", workspace_id)
        self.set_status(204)


@web.stream_request_body
class HostOriginProxyHandler(LauncherPageContext, ProxyRelay, JupyterHandler):
    """``{base_url}workspace-launcher/workspaces/<id>/...`` on the host's origin.

    By default it serves nothing of a workspace: a page request is sent through the handshake
    to the workspace's own origin (so old links keep working), anything else is 404. Only with
    ``WorkspaceOrigins.same_origin`` does it proxy, with the host's login: the host's
    authentication, authorizer and Origin check, then its credentials stripped and the
    workspace's token added.
    """

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
        if not await ensure_async(self.authorizer.is_authorized(self, self.current_user, action, AUTH_RESOURCE)):
            raise web.HTTPError(403, "you are not authorized to %s workspaces", action)
        if not self.check_origin():
            raise web.HTTPError(403, "cross-origin requests to workspaces are not allowed")
        workspace_id = self.path_kwargs["workspace_id"]
        if not self.origins.same_origin:
            self._to_own_origin(workspace_id)
            return
        await self._proxy_on_host_origin(workspace_id)

    def _to_own_origin(self, workspace_id: str) -> None:
        if self._upgrade or self.request.method not in ("GET", "HEAD") or self._api:
            raise web.HTTPError(404, "workspaces are served on an origin of their own; open them through %s",
                                open_url(self.base_url, workspace_id))
        self.redirect(open_url(self.base_url, workspace_id, self._rest.lstrip("/")))

    async def _proxy_on_host_origin(self, workspace_id: str) -> None:
        upstream = await self.running_upstream(self.owner, workspace_id)
        self.manager.record_activity(workspace_id)
        self.route_to(workspace_id, upstream)

    def before_forwarding(self, rest: str) -> None:
        if not self._api and self.request.method == "GET":
            _ = self.xsrf_token  # sets the host's _xsrf cookie if missing: the workspace's JupyterLab sends it

    def check_origin(self, origin_to_satisfy_tornado: str = "") -> bool:
        """The host's Origin check (token-authenticated clients and allow_origin honoured)."""
        return JupyterHandler.check_origin(self, origin_to_satisfy_tornado)

    def skip_check_origin(self) -> bool:
        """As the host's, but without its exemption of OPTIONS: that exemption is for the host's
        own CORS preflights, while here an OPTIONS is forwarded to the workspace with its token."""
        return not self.identity_provider.should_check_origin(self)

    def _host_cookie_names(self) -> dict[str, str | None]:
        login_name = getattr(self.identity_provider, "get_cookie_name", None)  # a custom provider may lack it
        return {"xsrf_cookie": self.settings.get("xsrf_cookie_name", "_xsrf"),
                "login_cookie": login_name(self) if login_name else None}

    def forwarded_cookie_header(self) -> str:
        return forwarded_cookies(self.request.headers.get_list("Cookie"), COOKIE_NAMES, **self._host_cookie_names())

    def rewritten_set_cookie(self, value: str, prefix: str) -> str | None:
        return rewrite_set_cookie(value, prefix=prefix, dropped=COOKIE_NAMES, **self._host_cookie_names())

    def way_back(self, status_code: int) -> tuple[str, str] | None:
        return url_path_join(self.base_url, "lab"), "Back to JupyterLab"


host_handlers = [
    (rf"{OPEN_ROUTE}(?P<workspace_id>[^/]+)", OpenWorkspaceHandler),
    (r"/workspace-launcher/workspaces/(?P<workspace_id>[^/]+)(?P<path>/.*)?", HostOriginProxyHandler),
]
