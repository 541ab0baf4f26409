"""Pure rules of what crosses the proxy, each way: headers, cookies, queries, redirects, bodies.

Nothing here does I/O; the handlers apply these rules and the unit tests call them directly.
"""

from __future__ import annotations

import posixpath
import re
from urllib.parse import unquote, unquote_plus, urljoin, urlsplit, urlunsplit

from workspace_launcher.workspaces.upstream import Upstream

HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
     "te", "trailer", "trailers", "transfer-encoding", "upgrade"}
)
#: Request headers never forwarded: host credentials (the XSRF headers carry the host's token),
#: headers the proxy sets itself, and the WebSocket handshake, which aiohttp makes anew.
DROPPED_REQUEST_HEADERS = HOP_BY_HOP | {
    "host", "authorization", "cookie", "expect", "origin", "referer", "x-xsrftoken", "x-csrftoken",
    "forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-port",
    "x-forwarded-prefix", "x-real-ip", "sec-websocket-key", "sec-websocket-version",
    "sec-websocket-extensions", "sec-websocket-protocol",
}
#: Response headers that act beyond the response itself, on the whole origin (or host name) and
#: for longer than the page: never passed to the browser, whichever origin serves the workspace.
DROPPED_RESPONSE_HEADERS = frozenset(
    {
        "service-worker-allowed",  # a service worker scoped above its script: once, the host's /lab
        "clear-site-data",  # wipes every cookie and storage of the origin: once, the host's login
        "strict-transport-security",  # pins the scheme for the host name and its subdomains
        "alt-svc",  # sends the origin's later connections to another host or port
        "nel", "report-to",  # origin-wide reporting policies, kept by the browser
    }
)
#: Query parameters that carry host credentials: never forwarded, nor left in a Referer.
DROPPED_QUERY = frozenset({"token", "_xsrf"})
HOST_COOKIE_PREFIXES = ("username-", "jupyterhub-")
_UNSENDABLE_CLOSE_CODES = frozenset({1004, 1005, 1006, 1015})


def is_host_cookie(name: str, xsrf_cookie: str = "_xsrf", login_cookie: str | None = None) -> bool:
    """Cookies of the host server that never cross the proxy on the host's origin, either way."""
    return name in (xsrf_cookie, login_cookie) or name.startswith(HOST_COOKIE_PREFIXES)


def forwarded_cookies(cookie_headers: list[str], dropped: frozenset[str] = frozenset(), **host_names: str | None) -> str:
    """The browser's cookies minus the host's (and ``dropped`` names), in their original order and form.

    With no host cookie names given (the workspace's own origin, where no host cookie exists),
    only the ``dropped`` names are removed.
    """
    kept = []
    for header in cookie_headers:
        for item in header.split(";"):
            item = item.strip()
            name = item.partition("=")[0].strip()
            if not item or name in dropped or (host_names and is_host_cookie(name, **host_names)):
                continue
            kept.append(item)
    return "; ".join(kept)


def drop_query(query: str, names: frozenset[str]) -> str:
    """A query string minus the parameters ``names``, the rest byte for byte."""
    return "&".join(p for p in query.split("&") if p and unquote_plus(p.partition("=")[0]) not in names)


def forwarded_query(query: str) -> str:
    """The query string minus the host's credentials (``token``, ``_xsrf``), byte for byte."""
    return drop_query(query, DROPPED_QUERY)


def has_query(query: str, name: str) -> bool:
    """Whether a query string carries the parameter ``name`` (percent-decoded)."""
    return any(unquote_plus(p.partition("=")[0]) == name for p in query.split("&") if p)


def scrubbed_referer(referer: str) -> str:
    """A Referer without the host's credentials in its query (a page opened as ``lab?token=...``
    would otherwise hand the host's token to every workspace request it makes)."""
    parts = urlsplit(referer)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, forwarded_query(parts.query), ""))


_CONTENT_LENGTH = re.compile(r"^[0-9]{1,15}$")


def valid_content_length(values: list[str]) -> bool:
    """At most one Content-Length, of plain decimal digits (none is fine)."""
    return not values or (len(values) == 1 and bool(_CONTENT_LENGTH.fullmatch(values[0])))


def within(path: str, prefix: str) -> bool:
    """Whether ``path``, percent-decoded and with dot segments resolved, stays under ``prefix``.

    Decoding first means ``%2e%2e`` and ``%2F`` cannot smuggle a ``..`` past the check.
    """
    decoded = unquote(path).replace("\\", "/")
    root = unquote(prefix).rstrip("/")
    normal = posixpath.normpath(decoded) if decoded else ""
    return normal == root or normal.startswith(root + "/")


def rewrite_location(location: str, *, prefix: str, upstream: Upstream, request_path: str) -> str:
    """Keep a redirect inside the workspace: an absolute URL to the upstream itself becomes a path,
    and anything that would leave the prefix (another host, ``..``) becomes the prefix's root."""
    parts = urlsplit(location)
    if parts.scheme or parts.netloc:
        try:
            to_upstream = upstream.is_self(parts.hostname, parts.port)
        except ValueError:
            to_upstream = False
        if not to_upstream or parts.scheme not in ("http", "https"):
            return prefix
    path = urljoin(request_path, parts.path) if parts.path else request_path
    if not within(path, prefix):
        return prefix
    return urlunsplit(("", "", path, parts.query, parts.fragment))


def rewrite_set_cookie(value: str, *, prefix: str, dropped: frozenset[str] = frozenset(), **host_names: str) -> str | None:
    """A workspace's ``Set-Cookie`` scoped to its prefix and host-only; ``None`` drops it.

    Dropped: cookies named in ``dropped`` (the launcher's own session cookie) and, when host
    cookie names are given (the host's origin), the host's. ``Domain`` always goes: a cookie
    for a parent domain would reach the host or other workspaces.
    """
    name_value, *attributes = value.split(";")
    name = name_value.partition("=")[0].strip()
    if name in dropped or (host_names and is_host_cookie(name, **host_names)):
        return None
    path = prefix
    kept = [name_value.strip()]
    for attribute in attributes:
        key, _, attribute_value = attribute.strip().partition("=")
        if key.lower() == "path":
            if within(attribute_value.strip() or "/", prefix):
                path = attribute_value.strip()
        elif key.lower() != "domain" and key:
            kept.append(attribute.strip())
    kept.insert(1, f"Path={path}")
    return "; ".join(kept)


def sendable_close_code(code: int | None) -> int | None:
    """A close code that may go in a close frame (1005, 1006 and 1015 only describe closes)."""
    if code is None or code == 1005:
        return None
    if code in _UNSENDABLE_CLOSE_CODES or not (1000 <= code <= 1014 or 3000 <= code <= 4999):
        return 1011
    return code


class Redactor:
    """Removes a secret from a streamed body, even where it straddles two chunks."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self._carry = b""

    def __call__(self, chunk: bytes) -> bytes:
        data = self._carry + chunk
        while self.secret in data:
            data = data.replace(self.secret, b"")
        keep = len(self.secret) - 1
        self._carry, data = (data[-keep:], data[:-keep]) if keep else (b"", data)
        return data

    def end(self) -> bytes:
        rest, self._carry = self._carry, b""
        return rest
