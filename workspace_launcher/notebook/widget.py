"""The launcher as ipywidgets, for a notebook: same choices, same REST API as the JupyterLab UI.

    from workspace_launcher.notebook.widget import WorkspaceLauncher
    WorkspaceLauncher()

The kernel finds the host server it runs under (the server is its parent process) and talks to
the server's REST API with that server's credentials, so policy and validation are the server's.
"""

from __future__ import annotations

import html
import os
import threading
import time
from typing import Any

import ipywidgets as widgets
import requests

from workspace_launcher.notebook.workspace_list import ACTIVE, WorkspaceList


class LauncherClient:
    """A small typed client of {base_url}workspace-launcher/api/."""

    def __init__(self, url: str, token: str = "", *, timeout: float = 30.0) -> None:
        self.api = url.rstrip("/") + "/workspace-launcher/api/"
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"token {token}"
        self.timeout = timeout

    @classmethod
    def from_running_server(cls) -> LauncherClient:
        """The server this kernel runs under: the one whose pid is our parent's, else the only one."""
        from jupyter_server.serverapp import list_running_servers

        if url := os.environ.get("WORKSPACE_LAUNCHER_SERVER_URL"):
            return cls(url, os.environ.get("WORKSPACE_LAUNCHER_SERVER_TOKEN", ""))
        servers = list(list_running_servers())
        mine = [s for s in servers if s.get("pid") == os.getppid()] or (servers if len(servers) == 1 else [])
        if not mine:
            raise RuntimeError(
                "cannot tell which Jupyter server this kernel belongs to; set "
                "WORKSPACE_LAUNCHER_SERVER_URL (and _TOKEN) or pass client=LauncherClient(url, token)"
            )
        return cls(mine[0]["url"], mine[0].get("token", ""))

    def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        response = self.session.request(method, self.api + path, timeout=self.timeout, **kwargs)
        body = response.json() if response.content and "json" in response.headers.get("Content-Type", "") else None
        return response.status_code, body

    def get(self, path: str) -> Any:
        status, body = self.request("GET", path)
        if status != 200:
            raise RuntimeError((body or {}).get("message", f"GET {path} answered {status}"))
        return body


