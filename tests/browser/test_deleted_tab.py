"""A workspace's JupyterLab left open in a tab while the workspace is deleted, from this
server (the panel's Delete) or behind its back (the CLI of another process): the tab stops
asking, the server says so once per interval instead of once per request, and the page,
reloaded, says what happened with a way back. Real server, engine, lab and Chromium.

Before the proxy answered 410 for a gone workspace, the tab of a workspace deleted elsewhere
got 404 for its file browser's directory, which JupyterLab asks for again at once: about 90
requests a second, each with two log lines, until the tab was closed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from .conftest import close_page, open_lab, screenshot
from .test_isolation import launch, wait_running
from .test_launcher_ui import new_notebook

pytestmark = [pytest.mark.integration, pytest.mark.browser]

#: Seconds after the delete that JupyterLab may spend noticing (its polls and reconnects back off).
SETTLE = 10
#: Seconds over which the tab's requests are then counted.
WINDOW = 30


@dataclass
class Traffic:
    """What one page sends to one workspace's origin: requests and WebSocket opens, with the
    monotonic time each was sent, and the statuses that came back."""

    origin: str
    sent: list[tuple[float, str]] = field(default_factory=list)
    statuses: list[tuple[float, int]] = field(default_factory=list)

    def watch(self, page) -> None:
        page.on("request", lambda r: self._add(r.url, f"{r.method} {urlsplit(r.url).path}"))
        page.on("websocket", lambda ws: self._add(ws.url.replace("ws", "http", 1), f"WS {urlsplit(ws.url).path}"))
        page.on("response", lambda r: r.url.startswith(self.origin) and self.statuses.append((time.monotonic(), r.status)))

    def _add(self, url: str, what: str) -> None:
        if url.startswith(self.origin):
            self.sent.append((time.monotonic(), what))

    def between(self, start: float, end: float) -> list[str]:
        return [what for at, what in self.sent if start <= at < end]

    def statuses_after(self, start: float) -> set[int]:
        return {status for at, status in self.statuses if at >= start}


def delete_elsewhere(lab_server, workspace_id: str) -> None:
    """Delete as another process does (the CLI), so this server's sessions are not told."""
    tmp = lab_server.log.parent
    done = subprocess.run(
        [sys.executable, "-m", "workspace_launcher", "--owner", lab_server.owner, "workspaces", "rm", workspace_id,
         "--purge"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "JUPYTER_CONFIG_DIR": str(tmp / "config")},
        cwd=tmp,  # not the checkout: `-m` would import the source tree instead of the installed package
    )
    assert done.returncode == 0, done.stdout + done.stderr


def lines_from(log: str, since: float) -> list[str]:
    """The log's lines stamped (``[W 2026-12-03 12:20:02.689 ServerApp]``, local time) at or
    after ``since`` (epoch seconds)."""
    found = []
    for line in log.splitlines():
        if stamp := re.match(r"\[\w (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)", line):
            if datetime.strptime(stamp[1], "%Y-%m-%d %H:%M:%S.%f").timestamp() >= since:
                found.append(line)
    return found


def log_since(lab_server, offset: int) -> str:
    with open(lab_server.log, "rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")


@pytest.mark.parametrize("where", ["here", "elsewhere"])
def test_a_tab_left_on_a_deleted_workspace_goes_quiet(lab, lab_server, browser, where):
    workspace_id = launch(lab_server, f"gone-{where}")["id"]
    wait_running(lab_server, workspace_id)
    origin = f"http://{workspace_id}.localhost:{urlsplit(lab_server.url).port}"
    page = browser.new_page()
    traffic = Traffic(origin)
    traffic.watch(page)
    try:
        page.goto(f"{lab_server.url}workspace-launcher/open/{workspace_id}?path=lab")
        open_lab(page)  # no news prompt: the image answers it
        new_notebook(page)  # a kernel, and its WebSocket, for the tab to lose
        log_offset = lab_server.log.stat().st_size
        deleted, deleted_wall = time.monotonic(), time.time()
        if where == "here":
            assert lab_server.api("DELETE", f"workspaces/{workspace_id}", params={"purge": "true"}).status_code == 204
        else:
            delete_elsewhere(lab_server, workspace_id)
        page.wait_for_timeout((SETTLE + WINDOW) * 1000 - (time.monotonic() - deleted) * 1000)

        counted = traffic.between(deleted + SETTLE, deleted + SETTLE + WINDOW)
        print(f"{where}: {len(counted)} requests in {WINDOW} s after the first {SETTLE} s: {counted}")
        assert len(counted) <= WINDOW, counted  # at most one a second, on average
        statuses = traffic.statuses_after(deleted + 2)  # once the delete is done
        assert 404 not in statuses and 410 in statuses, statuses

        # The server said it once (per interval), not once or twice per request.
        said = log_since(lab_server, log_offset)
        assert said.count(f"workspace {workspace_id}: answering 410") == 1, said[-3000:]
        # Requests in flight at the delete may still fail loudly; the tab's later ones are not logged.
        per_request = [line for line in lines_from(said, deleted_wall + SETTLE) if f"/workspaces/{workspace_id}/" in line]
        assert per_request == [], per_request

        # Reloaded, the tab is a page that says what happened, and leads back to JupyterLab.
        page.reload()
        expect(page.locator("h1")).to_have_text("410 : Gone")
        expect(page.locator("div.error > p").first).to_contain_text(f"Workspace {workspace_id} was deleted")
        back = page.get_by_role("link", name="Back to JupyterLab")
        assert back.get_attribute("href") == f"http://localhost:{urlsplit(lab_server.url).port}/lab"
        screenshot(page, f"deleted-workspace-{where}.png")
    finally:
        close_page(page)
        lab_server.api("DELETE", f"workspaces/{workspace_id}", params={"purge": "true"})
