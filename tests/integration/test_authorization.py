"""Cross-origin requests from a logged-in browser, and an authorizer that denies workspaces,
against the real host server (pytest-jupyter's, with the extension), a real workspace on the
real engine where a kernel count proves what reached it, and the echo stand-in of
``proxy_support`` where every forwarded request is recorded.

The browser here logs in as a person does: the host's login form, with the token as the
password, gives it the host's login cookie and ``_xsrf``; it never sends the token itself. What
``test_origins.py`` already covers (a token-opened session's foreign Origins against the echo,
the authorizer on GET/HEAD of the handshake) is not repeated.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from jupyter_server.auth import Authorizer
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from workspace_launcher.engine import spec as specs
from workspace_launcher.proxy.sessions import COOKIE_NAME

from .openapi_check import spec
from .proxy_support import (  # noqa: F401 (fixtures)
    BASE_URL,
    ECHO_ID,
    OTHER_ID,
    auth,
    client,
    echo,
    fetch,
    host,
    jp_server_config,
    set_cookies,
    workspace,
    ws_connect,
)

METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")
SAME_ORIGIN = {"WorkspaceOrigins.same_origin": True}
DENY_WORKSPACES = {"ServerApp.authorizer_class": "tests.integration.test_authorization.DenyWorkspaces"}


class DenyWorkspaces(Authorizer):
    """Lets a user do everything on the server but use workspaces."""

    def is_authorized(self, handler, user, action, resource) -> bool:
        return resource != "workspace_launcher"


# -- a browser, logged in through the host's login form ----------------------------------------------
@dataclass
class Browser:
    """The host's cookies as a browser holds them after logging in (no token anywhere)."""

    login_cookie: str  # "username-127-0-0-1-PORT=..."
    xsrf: str

    def headers(self, origin: str | None = None, *, xsrf: bool = True) -> dict[str, str]:
        headers = {"Cookie": f"{self.login_cookie}; _xsrf={self.xsrf}"}
        if xsrf:
            headers["X-XSRFToken"] = self.xsrf
        if origin is not None:
            headers["Origin"] = origin
        return headers


async def log_in(client, host) -> Browser:
    form = await fetch(client, f"{host.url}login")
    assert form.code == 200, form.code
    xsrf = set_cookies(form)["_xsrf"].value
    body = urlencode({"_xsrf": xsrf, "password": host.token})
    done = await fetch(client, f"{host.url}login", method="POST", body=body,
                       headers={"Cookie": f"_xsrf={xsrf}", "Content-Type": "application/x-www-form-urlencoded"})
    assert done.code == 302, (done.code, done.body[:300])
    name, cookie = next((n, c) for n, c in set_cookies(done).items() if n.startswith("username-"))
    browser = Browser(f"{name}={cookie.value}", xsrf)
    # The cookie alone is the browser's identity: the host's API answers it, with no token.
    me = await fetch(client, f"{host.url}api/me", headers=browser.headers(xsrf=False))
    assert me.code == 200 and json.loads(me.body)["identity"]["username"], me.code
    return browser


def foreign_origins(host, workspace_id: str) -> list[str]:
    """Pages that must never drive the host or a workspace: another site, another workspace's
    origin (a page any workspace serves), and an opaque origin."""
    return ["http://evil.example", host.origin_of(OTHER_ID if workspace_id != OTHER_ID else ECHO_ID), "null"]


async def direct_kernel(host, workspace, method: str = "GET", kernel_id: str = ""):
    """The workspace's kernels (or one), asked of its Jupyter directly with its token, not through
    the proxy; POST starts one, DELETE shuts one down."""
    upstream = await host.manager.connection(owner=workspace.owner, workspace_id=workspace.id)
    url = str(upstream.url(upstream.base_url)) + "api/kernels" + (f"/{kernel_id}" if kernel_id else "")
    response = await AsyncHTTPClient().fetch(url, method=method, headers=auth(upstream.token), raise_error=False,
                                             body="{}" if method == "POST" else None)
    assert response.code < 300, (method, url, response.code)
    return json.loads(response.body) if response.body else None


async def direct_kernels(host, workspace) -> list[dict]:
    return await direct_kernel(host, workspace)


