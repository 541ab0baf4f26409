"""Workspaces on origins of their own, against the real host server: the handshake (codes and
sessions), what a workspace's origin refuses, that nothing of the host is served there, that no
workspace is served on the host's origin, and the admin's same-origin opt-in.

Workspaces here are the echo stand-ins of ``proxy_support`` (the proxy and handlers are real);
``test_a_session_ends_when_its_workspace_stops`` uses a real workspace on the real engine.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from jupyter_server.auth import Authorizer
from jupyter_server.base.handlers import log as jupyter_log
from tornado.httpclient import HTTPClientError

from workspace_launcher.proxy.sessions import COOKIE_NAME
from workspace_launcher.workspaces.manager import WorkspaceManager

from .proxy_support import (  # noqa: F401 (fixtures)
    BASE_URL,
    ECHO_ID,
    OTHER_ID,
    auth,
    client,
    echo,
    fetch,
    handshake_code,
    host,
    jp_server_config,
    open_session,
    set_cookies,
    ws_connect,
)


class NoWorkspaces(Authorizer):
    """An authorizer that lets a user do everything but use workspaces."""

    def is_authorized(self, handler, user, action, resource) -> bool:
        return resource != "workspace_launcher"


def forwarded(echo: list) -> list:
    return [seen for seen in echo if "method" in seen or "ws-open" in seen]


# -- the handshake -------------------------------------------------------------------------------
async def test_opening_a_workspace_lands_on_its_own_origin_with_a_session(host, echo, client):
    location = await handshake_code(client, host, ECHO_ID, "path=lab/tree/object-detection-train.ipynb")
    assert host.token not in location
    traded = await fetch(client, location)
    assert traded.code == 302 and traded.headers["Location"] == host.prefix(ECHO_ID) + "lab/tree/object-detection-train.ipynb"
    assert traded.headers["Cache-Control"] == "no-store" and traded.headers["Referrer-Policy"] == "no-referrer"
    cookie = set_cookies(traded)[COOKIE_NAME]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and not cookie["secure"] and not cookie["domain"]
    assert int(cookie["max-age"]) == 12 * 3600
    page = await fetch(client, host.at(ECHO_ID, "lab"), headers={"Cookie": f"{COOKIE_NAME}={cookie.value}"})
    assert page.code == 200
    assert echo and host.token not in json.dumps(echo)


async def test_a_code_works_once_and_only_for_its_workspace(host, echo, client):
    location = await handshake_code(client, host, ECHO_ID)
    assert (await fetch(client, location)).code == 302
    replayed = await fetch(client, location)
    assert replayed.code == 403 and b"already used" in replayed.body and "Set-Cookie" not in replayed.headers
    # A code carried to another workspace's origin is refused there, and spent.
    location = await handshake_code(client, host, ECHO_ID)
    elsewhere = location.replace(f"//{ECHO_ID}.localhost", f"//{OTHER_ID}.localhost")
    assert (await fetch(client, elsewhere)).code == 403
    assert (await fetch(client, location)).code == 403
    code = parse_qs(urlsplit(location).query)["code"][0]
    for made_up in ("", "x", code[:-1]):
        assert (await fetch(client, location.replace(code, made_up))).code == 403
    assert forwarded(echo) == []


@pytest.mark.parametrize("jp_server_config", [{"WorkspaceSessions.code_lifetime": 0.3}], indirect=True)
async def test_an_expired_code_is_refused(host, echo, client):
    location = await handshake_code(client, host, ECHO_ID)
    await asyncio.sleep(0.5)
    assert (await fetch(client, location)).code == 403


async def test_a_session_is_refused_by_other_workspaces_and_by_the_host(host, echo, client):
    session = await open_session(client, host, ECHO_ID)
    assert (await fetch(client, host.at(ECHO_ID, "echo"), headers=session.cookie)).code == 200
    echo.clear()
    assert (await fetch(client, host.at(OTHER_ID, "echo"), headers=session.cookie)).code == 403
    # Another workspace's path on this workspace's origin: not served at all.
    crossed = host.origin_of(ECHO_ID) + host.prefix(OTHER_ID) + "echo"
    assert (await fetch(client, crossed, headers=session.cookie)).code == 404
    assert forwarded(echo) == []
    # The host knows nothing of workspace sessions.
    for path in ("api/kernels", "api/terminals", "workspace-launcher/api/workspaces", "api/contents"):
        assert (await fetch(client, host.url + path, headers=session.cookie)).code in (403, 404), path
    assert (await fetch(client, host.open_url(ECHO_ID), headers=session.cookie)).code == 302  # to the login page
    assert "/login" in (await fetch(client, host.open_url(ECHO_ID), headers=session.cookie)).headers["Location"]


async def test_without_a_session_nothing_is_forwarded(host, echo, client):
    for headers in ({}, auth(host.token), {"Cookie": f"{COOKIE_NAME}=forged; _xsrf=x"},
                    {"Cookie": f"username-127-0-0-1-{host.port}=forged"}):
        for method in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
            body = b"{}" if method in ("POST", "PUT", "PATCH") else None
            for rest in ("api/contents/x", "lab"):
                response = await fetch(client, host.at(ECHO_ID, rest), method=method, body=body, headers=headers)
                assert response.code == 403, f"{method} {rest} answered {response.code}"
        page = await fetch(client, host.at(ECHO_ID, "lab"), headers=headers)
        assert page.headers["Content-Type"].startswith("text/html")
        assert f'href="http://localhost:{host.port}{BASE_URL}workspace-launcher/open/{ECHO_ID}"'.encode() in page.body
        for path in ("api/kernels/k/channels", "terminals/websocket/1", "ws"):
            with pytest.raises(HTTPClientError) as info:
                await ws_connect(host.at(ECHO_ID, path), headers)
            assert info.value.code == 403
    assert forwarded(echo) == []


async def test_opening_needs_the_hosts_login_and_an_own_workspace(host, echo, client, jp_serverapp, monkeypatch):
    page = await fetch(client, host.open_url(ECHO_ID))
    assert page.code == 302 and "/login?next=" in page.headers["Location"]
    assert (await fetch(client, host.open_url(ECHO_ID), method="HEAD")).code in (302, 403)
    for bad in ("..", "0123456789ab%2F..", "127.0.0.1:22", "%3Cscript%3E"):
        response = await fetch(client, host.open_url(bad), headers=auth(host.token))
        assert response.code in (400, 404) and b"<script>" not in response.body, bad
    for path in ("/etc", "../../api/kernels", "lab/..%2F..%2F..%2Fapi", "a\\b", "\r\nSet-Cookie:x=1"):
        response = await fetch(client, host.open_url(ECHO_ID, "path=" + path.replace("\r\n", "%0D%0A")), headers=auth(host.token))
        assert response.code == 400, path
    monkeypatch.setitem(jp_serverapp.web_app.settings, "workspace_launcher_owner", "someone-else")
    assert (await fetch(client, host.open_url(ECHO_ID), headers=auth(host.token))).code == 404


@pytest.mark.parametrize("jp_server_config", [{"ServerApp.authorizer_class": "tests.integration.test_origins.NoWorkspaces"}], indirect=True)
async def test_an_authorizer_that_denies_workspaces_denies_opening_them(host, echo, client):
    assert (await fetch(client, host.open_url(ECHO_ID), headers=auth(host.token))).code == 403
    assert (await fetch(client, host.open_url(ECHO_ID), method="HEAD", headers=auth(host.token))).code == 403


async def test_a_session_ends_when_its_workspace_stops(host, client, session_config, minimal_image, test_owner, jp_serverapp):
    """Real workspace: stop ends its sessions; a start makes a new generation, so the old
    cookie stays refused; a new handshake works."""
    launched = await host.manager.launch(owner=test_owner, profile="minimal", name="sessions")
    try:
        session = await open_session(client, host, launched.id)
        assert (await fetch(client, host.at(launched.id, "api/status"), headers=session.cookie)).code == 200
        await host.manager.stop(owner=test_owner, workspace_id=launched.id)
        # The ended session opens nothing, but its tab is told why: stopped (503, which JupyterLab backs off on).
        stopped = await fetch(client, host.at(launched.id, "api/status"), headers=session.cookie)
        assert stopped.code == 503 and b"stopped" in stopped.body, stopped.body
        page = await fetch(client, host.at(launched.id, "lab"), headers=session.cookie)
        assert page.code == 503 and b"<h1>503 : Service Unavailable</h1>" in page.body
        assert b"Open the workspace again" in page.body and "default-src 'none'" in page.headers["Content-Security-Policy"]
        await host.manager.start(owner=test_owner, workspace_id=launched.id)
        refused = await fetch(client, host.at(launched.id, "api/status"), headers=session.cookie)
        assert refused.code == 403 and b"restarted" in refused.body
        # Restarted behind this server's back (another server, the engine's CLI): the generation moved on.
        fresh = await open_session(client, host, launched.id)
        assert (await fetch(client, host.at(launched.id, "api/status"), headers=fresh.cookie)).code == 200
        other = WorkspaceManager(config=session_config, base_url=BASE_URL)
        await other.stop(owner=test_owner, workspace_id=launched.id)
        await other.start(owner=test_owner, workspace_id=launched.id)
        other.engine.close()
        await asyncio.sleep(2.1)  # the host's connection cache (connections.CONNECTION_TTL) expires
        refused = await fetch(client, host.at(launched.id, "api/status"), headers=fresh.cookie)
        assert refused.code == 403 and b"restarted" in refused.body
        # Deleted: its last session goes with it, and its tab is told it is gone (410, not 404).
        last = await open_session(client, host, launched.id)
        await host.manager.delete(owner=test_owner, workspace_id=launched.id, purge=True)
        sessions = jp_serverapp.web_app.settings["workspace_launcher_sessions"]
        assert sessions.find([last.value], workspace_id=launched.id) is None
        gone = await fetch(client, host.at(launched.id, "api/contents"), headers=last.cookie)
        assert gone.code == 410 and json.loads(gone.body)["reason"] == "Gone"
        assert f"Workspace {launched.id} was deleted" in json.loads(gone.body)["message"]
        page = await fetch(client, host.at(launched.id, "lab"), headers=last.cookie)
        assert page.code == 410 and b"<h1>410 : Gone</h1>" in page.body
        assert f'href="http://localhost:{host.port}{BASE_URL}lab">Back to JupyterLab'.encode() in page.body
        # A cookie that never was a session learns nothing of it.
        assert (await fetch(client, host.at(launched.id, "api/status"), headers={"Cookie": f"{COOKIE_NAME}=x"})).code == 403
    finally:
        if launched.id in {w.id for w in await host.manager.list(owner=test_owner)}:
            await host.manager.delete(owner=test_owner, workspace_id=launched.id, purge=True)



class Records(logging.Handler):
    """What the server logs while it is attached."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