class WorkspaceLauncher(widgets.VBox):
    """Choose a profile, GPUs and datasets, launch, follow progress, open the workspace."""

    def __init__(self, *, client: LauncherClient | None = None, poll_interval: float = 0.5,
                 refresh_interval: float | None = 5.0) -> None:
        self.client = client or LauncherClient.from_running_server()
        self.poll_interval = poll_interval
        profiles = self.client.get("profiles")
        datasets = self.client.get("datasets")
        self.profiles = {p["name"]: p for p in profiles}
        #: The server's last ``GET gpus`` answer: the GPUs and the choices its policy leaves now.
        self.inventory: dict | None = None

        self.profile = widgets.Dropdown(
            options=[(profile_label(p), p["name"]) for p in profiles],
            description="Profile",
        )
        self.gpu_count = widgets.BoundedIntText(value=0, min=0, max=0, description="GPUs")
        self.gpu_ids = widgets.SelectMultiple(options=[], description="or pick", rows=1)
        self.gpu_limit = widgets.HTML()
        self.profile.observe(lambda _: self.show_gpu_choices(), names="value")
        #: Where the workspace starts from: "" for the profile's image, else one of the caller's snapshots.
        self.source = widgets.Dropdown(options=[("the profile's image", "")], description="Start from")
        self.snapshots: dict[str, dict] = {}
        self.source.observe(lambda _: self.follow_source(), names="value")
        self.datasets = {
            d["name"]: widgets.Checkbox(description=f"{d['name']} — {d['description']}", indent=False) for d in datasets
        }
        self.name = widgets.Text(description="Name", placeholder="optional, e.g. exp-1")
        self.open_demo = widgets.Checkbox(description="Open the demo notebook on start", indent=False)
        self.profile.observe(lambda _: self.offer_demo(), names="value")
        self.launch_button = widgets.Button(description="Launch", button_style="primary", icon="rocket")
        self.progress = widgets.IntProgress(value=0, min=0, max=100, description="", layout={"visibility": "hidden"})
        self.status = widgets.HTML()
        self.link = widgets.HTML()
        #: The user's workspaces, as the panel lists them, with its actions.
        self.workspaces = WorkspaceList(self.client, on_message=self.say, refresh_interval=refresh_interval)
        self.launch_button.on_click(lambda _: self._in_background(self._launch))
        super().__init__(
            [
                self.source, self.profile, widgets.HBox([self.gpu_count, self.gpu_ids]), self.gpu_limit,
                widgets.HTML("<b>Datasets</b> (read-only at /datasets/&lt;name&gt;; /models is your model volume)"),
                *self.datasets.values(), self.name, self.open_demo,
                widgets.HBox([self.launch_button, self.progress]), self.status, self.link,
                self.workspaces,
            ]
        )
        self.offer_demo()
        self.refresh()

    # Network calls run in a thread: the kernel keeps answering while a launch is followed.
    def _in_background(self, fn) -> threading.Thread:
        thread = threading.Thread(target=fn, daemon=True)
        thread.start()
        return thread

    def request_body(self) -> dict:
        gpus: Any = list(self.gpu_ids.value) if self.gpu_ids.value else self.gpu_count.value
        body = {
            "profile": self.profile.value,
            "gpus": gpus,
            "datasets": [name for name, box in self.datasets.items() if box.value],
            "open_demo": self.open_demo.value,
        }
        if self.name.value.strip():
            body["name"] = self.name.value.strip()
        if self.source.value:
            body["snapshot"] = self.source.value
        return body

    def offer_demo(self) -> None:
        """Offer the demo only for a profile that has one (another framework's notebook would
        fail at its first cell)."""
        demo = (self.profiles.get(self.profile.value) or {}).get("demo")
        if not demo:
            self.open_demo.value = False
        self.open_demo.description = f"Open the demo notebook ({demo}) on start" if demo else ""
        self.open_demo.layout.display = "" if demo else "none"

    def show_snapshots(self, snapshots: list[dict]) -> None:
        """Offer the caller's snapshots (the server lists no one else's), keeping the choice
        while it still exists."""
        self.snapshots = {s["image"]: s for s in snapshots}
        options = [("the profile's image", "")] + [
            (f"snapshot {s['tag']} of {s['workspace_name']} ({s['profile']}, {s['created'][:16].replace('T', ' ')})",
             s["image"]) for s in snapshots
        ]
        if options != list(self.source.options):
            chosen = self.source.value if self.source.value in self.snapshots else ""
            self.source.options = options
            self.source.value = chosen
        self.follow_source()

    def follow_source(self) -> None:
        """A snapshot launches with the profile it was taken from: show it, and hold it."""
        snapshot = self.snapshots.get(self.source.value)
        if snapshot and snapshot["profile"] in self.profiles:
            self.profile.value = snapshot["profile"]
        self.profile.disabled = snapshot is not None

    def _launch(self) -> None:
        self.launch_button.disabled = True
        self.link.value = ""
        try:
            status, body = self.client.request("POST", "workspaces", json=self.request_body())
            if status != 202:
                self.status.value = _field_errors(body or {"message": f"HTTP {status}"})
                return
            self.progress.layout.visibility = "visible"
            self.follow(body["id"])
        finally:
            self.launch_button.disabled = False

    def follow(self, workspace_id: str, *, timeout: float = 1800) -> dict:
        """Poll the workspace until it runs or fails; show progress, then the link."""
        deadline = time.monotonic() + timeout
        shown = None
        while True:
            workspace = self.client.get(f"workspaces/{workspace_id}")
            self.progress.value = workspace["progress"]
            status, message = workspace["status"], workspace["message"]
            self.status.value = html.escape(status if message in ("", status) else f"{status}: {message}")
            if (status, message) != shown:  # the list's row moves with the bar, not 5 s behind it
                shown = (status, message)
                self.workspaces.refresh()
            if workspace["status"] not in ACTIVE or time.monotonic() > deadline:
                break
            time.sleep(self.poll_interval)
        if workspace["status"] == "running":
            url = workspace["url"]  # already points at the demo notebook when one was asked for
            self.link.value = (
                f'<a href="{html.escape(url)}" target="_blank" rel="noopener" '
                'style="color: var(--jp-content-link-color, #1976d2); text-decoration: underline">'
                f'Open {html.escape(workspace["name"])}</a>'
            )
        elif workspace["status"] == "failed":
            self.status.value = _error("", workspace.get("error") or "failed") + f"<pre>{html.escape(workspace.get('log_tail') or '')}</pre>"
        self.refresh()
        return workspace

    def gpu_choice_key(self) -> str:
        """The key of the server's GPU choices for the chosen profile: its vendor, or "any"."""
        return (self.profiles.get(self.profile.value) or {}).get("gpu_vendor") or "any"

    def show_gpu_choices(self, inventory: dict | None = None) -> None:
        """Offer what the server's answer allows the chosen profile now: at most ``max_gpus``
        GPUs, and the GPUs it may pick. The policy is the server's; nothing is computed here."""
        if inventory is not None:
            self.inventory = inventory
        if self.inventory is None:
            return
        key = self.gpu_choice_key()
        gpus = self.inventory["gpus"]
        most = self.inventory["max_gpus"][key]
        self.gpu_count.max = most  # a larger value is lowered to it
        options = [
            (f"{g['index']}: {g['name']} ({g['memory_mib']} MiB)" + (f", {g['status']}" if g["held_by"] else ""), g["uuid"])
            for g in gpus if not g["pick_reasons"][key]  # with sharing on, held GPUs may be picked
        ]
        if options != list(self.gpu_ids.options):
            kept = tuple(uuid for uuid in self.gpu_ids.value if uuid in {u for _, u in options})
            self.gpu_ids.options = options
            self.gpu_ids.value = kept
            self.gpu_ids.rows = min(4, max(1, len(options)))
        notes = []
        if gpus and (reason := self.inventory["max_gpus_reason"][key]):
            notes.append(f"At most {most} now: {reason}.")
        if len(options) > self.inventory["max_picked"]:
            notes.append(f"Pick at most {self.inventory['max_picked']}: {self.inventory['max_picked_reason']}.")
        self.gpu_limit.value = "<br>".join(html.escape(n) for n in notes)

    def refresh(self) -> None:
        self.show_gpu_choices(self.client.get("gpus"))
        self.show_snapshots(self.client.get("snapshots"))
        self.workspaces.refresh()

    def say(self, message: str, error: bool = False) -> None:
        """What the last action did (or why it failed), under the launch button."""
        self.status.value = _error("", message) if error else html.escape(message)

    def close(self) -> None:
        self.workspaces.close()
        super().close()


