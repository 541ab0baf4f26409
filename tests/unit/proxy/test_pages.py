"""The proxy's own pages and JSON errors: escaped, self-contained, shaped like Jupyter's."""

from __future__ import annotations

import json
import re

from workspace_launcher.proxy.pages import PAGE_CSP, error_page, json_error

EVIL = '<script>alert("x")</script>&'


def test_the_page_has_jupyters_error_layout():
    page = error_page(410, "Gone", "Workspace abc was deleted.", ("http://localhost:8888/lab", "Back to JupyterLab"))
    assert "<title>410 Gone</title>" in page
    assert '<div class="error"><h1>410 : Gone</h1><p>Workspace abc was deleted.</p>' in page
    assert '<div class="header-bar"></div>' in page
    assert '<a href="http://localhost:8888/lab">Back to JupyterLab</a>' in page
    assert "div.error > h1 { font-size: 500%" in page  # jupyter_server's own sizes


def test_the_page_loads_nothing():
    page = error_page(503, "Service Unavailable", "stopped", ("/open/x", "Open it again"))
    assert not re.search(r"<(script|link|img|iframe)\b|src=|url\(|@import", page)
    assert "default-src 'none'" in PAGE_CSP and "script-src" not in PAGE_CSP


def test_everything_in_the_page_is_escaped():
    page = error_page(403, EVIL, EVIL, ('javascript:"><script>', EVIL))
    assert "<script>" not in page and 'href="javascript:&quot;&gt;&lt;script&gt;"' in page
    assert error_page(404, "Not Found", "x", None).count("<a ") == 0


def test_json_errors_escape_markup():
    body = json_error(EVIL, "Gone")
    assert "<" not in body and ">" not in body and "&" not in body
    assert json.loads(body) == {"message": EVIL, "reason": "Gone"}
