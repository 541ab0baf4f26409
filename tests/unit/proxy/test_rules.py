"""The proxy's pure rules of what crosses it, each way."""

from __future__ import annotations

import pytest

from workspace_launcher.proxy.rules import (
    DROPPED_REQUEST_HEADERS,
    DROPPED_RESPONSE_HEADERS,
    Redactor,
    drop_query,
    forwarded_cookies,
    forwarded_query,
    has_query,
    rewrite_location,
    rewrite_set_cookie,
    scrubbed_referer,
    sendable_close_code,
    valid_content_length,
    within,
)
from workspace_launcher.workspaces.upstream import Upstream

TOKEN = "echo-workspace-token-0123456789abcdef"
PREFIX = "/p/workspace-launcher/workspaces/0123456789ab/"
UPSTREAM = Upstream("172.18.0.5", 8888, PREFIX, TOKEN)


def test_redaction_survives_any_chunking():
    body = b"<p>" + TOKEN.encode() + b"</p><i>" + TOKEN.encode() + b"</i>"
    for size in (1, 2, 7, len(TOKEN) - 1, len(TOKEN), 1000):
        redact = Redactor(TOKEN.encode())
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
    assert drop_query("token=t&_xsrf=x&reset", frozenset({"token"})) == "_xsrf=x&reset"
    assert has_query("a=1&%74oken=x", "token") and not has_query("tokens=1&a=token", "token")


def test_a_referer_loses_the_hosts_credentials():
    referer = "http://127.0.0.1:8888/lab/tree/x.ipynb?token=HOST&_xsrf=X&reset#frag"
    assert scrubbed_referer(referer) == "http://127.0.0.1:8888/lab/tree/x.ipynb?reset"
    assert scrubbed_referer("http://h/a") == "http://h/a"


def test_origin_wide_response_headers_are_named():
    assert {"service-worker-allowed", "clear-site-data"} <= DROPPED_RESPONSE_HEADERS
    assert {"cookie", "authorization", "referer", "x-xsrftoken"} <= DROPPED_REQUEST_HEADERS


def test_cookies_on_either_origin():
    sent = ["_xsrf=h; username-127-0-0-1-8888=login; app=1", "workspace-launcher-session=s; jupyterhub-session-id=j"]
    dropped = frozenset({"workspace-launcher-session"})
    # The host's origin: its own cookies never reach a workspace.
    assert forwarded_cookies(sent, dropped, xsrf_cookie="_xsrf", login_cookie="username-127-0-0-1-8888") == "app=1"
    # A workspace's origin: every cookie there is the workspace's, but the launcher's session.
    assert forwarded_cookies(sent, dropped) == "_xsrf=h; username-127-0-0-1-8888=login; app=1; jupyterhub-session-id=j"


def test_set_cookie_stays_host_only_and_inside_the_prefix():
    dropped = frozenset({"workspace-launcher-session"})
    assert rewrite_set_cookie("app=1; Path=/; Domain=localhost", prefix=PREFIX, dropped=dropped) == f"app=1; Path={PREFIX}"
    assert rewrite_set_cookie(f"deep=2; Path={PREFIX}sub/; HttpOnly", prefix=PREFIX) == f"deep=2; Path={PREFIX}sub/; HttpOnly"
    assert rewrite_set_cookie("workspace-launcher-session=forged", prefix=PREFIX, dropped=dropped) is None
    assert rewrite_set_cookie("_xsrf=w", prefix=PREFIX) == f"_xsrf=w; Path={PREFIX}"  # the workspace's own
    assert rewrite_set_cookie("_xsrf=w", prefix=PREFIX, xsrf_cookie="_xsrf") is None  # on the host's origin


def test_redirects_stay_inside_the_workspace():
    def where(location: str) -> str:
        return rewrite_location(location, prefix=PREFIX, upstream=UPSTREAM, request_path=PREFIX + "a")

    assert where("http://evil.example/steal") == PREFIX
    assert where(f"http://172.18.0.5:8888{PREFIX}lab?x=1") == PREFIX + "lab?x=1"
    assert where(f"{PREFIX}../../../api/kernels") == PREFIX
    assert where("lab") == PREFIX + "lab"


@pytest.mark.parametrize("values,ok", [
    ([], True), (["0"], True), (["123"], True),
    (["3, 3"], False), (["3", "3"], False), (["+3"], False), (["0x3"], False), ([" 3"], False),
    (["9" * 16], False), (["٣"], False),
])
def test_content_length_must_be_one_plain_number(values, ok):
    assert valid_content_length(values) is ok


# -- absolute redirects to either route's upstream (network, or the published loopback port) -------
ROUTE_PREFIX = "/workspace-launcher/workspaces/abc123/"


@pytest.mark.parametrize("upstream", [Upstream("172.18.0.5", 8888, ROUTE_PREFIX, "t"), Upstream("127.0.0.1", 32801, ROUTE_PREFIX, "t")])
def test_absolute_redirects_to_the_upstream_become_paths(upstream):
    absolute = f"http://{upstream.host}:{upstream.port}{ROUTE_PREFIX}lab?reset"
    assert rewrite_location(absolute, prefix=ROUTE_PREFIX, upstream=upstream, request_path=ROUTE_PREFIX) == ROUTE_PREFIX + "lab?reset"
    other_port = f"http://{upstream.host}:1{ROUTE_PREFIX}lab"
    assert rewrite_location(other_port, prefix=ROUTE_PREFIX, upstream=upstream, request_path=ROUTE_PREFIX) == ROUTE_PREFIX
    elsewhere = f"http://evil.example{ROUTE_PREFIX}lab"
    assert rewrite_location(elsewhere, prefix=ROUTE_PREFIX, upstream=upstream, request_path=ROUTE_PREFIX) == ROUTE_PREFIX
    leaving = "../../other/"
    assert rewrite_location(leaving, prefix=ROUTE_PREFIX, upstream=upstream, request_path=ROUTE_PREFIX + "tree/") == ROUTE_PREFIX