# -- (a) a logged-in browser on a foreign page ---------------------------------------------------------
async def test_a_cross_origin_rest_launch_with_the_login_cookie_is_refused_and_launches_nothing(host, client, test_owner, docker_client, minimal_image):
    browser = await log_in(client, host)
    url = f"{host.url}workspace-launcher/api/workspaces"
    body = {"profile": "minimal", "name": "xorigin"}
    host.manager.validate_launch(owner=test_owner, **body)  # a launch the server would accept
    for origin in (*foreign_origins(host, ECHO_ID), f"http://localhost:{host.port}"):
        for with_xsrf in (True, False):
            response = await fetch(client, url, method="POST", body=json.dumps(body), headers=browser.headers(origin, xsrf=with_xsrf))
            assert response.code in (403, 404), (origin, with_xsrf, response.code, response.body[:200])
    assert [w for w in await host.manager.list(owner=test_owner) if w.name == "xorigin"] == []
    named = [f"{specs.label('owner')}={test_owner}", f"{specs.label('name')}=xorigin"]
    assert docker_client.containers.list(all=True, filters={"label": named}) == []
    # The same browser on the host's own page reaches the handler (a bad profile is its 400), so
    # what refused the requests above was their Origin, not a missing login.
    own = await fetch(client, url, method="POST", body=json.dumps({"profile": "no-such-profile"}),
                      headers=browser.headers(f"http://127.0.0.1:{host.port}"))
    assert own.code == 400 and json.loads(own.body)["field"] == "profile", own.body


async def test_a_cross_origin_proxied_post_and_kernel_upgrade_are_refused_for_a_logged_in_browser(host, client, workspace):
    """Default origins: the browser opens the workspace with its login cookie (the handshake),
    then a foreign page tries the workspace's kernels with the session the browser now holds."""
    browser = await log_in(client, host)
    opened = await fetch(client, host.open_url(workspace.id), headers=browser.headers(xsrf=False))
    assert opened.code == 302 and opened.headers["Location"].startswith(host.origin_of(workspace.id)), opened.code
    traded = await fetch(client, opened.headers["Location"])
    assert traded.code == 302, traded.code
    session = {"Cookie": f"{COOKIE_NAME}={set_cookies(traded)[COOKIE_NAME].value}"}
    kernel = await direct_kernel(host, workspace, "POST")
    try:
        before = await direct_kernels(host, workspace)
        channels = host.at(workspace.id, f"api/kernels/{kernel['id']}/channels")
        for origin in (*foreign_origins(host, workspace.id), f"http://127.0.0.1:{host.port}"):
            response = await fetch(client, host.at(workspace.id, "api/kernels"), method="POST", body="{}",
                                   headers={**session, "Origin": origin})
            assert response.code == 403, (origin, response.code)
            with pytest.raises(HTTPClientError) as info:
                await ws_connect(channels, {**session, "Origin": origin})
            assert info.value.code == 403, origin
        assert await direct_kernels(host, workspace) == before  # no kernel made, none connected to
        assert (await direct_kernel(host, workspace, kernel_id=kernel["id"]))["connections"] == 0
        # The workspace's own pages get through, with the very same session.
        own = {**session, "Origin": host.origin_of(workspace.id)}
        ws = await ws_connect(channels, own)
        for _ in range(50):
            if (await direct_kernel(host, workspace, kernel_id=kernel["id"]))["connections"] == 1:
                break
            await asyncio.sleep(0.1)
        assert (await direct_kernel(host, workspace, kernel_id=kernel["id"]))["connections"] == 1
        ws.close()
        made = await fetch(client, host.at(workspace.id, "api/kernels"), method="POST", body="{}", headers=own)
        assert made.code == 201, made.code
        await direct_kernel(host, workspace, "DELETE", json.loads(made.body)["id"])
    finally:
        await direct_kernel(host, workspace, "DELETE", kernel["id"])


