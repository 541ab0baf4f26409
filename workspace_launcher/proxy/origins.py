"""Which origin serves each workspace: the admin's template, and the pure rules around it.

A workspace's pages run with the authority of the origin that serves them. On the host's own
origin they could read the host's cookies and drive its API (kernels and terminals on the host,
every other workspace); so each workspace gets an origin of its own, made from a template such
as ``http://{id}.localhost:{port}`` (the default: browsers resolve every ``*.localhost`` name to
loopback) or ``https://{id}.workspaces.example.org`` (wildcard DNS and certificate).
"""

from __future__ import annotations

import re
from urllib.parse import urlencode, urlsplit

from jupyter_server.utils import url_path_join
from traitlets import Bool, TraitError, Unicode, validate
from traitlets.config import LoggingConfigurable

#: On the host's origin: where a workspace is opened (the handshake's first half).
OPEN_ROUTE = "/workspace-launcher/open/"
#: On a workspace's origin, where a code is traded for a session (outside any workspace's prefix).
SESSION_ROUTE = "/workspace-launcher/session"
ID_PATTERN = "[0-9a-f]{12}"
DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_LABELS = re.compile(r"^[a-z0-9.-]+$")


def open_url(base_url: str, workspace_id: str, path: str = "") -> str:
    """The host URL (a path) that opens a workspace, on ``path`` inside it (default: its lab)."""
    url = url_path_join(base_url, OPEN_ROUTE, workspace_id)
    return url + ("?" + urlencode({"path": path}, safe="/") if path else "")


def normalized_origin(scheme: str, host: str, port: int | None) -> str:
    """``scheme://host[:port]`` as browsers write an Origin: lowercase, default port left out."""
    scheme, host = scheme.lower(), host.lower()
    if port is None or port == DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def split_host(host_header: str) -> tuple[str, int | None]:
    """A ``Host`` header's name and port (``None`` when it names none)."""
    name, _, port = host_header.rpartition(":") if host_header.count(":") == 1 else (host_header, "", "")
    if not name:
        return host_header.lower(), None
    return name.lower(), int(port) if port.isdigit() else None


class OriginTemplate:
    """A parsed ``url_template``: ``scheme://<host with {id}>[:<port or {port}>]``."""

    def __init__(self, template: str) -> None:
        parts = urlsplit(template)
        netloc = parts.netloc
        if parts.scheme not in DEFAULT_PORTS:
            raise ValueError(f"{template!r} must start with http:// or https://")
        if parts.path not in ("", "/") or parts.query or parts.fragment or "@" in netloc:
            raise ValueError(f"{template!r} must be an origin only: no path, query, fragment or user")
        host, _, port = netloc.partition(":") if not netloc.startswith("[") else (netloc, "", "")
        if host.count("{id}") != 1:
            raise ValueError(f"{template!r} must name {{id}} once in its host, e.g. https://{{id}}.workspaces.example.org")
        sample = host.replace("{id}", "x").lower()
        if not _HOST_LABELS.match(sample) or ".." in sample or sample.startswith((".", "-")) or sample.endswith("."):
            raise ValueError(f"{template!r} has a host that is not a DNS name")
        if port not in ("", "{port}") and not (port.isdigit() and 0 < int(port) < 65536):
            raise ValueError(f"{template!r} has port {port!r}: give a number, {{port}} or none")
        self.template = template
        self.scheme = parts.scheme
        self.host = host.lower()
        self.port = port
        before, after = self.host.split("{id}")
        #: Matches the host name (no port) of a request to any workspace's origin.
        self.host_pattern = f"^{re.escape(before)}(?P<id>{ID_PATTERN}){re.escape(after)}$"
        self._host_re = re.compile(self.host_pattern)

    @property
    def secure(self) -> bool:
        return self.scheme == "https"

    def workspace_id(self, host_name: str) -> str | None:
        """The workspace whose origin a request's host name is, or ``None``."""
        match = self._host_re.match(host_name.lower())
        return match["id"] if match else None

    def origin(self, workspace_id: str, *, port: int | None) -> str:
        """The origin of a workspace. ``port`` fills ``{port}``: the port the browser reached the
        host on, so a tunnel or a front proxy on another port still leads to the same server."""
        host = self.host.replace("{id}", workspace_id)
        if self.port == "{port}":
            return normalized_origin(self.scheme, host, port)
        return normalized_origin(self.scheme, host, int(self.port) if self.port else None)

    def own_origin(self, host_header: str) -> str:
        """The origin a browser sends with requests to the workspace whose host it reached."""
        name, port = split_host(host_header)
        return normalized_origin(self.scheme, name, port)


class WorkspaceOrigins(LoggingConfigurable):
    """Where the browser reaches workspaces: each on an origin of its own, never the host's."""

    url_template = Unicode(
        "http://{id}.localhost:{port}",
        help="""The origin of each workspace, with {id} for the workspace id and, optionally,
        {port} for the port the browser reached this server on. Every workspace must be on an
        origin that is neither this server's nor another workspace's, and this server must
        receive its requests with the Host header intact.
        The default, "http://{id}.localhost:{port}", needs no set-up when the browser runs on
        this machine (or reaches it through an SSH tunnel of the same port): browsers resolve
        every *.localhost name to loopback.
        For a server others reach, use a wildcard DNS name and certificate that route to this
        server, ideally under a domain of their own (not a parent of this server's name), e.g.
        "https://{id}.workspaces.example.org".""",
    ).tag(config=True)

    same_origin = Bool(
        False,
        help="""UNSAFE, off by default: serve workspaces on this server's own origin, under
        <base_url>workspace-launcher/workspaces/<id>/, as releases before 0.2 did. Then any
        page a workspace serves (a file its code writes, a trusted notebook's output, a server
        extension it installs) runs with this server's authority in your browser: it can read
        this server's cookies and XSRF token, start kernels and terminals on this server (which
        holds the container engine) and reach every other workspace. Only for a server whose
        every workspace runs code you trust.""",
    ).tag(config=True)

    host_url = Unicode(
        "",
        help="""This server's URL as browsers reach it (e.g. "https://jupyter.example.org"),
        for the "open it again" link a workspace shows once its session has ended. Default:
        the workspace's origin without its "{id}." label (http://localhost:<port> for the
        default template).""",
    ).tag(config=True)

    @validate("url_template")
    def _check_template(self, proposal):
        try:
            OriginTemplate(proposal["value"])
        except ValueError as e:
            raise TraitError(f"WorkspaceOrigins.url_template: {e}") from None
        return proposal["value"]

    @property
    def template(self) -> OriginTemplate:
        if self._parsed is None or self._parsed.template != self.url_template:
            self._parsed = OriginTemplate(self.url_template)
        return self._parsed

    _parsed: OriginTemplate | None = None

    def reopen_url(self, host_header: str, open_path: str) -> str | None:
        """Where a workspace's "open it again" link points: the host's open URL for it."""
        if self.host_url:
            return self.host_url.rstrip("/") + open_path
        template = self.template
        if not template.host.startswith("{id}."):
            return None
        _, port = split_host(host_header)
        return normalized_origin(template.scheme, template.host.removeprefix("{id}."), port) + open_path
