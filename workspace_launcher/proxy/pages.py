"""The proxy's own answers for people and programs: small pages and JSON errors, all escaped."""

from __future__ import annotations

import html
import json

ERROR_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1><p>{message}</p>{link}</body></html>
"""


def error_page(title: str, message: str, link: tuple[str, str] | None) -> str:
    """A small page for people, everything in it escaped; ``link`` is (href, text)."""
    anchor = f'<p><a href="{html.escape(link[0])}">{html.escape(link[1])}</a></p>' if link else ""
    return ERROR_PAGE.format(title=html.escape(title), message=html.escape(message), link=anchor)


def json_error(message: str, reason: str | None) -> str:
    """``{message, reason}``, with markup characters escaped (the body may echo a URL)."""
    body = json.dumps({"message": message, "reason": reason})
    return body.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
