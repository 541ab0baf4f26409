"""The notebook widget's list of the user's workspaces, kept in step with the server (the same
list the JupyterLab panel shows), with the panel's actions: stop and delete ask first and say
what they keep, and every action ends in a message saying what happened."""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

ACTIVE = ("pending", "building", "starting")

#: What the panel's delete dialog says about the volumes, word for word the same choices.
MODELS_KEPT = ("Your model volume (/models, shared by all your workspaces) is always kept; an admin "
               'removes it with "workspace-launcher models rm".')


def describe(workspace: dict) -> str:
    """One line about a workspace: name, profile, status (with its progress while launching),
    GPUs and datasets."""
    status = workspace["status"]
    if status in ACTIVE:
        status = f"{status} {workspace['progress']}%: {workspace['message']}"
    return (f"{workspace['name']} · {workspace['profile']} · {status} · {len(workspace['gpus'])} GPU(s) · "
            f"{', '.join(workspace['datasets']) or 'no datasets'}")


def stop_question(workspace: dict) -> str:
    return (f"Stop {workspace['name']}? Its running kernels end (what is only in their memory is lost); "
            "its files in /home/jovyan/work and /models stay, and its GPUs are freed.")


def deleted_message(name: str, purge: bool) -> str:
    if purge:
        return f"Deleted {name} with its work volume (your model volume is kept)."
    return f"Deleted {name}; its volumes are kept."


class WorkspaceList(widgets.VBox):
    """The user's workspaces, refreshed every ``refresh_interval`` seconds while shown (and
    after each action), each with stop, start and delete."""

    def __init__(self, client: Any, *, on_message: Callable[[str, bool], None],
                 refresh_interval: float | None = 5.0) -> None:
        self.client = client
        #: Shows what an action did: (message, whether it is an error).
        self.on_message = on_message
        self.rows = widgets.VBox()
        #: The pending confirmation (stop or delete), outside the rows a refresh rebuilds.
        self.confirmation = widgets.VBox()
        refresh = widgets.Button(description="Refresh", icon="refresh")
        refresh.on_click(lambda _: self.in_background(self.refresh))
        super().__init__([widgets.HTML("<b>Your workspaces</b>"), refresh, self.rows, self.confirmation])
        self._closed = threading.Event()
        self._lock = threading.Lock()
        if refresh_interval:
            self.in_background(lambda: self._keep_fresh(refresh_interval))

    def close(self) -> None:
        self._closed.set()
        super().close()

    def in_background(self, fn: Callable[[], None]) -> threading.Thread:
        """Network calls run in a thread: the kernel keeps answering meanwhile."""
        thread = threading.Thread(target=fn, daemon=True)
        thread.start()
        return thread

    def _keep_fresh(self, interval: float) -> None:
        while not self._closed.wait(interval):
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - a server that went away is retried next time
                continue

    def refresh(self) -> None:
        """List the workspaces again: one deleted elsewhere goes, one launching shows its progress."""
        with self._lock:
            workspaces = self.client.get("workspaces")
            self.rows.children = [self._row(w) for w in workspaces]

    def _row(self, workspace: dict) -> widgets.HBox:
        stop = widgets.Button(description="Stop", disabled=workspace["status"] != "running")
        start = widgets.Button(description="Start", disabled=workspace["status"] != "stopped")
        delete = widgets.Button(description="Delete…", button_style="danger")
        stop.on_click(lambda _: self.ask_stop(workspace))
        start.on_click(lambda _: self.in_background(lambda: self.start(workspace)))
        delete.on_click(lambda _: self.ask_delete(workspace))
        row = widgets.HBox([widgets.HTML(html.escape(describe(workspace))), stop, start, delete])
        row.workspace_id = workspace["id"]  # what tests and callers find a row by
        return row

    # -- confirmations ------------------------------------------------------------------------
    def _ask(self, question: list[widgets.Widget], label: str, act: Callable[[], None]) -> None:
        go = widgets.Button(description=label, button_style="danger")
        cancel = widgets.Button(description="Cancel")
        go.on_click(lambda _: (self._clear_question(), self.in_background(act)))
        cancel.on_click(lambda _: self._clear_question())
        self.confirmation.children = [*question, widgets.HBox([go, cancel])]

    def _clear_question(self) -> None:
        self.confirmation.children = []

    def ask_stop(self, workspace: dict) -> None:
        self._ask([widgets.HTML(html.escape(stop_question(workspace)))], "Stop", lambda: self.stop(workspace))

    def ask_delete(self, workspace: dict) -> None:
        name = workspace["name"]
        purge = widgets.Checkbox(
            value=False, indent=False,
            description=f"Also delete the work volume of {name}: its files in /home/jovyan/work (cannot be undone)",
            layout={"width": "auto"},
        )
        question = widgets.HTML(html.escape(f"Delete the workspace {name}? Its container goes; its work volume "
                                            "(/home/jovyan/work) is kept unless you tick the box below."))
        self._ask([question, widgets.HTML(html.escape(MODELS_KEPT)), purge], "Delete",
                  lambda: self.delete(workspace, purge=purge.value))

    # -- actions ------------------------------------------------------------------------------
    def _act(self, method: str, path: str, done: str, **kwargs: Any) -> None:
        status, body = self.client.request(method, path, **kwargs)
        if status >= 400:
            self.on_message((body or {}).get("message", f"HTTP {status}"), True)
        else:
            self.on_message(done, False)
        self.refresh()

    def stop(self, workspace: dict) -> None:
        self._act("POST", f"workspaces/{workspace['id']}/stop", f"Stopped {workspace['name']}; its GPUs are free.")

    def start(self, workspace: dict) -> None:
        self.on_message(f"Starting {workspace['name']}…", False)
        self._act("POST", f"workspaces/{workspace['id']}/start", f"Started {workspace['name']}: it is running again.")

    def delete(self, workspace: dict, *, purge: bool) -> None:
        self._act("DELETE", f"workspaces/{workspace['id']}", deleted_message(workspace["name"], purge),
                  params={"purge": "true" if purge else "false"})