def profile_label(profile: dict) -> str:
    """A profile as the dropdown offers it, saying whether a launch builds first and roughly
    what that takes."""
    if profile["built"]:
        return f"{profile['display_name']} (built)"
    said = describe_estimate(profile.get("build_estimate"))
    return f"{profile['display_name']} (will build" + (f": {said})" if said else ")")


def describe_estimate(estimate: dict | None) -> str:
    """``Profile.build_estimate`` in words, as the dialog says it (format.ts describeEstimate):
    the widget is a client of the REST API and imports nothing of the server."""
    if not estimate:
        return ""
    minutes = round(estimate["seconds"] / 60)
    size = estimate["size_bytes"] / 1e9
    parts = ["under a minute" if minutes < 1 else f"about {minutes} min"]
    if estimate["size_bytes"]:
        parts.append(f"{size:.1f} GB" if size < 10 else f"{round(size)} GB")
    source = "from its last build" if estimate["source"] == "last build" else "the profile's estimate"
    return f"{', '.join(parts)} ({source})"


def _field_errors(body: dict) -> str:
    """Each wrong field the server named (several at once when there are), one per line."""
    errors = body.get("errors") or [{"field": body.get("field"), "message": body.get("message", "")}]
    return "<br>".join(_error(f"{e['field']}: " if e.get("field") else "", e["message"]) for e in errors)


def _error(prefix: str, message: str) -> str:
    return f'<span style="color: var(--jp-error-color1, #d32f2f)">{html.escape(prefix + message)}</span>'
