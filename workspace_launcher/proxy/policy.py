"""Which browser requests may reach a workspace on its own origin: pure checks of the request's
headers, applied before anything is forwarded.

The proxy authenticates to the workspace's Jupyter with the workspace's token, so Jupyter skips
its own cross-site checks; these take their place:

- A request whose ``Origin`` is not the workspace's own is refused, whatever its method; so is a
  WebSocket upgrade. On a real domain every workspace shares one site (``*.workspaces.example.org``),
  so ``SameSite`` cookies alone would let one workspace's pages post to another.
- Fetch metadata (``Sec-Fetch-Site``): requests from another site, or another workspace of the
  same site, are refused unless they are top-level navigations (following a link to a
  workspace, and the host's handshake redirect, are such).
- Jupyter's own defence of ``files/`` (and ``nbconvert/``) against cross-site script inclusion:
  a cookie-authenticated read needs a same-origin ``Referer``, or the ``_xsrf`` argument that
  JupyterLab's download links carry, or fetch metadata saying it is same-origin or typed by the
  user.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from workspace_launcher.proxy.origins import normalized_origin

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Paths (under the workspace's prefix) that Jupyter guards against cross-site inclusion.
GUARDED_READS = ("files/", "nbconvert/")
_FIRST_PARTY_SITES = frozenset({"same-origin", "none"})


def origin_of(url: str) -> str | None:
    """The origin of an absolute URL (``Origin`` or ``Referer``), normalized; ``None`` if opaque."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return normalized_origin(parts.scheme, parts.hostname, port)


def cross_origin_refusal(method: str, headers: Mapping[str, str], *, own_origin: str) -> str | None:
    """Why a request to the workspace at ``own_origin`` is refused as cross-origin, or ``None``.

    ``headers`` is case-insensitive (tornado's ``HTTPHeaders``) or lowercase-keyed.
    """
    origin = headers.get("Origin") or headers.get("origin")
    if origin is not None and origin_of(origin) != own_origin:
        return f"requests from {origin} may not reach this workspace"
    site = headers.get("Sec-Fetch-Site") or headers.get("sec-fetch-site")
    if site in (None, *_FIRST_PARTY_SITES):
        return None
    mode = headers.get("Sec-Fetch-Mode") or headers.get("sec-fetch-mode")
    dest = headers.get("Sec-Fetch-Dest") or headers.get("sec-fetch-dest")
    if mode == "navigate" and dest == "document" and method in ("GET", "HEAD"):
        return None
    return f"{site} requests ({mode or 'unknown mode'}, {dest or 'unknown destination'}) may not reach this workspace"


def guarded_read_refusal(
    method: str, rest: str, headers: Mapping[str, str], *, own_origin: str, xsrf_matches: bool
) -> str | None:
    """Jupyter's check of cookie-authenticated ``files/`` and ``nbconvert/`` reads (``rest``: the
    path below the workspace's prefix), or ``None`` when it passes or does not apply."""
    if method not in ("GET", "HEAD") or not rest.startswith(GUARDED_READS):
        return None
    if xsrf_matches:
        return None
    site = headers.get("Sec-Fetch-Site") or headers.get("sec-fetch-site")
    if site in _FIRST_PARTY_SITES:
        return None
    referer = headers.get("Referer") or headers.get("referer")
    if referer and origin_of(referer) == own_origin:
        return None
    if referer:
        return f"a read of {rest.split('/')[0]}/ linked from {origin_of(referer) or 'elsewhere'} is refused"
    return f"a read of {rest.split('/')[0]}/ from an unknown page is refused; open it from the workspace"
