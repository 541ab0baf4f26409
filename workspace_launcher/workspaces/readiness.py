"""Waiting until a new or restarted workspace's Jupyter answers, and its log when it does not."""

from __future__ import annotations

import asyncio
import json
import time

from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from workspace_launcher.engine.objects import Container
from workspace_launcher.engine.protocol import WorkspaceEngine
from workspace_launcher.errors import LaunchFailed
from workspace_launcher.workspaces.upstream import RouteChooser, Upstream

#: How often the container is inspected while waiting (it may exit, or get its address late).
INSPECT_INTERVAL = 1.0
POLL_INTERVAL = 0.05


async def jupyter_status(client: AsyncHTTPClient, upstream: Upstream, *, timeout: float = 2.0) -> dict | None:
    """The workspace's Jupyter ``api/status`` (asked with its token), or None when it does not
    answer with one: the one probe readiness, the proxy's first request and culling share."""
    try:
        response = await client.fetch(
            str(upstream.url(upstream.base_url + "api/status")),
            headers={"Authorization": f"token {upstream.token}"},
            request_timeout=timeout,
            raise_error=False,
        )
    except (OSError, HTTPClientError):
        return None
    if response.code != 200:
        return None
    try:
        status = json.loads(response.body)
    except ValueError:
        return None
    return status if isinstance(status, dict) else None


async def answers(client: AsyncHTTPClient, upstream: Upstream) -> bool:
    """Whether the workspace's Jupyter answers ``api/status`` with its token."""
    return await jupyter_status(client, upstream) is not None


async def container_log_tail(backend: WorkspaceEngine, container_id: str, tail: int = 50) -> str:
    """The end of a container's log, or "" when it is already gone (the tail is a nicety)."""
    try:
        return await backend.logs(container_id, tail=tail)
    except Exception:
        return ""


def exit_reason(container: Container | None) -> str:
    """Why a container stopped before its Jupyter was ready, as the launch error says it."""
    if container is None:
        return "the workspace's container was removed before Jupyter was ready"
    if container.oom_killed:
        limit = container.memory_limit
        shown = f"{limit // 2**20} MiB" if limit else "none"
        return (f"the workspace ran out of memory (limit {shown}) before Jupyter was ready; "
                "launch it with more memory")
    code = "?" if container.exit_code is None else container.exit_code
    return f"the workspace's container exited (code {code}) before Jupyter was ready"


async def wait_ready(
    backend: WorkspaceEngine, routes: RouteChooser, container_id: str, *, base_url: str, token: str, timeout: float
) -> None:
    """Poll the workspace's ``api/status`` until it answers; fail fast, with the log tail, if the
    container exits, and after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    client = AsyncHTTPClient()
    upstream = None
    last_inspect = 0.0
    while True:
        now = time.monotonic()
        if upstream is None or now - last_inspect > INSPECT_INTERVAL:
            container = await backend.inspect(container_id)
            last_inspect = now
            if container is None or container.state not in ("created", "running"):
                raise LaunchFailed(exit_reason(container), log_tail=await container_log_tail(backend, container_id))
            upstream = routes.upstream(container, base_url=base_url, token=token)
        if upstream is not None and await answers(client, upstream):
            return
        if time.monotonic() > deadline:
            raise LaunchFailed(
                f"the workspace's Jupyter did not answer within {timeout:g} s",
                log_tail=await container_log_tail(backend, container_id),
            )
        await asyncio.sleep(POLL_INTERVAL)