async def test_a_workspace_deleted_elsewhere_answers_its_tabs_410_and_says_so_once(
    host, client, session_config, minimal_image, test_owner
):
    """Real workspace, deleted by another server (the CLI): this server's session still holds,
    so the proxy learns it from the engine. Never 404 (JupyterLab re-asks a 404 directory at
    once, forever); one log line per interval, not two per request."""
    launched = await host.manager.launch(owner=test_owner, profile="minimal", name="deleted-elsewhere")
    session = await open_session(client, host, launched.id)
    other = WorkspaceManager(config=session_config, base_url=BASE_URL)
    try:
        await other.delete(owner=test_owner, workspace_id=launched.id, purge=True)
    finally:
        other.engine.close()
    await asyncio.sleep(2.1)  # the host's connection cache (connections.CONNECTION_TTL) expires
    records, logger = Records(), jupyter_log()
    logger.addHandler(records)
    try:
        for rest in ["api/contents", "api/kernels", "api/sessions", "lab/api/workspaces"] * 10:
            answer = await fetch(client, host.at(launched.id, rest), headers=session.cookie)
            assert answer.code == 410 and answer.headers["Content-Type"] == "application/json", (rest, answer.code)
        with pytest.raises(HTTPClientError) as refused:
            await ws_connect(host.at(launched.id, "api/events/subscribe"), session.cookie)
        assert refused.value.code == 410
    finally:
        logger.removeHandler(records)
    about = [line for line in records.lines if launched.id in line]
    assert len(about) == 1 and "answering 410" in about[0] and "were not logged" in about[0], about


