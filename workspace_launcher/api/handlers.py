"""REST handlers under {base_url}workspace-launcher/api/: thin, each method a few lines.

Parsing and answering live here; every decision is the manager's. Launcher errors become JSON
``{message, field?, log_tail?}`` with the error's status (400, 404, 409, 503).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Awaitable, Callable
from importlib.resources import files
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized
from jupyter_server.auth.utils import HTTP_METHOD_TO_AUTH_ACTION
from jupyter_server.base.handlers import APIHandler
from tornado import web

from workspace_launcher.api.views import gpus_view, profiles_view, workspace_view
from workspace_launcher.errors import InvalidFields, InvalidRequest, LauncherError
from workspace_launcher.workspaces.launch_request import LAUNCH_FIELDS
from workspace_launcher.workspaces.manager import WorkspaceManager
from workspace_launcher.workspaces.model import Workspace

AUTH_RESOURCE = "workspace_launcher"
API = "/workspace-launcher/api"
WORKSPACE_ID = r"(?P<workspace_id>[^/]+)"
#: Largest REST request body: launch and snapshot requests are a few hundred bytes.
MAX_BODY_BYTES = 64 * 1024
#: Most log lines one request may ask for.
MAX_TAIL = 100_000
_TAIL_RE = re.compile(r"^[0-9]{1,6}$")


def answers_errors(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Turn launcher errors into JSON answers with their status and the field to fix."""

    @functools.wraps(method)
    async def wrapper(self: LauncherHandler, *args: Any, **kwargs: Any) -> Any:
        try:
            return await method(self, *args, **kwargs)
        except LauncherError as e:
            self.set_status(e.status_code)
            body = {"message": e.message, "reason": None}
            if e.field:
                body["field"] = e.field
            if isinstance(e, InvalidFields):
                body["errors"] = [{"field": each.field, "message": each.message} for each in e.errors]
            if e.log_tail:
                body["log_tail"] = e.log_tail
            self.finish(json.dumps(body))

    return wrapper


class LauncherContext:
    """What every handler of the extension (REST and proxy) reaches: the manager and the owner
    the app put in the server's settings, and the authorizer's resource name."""

    auth_resource = AUTH_RESOURCE

    @property
    def manager(self) -> WorkspaceManager:
        return self.settings["workspace_launcher_manager"]  # type: ignore[attr-defined]

    @property
    def owner(self) -> str:
        """The server's one owner; at the broker (no owner set), the caller the kernel names."""
        owner = self.settings["workspace_launcher_owner"]  # type: ignore[attr-defined]
        if owner is not None:
            return owner
        caller = getattr(self, "broker_caller", None)
        if caller is None:  # asked before the caller is known: never fall back to anyone
            raise web.HTTPError(403, "the caller is not known yet")
        return caller.user

    @property
    def watched_owner(self) -> str | None:
        """Whose workspaces this caller may see, read the logs of and stop: its own; at the
        broker, an admin's are everyone's (``None``). Start, delete and snapshot stay the owner's."""
        caller = getattr(self, "broker_caller", None)
        if caller is not None and caller.admin and self.settings["workspace_launcher_owner"] is None:  # type: ignore[attr-defined]
            return None
        return self.owner


def allowed_methods(handler: type[web.RequestHandler]) -> list[str]:
    """The HTTP methods a handler class implements (tornado's defaults answer 405)."""
    return [m for m in handler.SUPPORTED_METHODS
            if getattr(handler, m.lower(), None) is not getattr(web.RequestHandler, m.lower(), None)]


class LauncherHandler(LauncherContext, APIHandler):
    """Authenticated JSON handler with the manager and the owner at hand."""

    async def prepare(self) -> None:
        await super().prepare()
        # Every method needs the host's login, unimplemented ones included: an anonymous
        # caller learns nothing, not even which methods a route has.
        if self.current_user is None:
            raise web.HTTPError(403)
        # The same for a user the authorizer denies workspaces: 403 whatever the method.
        action = HTTP_METHOD_TO_AUTH_ACTION.get(self.request.method or "", "write")
        if not await ensure_async(self.authorizer.is_authorized(self, self.current_user, action, AUTH_RESOURCE)):
            raise web.HTTPError(403, "User is not authorized to %s on resource: %s.", action, AUTH_RESOURCE)
        self._may_see_methods = True
        if len(self.request.body or b"") > MAX_BODY_BYTES:
            raise web.HTTPError(413, f"the request body is over {MAX_BODY_BYTES // 1024} KiB; launch and snapshot requests are small JSON objects")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # RFC 9110: a 405 names the methods the route has; only to a caller allowed to use it
        # (tornado answers methods it does not know, such as TRACE, before anyone is known).
        if status_code == 405 and getattr(self, "_may_see_methods", False):
            self.set_header("Allow", ", ".join(allowed_methods(type(self))))
        super().write_error(status_code, **kwargs)

    def compute_etag(self) -> str | None:
        # Answers describe live state that no client revalidates: tornado's ETag (a SHA-1 of
        # every body) would buy no 304s.
        return None

    def json_body(self, *, required: bool = True) -> dict:
        if not self.request.body:
            if required:
                raise InvalidRequest("the request needs a JSON object body")
            return {}
        try:
            body = json.loads(self.request.body)
        except ValueError as e:
            raise InvalidRequest(f"the body is not valid JSON: {e}") from None
        except RecursionError:
            raise InvalidRequest("the body is nested too deeply; send a flat JSON object") from None
        if not isinstance(body, dict):
            raise InvalidRequest("the body must be a JSON object")
        return body

    def view(self, workspace: Workspace) -> dict:
        return workspace_view(workspace, base_url=self.base_url)


