"""The proxy's own answers for people and programs: small pages and JSON errors, all escaped.

The page looks like jupyter_server's own error page (its ``templates/error.html`` on
``page.html``: a header with a rule under it, then the status in large type, centred, and the
message) but is self-contained: its CSS is inline and it loads nothing, so it renders the same
on a workspace's origin, whose Jupyter may be gone, and ``PAGE_CSP`` can forbid every fetch.
"""

from __future__ import annotations

import html
import json

#: For the proxy's own pages: inline style only, no script, no fetch, no framing.
PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)

#: jupyter_server's static/style/index.css, the parts its error page uses, without Bootstrap.
_STYLE = """
body { margin: 0; font-family: "Helvetica Neue", Helvetica, Arial, sans-serif; font-size: 13px;
  line-height: 1.42857143; color: #000; background: #fff; }
#header-container { display: flex; padding: 5px; box-sizing: border-box; }
.navbar-brand { height: 30px; padding: 6px 0; font-size: 17px; line-height: 18px; color: #f37726; }
.header-bar { width: 100%; height: 1px; background: #e7e7e7; margin-bottom: -1px; }
div.error { margin: 2em; text-align: center; }
div.error > h1 { font-size: 500%; line-height: normal; margin: 0.67em 0; font-weight: 500; }
div.error > p { font-size: 200%; line-height: normal; margin: 0 0 10px; }
div.error > p.way-back { font-size: 150%; }
a { color: #337ab7; text-decoration: none; }
a:hover, a:focus { color: #23527c; text-decoration: underline; }
"""

ERROR_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{title}</title><style>{style}</style></head>
<body dir="ltr">
<div id="header" role="navigation"><div id="header-container"><div class="navbar-brand">{brand}</div></div>
<div class="header-bar"></div></div>
<div id="site"><div class="error"><h1>{status} : {reason}</h1><p>{message}</p>{link}</div></div>
</body></html>
"""


def error_page(status: int, reason: str, message: str, link: tuple[str, str] | None,
               *, brand: str = "Jupyter workspace") -> str:
    """A page for people, everything in it escaped; ``link`` is (href, text)."""
    anchor = f'<p class="way-back"><a href="{html.escape(link[0])}">{html.escape(link[1])}</a></p>' if link else ""
    return ERROR_PAGE.format(
        title=html.escape(f"{status} {reason}"), style=_STYLE, brand=html.escape(brand), status=int(status),
        reason=html.escape(reason), message=html.escape(message), link=anchor,
    )


def json_error(message: str, reason: str | None) -> str:
    """``{message, reason}``, with markup characters escaped (the body may echo a URL)."""
    body = json.dumps({"message": message, "reason": reason})
    return body.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