# -- what a workspace's origin refuses ------------------------------------------------------------
async def test_cross_origin_requests_and_upgrades_are_refused_before_forwarding(host, echo, client):
    session = await open_session(client, host, ECHO_ID)
    for origin in (host.origin_of(OTHER_ID), f"http://127.0.0.1:{host.port}", "null", "http://evil.example"):
        for method in ("POST", "PUT", "DELETE", "GET"):
            body = b"{}" if method in ("POST", "PUT") else None
            response = await fetch(client, host.at(ECHO_ID, "api/contents/x"), method=method, body=body,
                                   headers={**session.cookie, "Origin": origin})
            assert response.code == 403, f"{method} from {origin}: {response.code}"
        with pytest.raises(HTTPClientError) as info:
            await ws_connect(host.at(ECHO_ID, "ws"), {**session.cookie, "Origin": origin})
        assert info.value.code == 403
    # A sibling's page including a workspace's script (no Origin on no-cors loads; fetch metadata tells).
    included = await fetch(client, host.at(ECHO_ID, "static/x.js"), headers={
        **session.cookie, "Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "script"})
    assert included.code == 403
    assert forwarded(echo) == []
    # The workspace's own pages pass.
    own = await fetch(client, host.at(ECHO_ID, "api/contents/x"), method="POST", body=b"{}",
                      headers={**session.cookie, "Origin": host.origin_of(ECHO_ID), "Sec-Fetch-Site": "same-origin"})
    assert own.code == 200


async def test_files_keep_jupyters_cross_site_inclusion_defence(host, echo, client):
    session = await open_session(client, host, ECHO_ID)
    url = host.at(ECHO_ID, "files/secret.js")
    assert (await fetch(client, url, headers=session.cookie)).code == 403  # no Referer
    assert (await fetch(client, url, headers={**session.cookie, "Referer": host.at(OTHER_ID, "lab")})).code == 403
    assert forwarded(echo) == []
    assert (await fetch(client, url, headers={**session.cookie, "Referer": host.at(ECHO_ID, "lab")})).code == 200
    assert (await fetch(client, url, headers={**session.cookie, "Sec-Fetch-Site": "same-origin"})).code == 200
    # JupyterLab's download links carry the workspace's _xsrf: it must match its cookie.
    xsrf = set_cookies(await fetch(client, host.at(ECHO_ID, "cookies"), headers=session.cookie))["_xsrf"].value
    with_cookie = {"Cookie": f"{COOKIE_NAME}={session.value}; _xsrf={xsrf}"}
    assert (await fetch(client, url + f"?_xsrf={xsrf}", headers=with_cookie)).code == 200
    assert (await fetch(client, url + "?_xsrf=guess", headers=with_cookie)).code == 403


# -- nothing of the host on a workspace's origin; no workspace on the host's ----------------------
def host_routes(jp_serverapp) -> list[str]:
    """Every route pattern of the host's own (any-host) router: Jupyter's and the extensions'."""
    patterns = []
    for rule in jp_serverapp.web_app.default_router.rules:
        host_pattern = getattr(rule.matcher, "host_pattern", None)  # None: tornado's AnyMatches
        if host_pattern is not None and host_pattern.pattern != ".*$":
            continue
        for inner in getattr(rule.target, "rules", []):
            patterns.append(inner.matcher.regex.pattern)
    return patterns


def concrete(pattern: str) -> str:
    values = {"workspace_id": ECHO_ID, "action": "stop", "path": "/lab", "kernel_id": "k", "session_id": "s"}
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)\??", lambda m: values.get(m.group(1), "x"), pattern)
    path = re.sub(r"\([^)]*\)\??", "x", path)
    path = path.rstrip("$").replace("\\", "").replace(".*", "x")
    return path if path.startswith("/") else "/" + path


EVERY_EXTENSION = {"jupyterlab": True, "jupyter_server_terminals": True, "workspace_launcher": True}


@pytest.mark.parametrize("jp_server_config", [{"ServerApp.allow_remote_access": True,
                                               "ServerApp.jpserver_extensions": EVERY_EXTENSION}], indirect=True)
async def test_nothing_of_the_host_is_served_on_a_workspaces_origin(host, echo, client, jp_serverapp):
    """Every host route (JupyterLab's and the terminals' too, whose extensions load before this
    one), asked for on a workspace's origin with the host's token and cookies, and with the
    host's own guard against foreign Host names switched off."""
    session = await open_session(client, host, ECHO_ID)
    routes = host_routes(jp_serverapp)
    assert any("api/kernels" in r for r in routes) and any("/lab" in r for r in routes), routes
    assert any("terminals/websocket" in r for r in routes), routes
    host_cookie = f"username-127-0-0-1-{host.port}=x; _xsrf=x; {COOKIE_NAME}={session.value}"
    origin = host.origin_of(ECHO_ID)
    for pattern in routes:
        path = concrete(pattern)
        if path.startswith(f"{BASE_URL}workspace-launcher/workspaces/"):
            continue  # the workspace's own prefix: the proxy, tested above
        for method in ("GET", "POST"):
            response = await fetch(client, origin + path, method=method, body=b"{}" if method == "POST" else None,
                                   headers={**auth(host.token), "Cookie": host_cookie})
            if response.code == 302:  # the origin's root leads to the workspace's lab, nowhere else
                assert method == "GET" and response.headers["Location"] == host.prefix(ECHO_ID) + "lab", path
                continue
            assert response.code == 404 and b"nothing but the workspace" in response.body, (
                f"{method} {path} on a workspace's origin answered {response.code}: {response.body[:200]!r}")
    assert forwarded(echo) == []


async def test_no_workspace_is_served_on_the_hosts_origin(host, echo, client):
    old = f"{host.url}workspace-launcher/workspaces/{ECHO_ID}/"
    page = await fetch(client, old + "lab/tree/x.ipynb?token=" + host.token)
    assert page.code == 302 and page.headers["Location"].endswith(f"workspace-launcher/open/{ECHO_ID}?path=lab/tree/x.ipynb")
    for method, rest in (("GET", "api/contents"), ("POST", "api/kernels"), ("PUT", "lab"), ("DELETE", "api/sessions/x")):
        body = b"{}" if method in ("POST", "PUT") else None
        response = await fetch(client, old + rest, method=method, body=body, headers=auth(host.token))
        assert response.code == 404, (method, rest, response.code)
    with pytest.raises(HTTPClientError) as info:
        await ws_connect(old + "ws", auth(host.token))
    assert info.value.code == 404
    assert forwarded(echo) == []


# -- the admin's same-origin opt-in --------------------------------------------------------------
@pytest.mark.parametrize("jp_server_config", [{"WorkspaceOrigins.same_origin": True}], indirect=True)
async def test_same_origin_opt_in_serves_workspaces_on_the_hosts_origin(host, echo, client):
    opened = await fetch(client, host.open_url(ECHO_ID), headers=auth(host.token))
    assert opened.code == 302 and opened.headers["Location"] == host.prefix(ECHO_ID) + "lab"
    page = await fetch(client, f"{host.url}workspace-launcher/workspaces/{ECHO_ID}/echo", headers=auth(host.token))
    assert page.code == 200 and json.loads(page.body)["headers"]["Authorization"] == "token echo-workspace-token-0123456789abcdef"
    # Still: a host token leaves a page URL, and origin-wide headers never cross.
    tokened = await fetch(client, f"{host.url}workspace-launcher/workspaces/{ECHO_ID}/lab?token={host.token}")
    assert tokened.code == 302 and "token=" not in tokened.headers["Location"]
    wide = await fetch(client, f"{host.url}workspace-launcher/workspaces/{ECHO_ID}/origin-wide", headers=auth(host.token))
    assert wide.code == 200 and "Service-Worker-Allowed" not in wide.headers and "Clear-Site-Data" not in wide.headers
    # No workspace origin is answered at all then.
    assert (await fetch(client, host.at(ECHO_ID, "echo"))).code == 403  # the host's guard against foreign Host names