class ProfilesHandler(LauncherHandler):
    @web.authenticated
    @authorized
    @answers_errors
    async def get(self) -> None:
        self.finish(json.dumps(await profiles_view(self.manager)))


class GpusHandler(LauncherHandler):
    @web.authenticated
    @authorized
    @answers_errors
    async def get(self) -> None:
        self.finish(json.dumps(await gpus_view(self.manager, owner=self.owner)))


class DatasetsHandler(LauncherHandler):
    @web.authenticated
    @authorized
    @answers_errors
    async def get(self) -> None:
        self.finish(json.dumps(self.manager.datasets.describe()))


class WorkspacesHandler(LauncherHandler):
    @web.authenticated
    @authorized
    @answers_errors
    async def get(self) -> None:
        self.finish(json.dumps([self.view(w) for w in await self.manager.list(owner=self.watched_owner)]))

    @web.authenticated
    @authorized
    @answers_errors
    async def post(self) -> None:
        body = self.json_body()
        # Checked here too: the body becomes keyword arguments, and "owner" is the transport's.
        if unknown := sorted(set(body) - set(LAUNCH_FIELDS)):
            raise InvalidRequest(f"unknown fields {unknown}; allowed: {sorted(LAUNCH_FIELDS)}", field=unknown[0])
        workspace = await self.manager.start_launch(owner=self.owner, **body)
        self.set_status(202)
        self.set_header("Location", f"{self.base_url}workspace-launcher/api/workspaces/{workspace.id}")
        self.finish(json.dumps(self.view(workspace)))


class WorkspaceHandler(LauncherHandler):
    @web.authenticated
    @authorized
    @answers_errors
    async def get(self, workspace_id: str) -> None:
        self.finish(json.dumps(self.view(await self.manager.get(owner=self.watched_owner, workspace_id=workspace_id))))

    @web.authenticated
    @authorized
    @answers_errors
    async def delete(self, workspace_id: str) -> None:
        purge = self.get_query_argument("purge", "false").lower()
        if purge not in ("true", "false", "1", "0"):
            raise InvalidRequest("purge must be true or false", field="purge")
        await self.manager.delete(owner=self.owner, workspace_id=workspace_id, purge=purge in ("true", "1"))
        self.set_status(204)
        self.finish()


class WorkspaceActionHandler(LauncherHandler):
    @web.authenticated
    @authorized
    @answers_errors
    async def post(self, workspace_id: str, action: str) -> None:
        if action == "snapshot":
            body = self.json_body(required=False)
            if unknown := sorted(set(body) - {"tag"}):
                raise InvalidRequest(f"unknown fields {unknown}; allowed: ['tag']", field=unknown[0])
            tag = body.get("tag")
            if tag is not None and not isinstance(tag, str):
                raise InvalidRequest("tag must be a string (or null, or empty, for the default)", field="tag")
            image = await self.manager.snapshot(owner=self.owner, workspace_id=workspace_id, tag=tag)
            self.set_status(201)
            self.set_header("Location", f"{self.base_url}workspace-launcher/api/workspaces/{workspace_id}")
            self.finish(json.dumps({"image": image}))
            return
        if action == "stop":
            stopped = await self.manager.stop(owner=self.watched_owner, workspace_id=workspace_id)
            self.finish(json.dumps(self.view(stopped)))
            return
        self.finish(json.dumps(self.view(await self.manager.start(owner=self.owner, workspace_id=workspace_id))))


class SnapshotsHandler(LauncherHandler):
    @web.authenticated
    @authorized
    @answers_errors
    async def get(self) -> None:
        self.finish(json.dumps([s.to_dict() for s in await self.manager.snapshots(owner=self.owner)]))


class SnapshotHandler(LauncherHandler):
    @web.authenticated
    @authorized
    @answers_errors
    async def delete(self, tag: str) -> None:
        await self.manager.delete_snapshot(owner=self.owner, tag=tag)
        self.set_status(204)
        self.finish()


class LogsHandler(LauncherHandler):
    @web.authenticated
    @authorized
    @answers_errors
    async def get(self, workspace_id: str) -> None:
        tail = self.get_query_argument("tail", "200")
        if not _TAIL_RE.fullmatch(tail) or not 0 < int(tail) <= MAX_TAIL:
            raise InvalidRequest(f"tail must be a number of lines from 1 to {MAX_TAIL}", field="tail")
        logs = await self.manager.logs(owner=self.watched_owner, workspace_id=workspace_id, tail=int(tail))
        self.finish(json.dumps({"logs": logs}))


@functools.cache
def openapi_document() -> str:
    return files("workspace_launcher").joinpath("openapi.json").read_text()


class OpenApiHandler(LauncherHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.finish(openapi_document())


default_handlers = [
    (rf"{API}/profiles", ProfilesHandler),
    (rf"{API}/gpus", GpusHandler),
    (rf"{API}/datasets", DatasetsHandler),
    (rf"{API}/workspaces", WorkspacesHandler),
    (rf"{API}/workspaces/{WORKSPACE_ID}", WorkspaceHandler),
    (rf"{API}/workspaces/{WORKSPACE_ID}/(?P<action>stop|start|snapshot)", WorkspaceActionHandler),
    (rf"{API}/workspaces/{WORKSPACE_ID}/logs", LogsHandler),
    (rf"{API}/snapshots", SnapshotsHandler),
    (rf"{API}/snapshots/(?P<tag>[^/]+)", SnapshotHandler),
    (rf"{API}/openapi.json", OpenApiHandler),
]
