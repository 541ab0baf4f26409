"""Which browser requests may reach a workspace on its own origin."""

from __future__ import annotations

import pytest

from workspace_launcher.proxy.policy import cross_origin_refusal, guarded_read_refusal, origin_of

OWN = "http://0123456789ab.localhost:8888"
SIBLING = "http://ba9876543210.localhost:8888"
HOST = "http://127.0.0.1:8888"


def headers(**values: str) -> dict[str, str]:
    return {name.replace("_", "-").title(): value for name, value in values.items()}


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
@pytest.mark.parametrize("origin", [SIBLING, HOST, "null", "http://0123456789ab.localhost:9999",
                                    "https://0123456789ab.localhost:8888", "http://evil.example"])
def test_a_foreign_origin_is_refused_whatever_the_method(method, origin):
    assert cross_origin_refusal(method, headers(origin=origin), own_origin=OWN) is not None


@pytest.mark.parametrize(
    "request_headers",
    [
        {},  # a program, not a browser
        headers(origin=OWN),
        headers(origin=OWN.upper().replace("HTTP:", "http:")),
        headers(origin=OWN, sec_fetch_site="same-origin", sec_fetch_mode="cors", sec_fetch_dest="empty"),
        headers(sec_fetch_site="none", sec_fetch_mode="navigate", sec_fetch_dest="document"),  # typed
        # A link from the host (or anywhere) opening the workspace, and the handshake's redirect:
        headers(sec_fetch_site="cross-site", sec_fetch_mode="navigate", sec_fetch_dest="document"),
        headers(sec_fetch_site="same-site", sec_fetch_mode="navigate", sec_fetch_dest="document"),
    ],
)
def test_same_origin_programs_and_top_level_navigations_pass(request_headers):
    assert cross_origin_refusal("GET", request_headers, own_origin=OWN) is None


@pytest.mark.parametrize(
    "method,request_headers",
    [
        ("GET", headers(sec_fetch_site="cross-site", sec_fetch_mode="no-cors", sec_fetch_dest="script")),
        ("GET", headers(sec_fetch_site="same-site", sec_fetch_mode="no-cors", sec_fetch_dest="image")),
        ("GET", headers(sec_fetch_site="same-site", sec_fetch_mode="navigate", sec_fetch_dest="iframe")),
        ("GET", headers(sec_fetch_site="cross-site", sec_fetch_mode="websocket", sec_fetch_dest="empty")),
        ("POST", headers(sec_fetch_site="cross-site", sec_fetch_mode="navigate", sec_fetch_dest="document")),
        ("GET", headers(sec_fetch_site="same-site", sec_fetch_mode="cors", sec_fetch_dest="empty")),
    ],
)
def test_cross_site_subresources_frames_and_form_posts_are_refused(method, request_headers):
    assert cross_origin_refusal(method, request_headers, own_origin=OWN) is not None


def test_lowercase_header_mappings_work_too():
    assert cross_origin_refusal("POST", {"origin": SIBLING}, own_origin=OWN) is not None


@pytest.mark.parametrize("rest", ["files/secret.js", "nbconvert/html/x.ipynb"])
def test_guarded_reads_need_a_first_party_sign(rest):
    def refusal(xsrf=False, **values):
        return guarded_read_refusal("GET", rest, headers(**values), own_origin=OWN, xsrf_matches=xsrf)

    assert refusal() is not None  # no Referer: an unknown page
    assert refusal(referer=SIBLING + "/page.html") is not None
    assert refusal(referer="http://evil.example/") is not None
    assert refusal(sec_fetch_site="same-site", referer=SIBLING + "/") is not None
    assert refusal(referer=OWN + "/workspace-launcher/workspaces/0123456789ab/lab") is None
    assert refusal(sec_fetch_site="same-origin") is None
    assert refusal(sec_fetch_site="none") is None  # typed into the address bar
    assert refusal(xsrf=True) is None  # JupyterLab's download link


def test_other_reads_and_methods_are_not_guarded_here():
    assert guarded_read_refusal("GET", "lab", {}, own_origin=OWN, xsrf_matches=False) is None
    assert guarded_read_refusal("GET", "api/contents/x", {}, own_origin=OWN, xsrf_matches=False) is None
    assert guarded_read_refusal("POST", "files/x", {}, own_origin=OWN, xsrf_matches=False) is None


def test_origin_of():
    assert origin_of("http://A.localhost:80/x?y") == "http://a.localhost"
    assert origin_of("null") is None
    assert origin_of("http://h:99999/") is None
    assert origin_of("file:///etc/passwd") is None