@pytest.mark.parametrize("jp_server_config", [SAME_ORIGIN], indirect=True)
async def test_same_origin_opt_in_refuses_cross_origin_proxied_requests_with_the_login_cookie(host, client, workspace, echo):
    """The admin's same-origin opt-in proxies with the host's login cookie: there the host's
    Origin check is all that stands between a foreign page and the workspace's kernels."""
    browser = await log_in(client, host)
    # Every method, against the echo stand-in: none is forwarded (OPTIONS included, which the
    # host's own check lets through for its CORS preflights).
    echoed = f"{host.url}workspace-launcher/workspaces/{ECHO_ID}/api/contents/x"
    for origin in foreign_origins(host, ECHO_ID):
        for method in METHODS:
            response = await fetch(client, echoed, method=method, headers=browser.headers(origin),
                                   body=b"{}" if method in ("POST", "PUT", "PATCH") else None)
            assert response.code in (403, 404), (origin, method, response.code)
    assert echo == []
    own = await fetch(client, echoed, method="POST", body=b"{}", headers=browser.headers(f"http://127.0.0.1:{host.port}"))
    assert own.code == 200 and [seen["method"] for seen in echo] == ["POST"]
    base = f"{host.url}workspace-launcher/workspaces/{workspace.id}/"
    kernel = await direct_kernel(host, workspace, "POST")
    try:
        before = await direct_kernels(host, workspace)
        for origin in (*foreign_origins(host, workspace.id), f"http://localhost:{host.port}"):
            for method in ("POST", "PUT", "PATCH", "DELETE", "GET", "OPTIONS"):
                target = f"api/kernels/{kernel['id']}" if method in ("PATCH", "DELETE") else "api/kernels"
                response = await fetch(client, base + target, method=method, headers=browser.headers(origin),
                                       body="{}" if method in ("POST", "PUT", "PATCH") else None)
                assert response.code in (403, 404), (origin, method, response.code, response.body[:200])
            with pytest.raises(HTTPClientError) as info:
                await ws_connect(base + f"api/kernels/{kernel['id']}/channels", browser.headers(origin, xsrf=False))
            assert info.value.code in (403, 404), origin
        assert await direct_kernels(host, workspace) == before
        assert (await direct_kernel(host, workspace, kernel_id=kernel["id"]))["connections"] == 0
        # The host's own pages get through with the same cookie.
        own = await fetch(client, base + "api/kernels", headers=browser.headers(f"http://127.0.0.1:{host.port}"))
        assert own.code == 200 and {k["id"] for k in json.loads(own.body)} == {k["id"] for k in before}
    finally:
        await direct_kernel(host, workspace, "DELETE", kernel["id"])


# -- (b) an authorizer that denies workspaces -----------------------------------------------------------
def rest_calls(base_url: str) -> list[tuple[str, str]]:
    """(method, path) for every path of the REST document (test_api.py checks that every route
    is documented) and every method: the documented ones and those the route does not have."""
    calls = []
    for template, item in spec()["paths"].items():
        assert {m.upper() for m in item if m != "parameters"} <= set(METHODS), template
        path = f"{base_url}workspace-launcher/api" + template.replace("{workspace_id}", ECHO_ID)
        calls += [(method, path) for method in METHODS]
    return calls


@pytest.mark.parametrize("jp_server_config", [DENY_WORKSPACES], indirect=True)
async def test_a_denying_authorizer_gets_403_on_every_rest_route_and_method(host, client, test_owner, minimal_image):
    browser = await log_in(client, host)  # logged in: the host's own API answers it (log_in checks)
    calls = rest_calls(BASE_URL)
    assert len(calls) >= len(spec()["paths"]) * len(METHODS)
    for headers in (auth(host.token), browser.headers(f"http://127.0.0.1:{host.port}")):
        for method, path in calls:
            body = json.dumps({"profile": "minimal", "name": "denied"}) if method in ("POST", "PUT", "PATCH") else None
            response = await fetch(client, f"http://127.0.0.1:{host.port}{path}", method=method, body=body, headers=headers)
            assert response.code == 403, f"{method} {path} answered {response.code}: {response.body[:200]!r}"
            assert "Allow" not in response.headers, f"{method} {path} told a denied user its methods"
            if method != "HEAD":
                assert json.loads(response.body)["message"], (method, path)
    assert all(w.name != "denied" for w in await host.manager.list(owner=test_owner))


@pytest.mark.parametrize("jp_server_config", [DENY_WORKSPACES, {**DENY_WORKSPACES, **SAME_ORIGIN}], indirect=True,
                         ids=["own-origins", "same-origin"])
async def test_a_denying_authorizer_gets_403_on_every_proxy_and_handshake_method_and_upgrade(host, echo, client):
    browser = await log_in(client, host)
    proxied = f"{host.url}workspace-launcher/workspaces/{ECHO_ID}/"
    targets = [proxied + "api/contents/x", proxied + "lab", proxied.rstrip("/"), host.open_url(ECHO_ID),
               host.open_url(ECHO_ID, "path=lab")]
    for headers in (auth(host.token), browser.headers(f"http://127.0.0.1:{host.port}")):
        for url in targets:
            for method in METHODS:
                body = b"{}" if method in ("POST", "PUT", "PATCH") else None
                response = await fetch(client, url, method=method, body=body, headers=headers)
                assert response.code == 403, f"{method} {url} answered {response.code}"
                assert "Allow" not in response.headers and "Location" not in response.headers, (method, url)
        for url in (proxied + "ws", proxied + "api/kernels/k/channels", host.open_url(ECHO_ID)):
            with pytest.raises(HTTPClientError) as info:
                await ws_connect(url, headers)
            assert info.value.code == 403, url
    assert echo == []  # nothing reached the workspace
