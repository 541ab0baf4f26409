"""What a workspace is, as the API and the CLI show it, and how it is read from the engine."""

from __future__ import annotations

import collections
import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields

from workspace_launcher.engine import spec as specs
from workspace_launcher.engine.objects import Container


class Status(str, enum.Enum):
    PENDING = "pending"
    BUILDING = "building"
    STARTING = "starting"
    RUNNING = "running"
    #: Frozen by the engine (``docker pause``): still holds its GPUs; ``docker unpause`` resumes.
    PAUSED = "paused"
    STOPPED = "stopped"
    FAILED = "failed"
    #: Only in events: the workspace was deleted.
    DELETED = "deleted"


#: Rough share of a launch that is done when each phase starts, for progress bars.
PHASE_PROGRESS = {
    Status.PENDING: 0,
    Status.BUILDING: 10,
    Status.STARTING: 60,
    Status.RUNNING: 100,
    Status.PAUSED: 100,
    Status.STOPPED: 100,
    Status.FAILED: 100,
    Status.DELETED: 100,
}

#: Engine container states, as workspace statuses.
_ENGINE_STATUS = {
    "created": Status.STARTING,
    "restarting": Status.STARTING,
    "running": Status.RUNNING,
    "paused": Status.PAUSED,
    "exited": Status.STOPPED,
    "dead": Status.FAILED,
    "removing": Status.STOPPED,
}


def _plain(record: Workspace | ProgressEvent) -> dict:
    """The record as JSON-ready fields: one level deep, since no field nests (``asdict``'s deep
    copy was most of a status poll's own cost)."""
    data = {f.name: getattr(record, f.name) for f in fields(record)}
    for key, value in data.items():
        if isinstance(value, list):
            data[key] = list(value)
    data["status"] = record.status.value
    return data


@dataclass
class Workspace:
    id: str
    name: str
    owner: str
    profile: str
    status: Status
    image: str = ""
    progress: int = 0
    message: str = ""
    gpus: list[str] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    created: str = ""
    #: When the container last started (ISO), while it runs: the UI's uptime.
    started: str | None = None
    base_url: str = ""
    container_id: str | None = None
    #: The demo notebook the workspace opens on ("" for its lab).
    demo_notebook: str = ""
    error: str | None = None
    log_tail: str | None = None

    def to_dict(self) -> dict:
        return _plain(self)


@dataclass(frozen=True)
class ProgressEvent:
    """One phase change of a launch, as front ends and the CLI see it."""

    workspace_id: str
    name: str
    status: Status
    progress: int
    message: str
    log_line: str | None = None
    owner: str = ""

    def to_dict(self) -> dict:
        return _plain(self)


ProgressCallback = Callable[[ProgressEvent], None]
def _split(value: str | None) -> list[str]:
    return [v for v in (value or "").split(",") if v]


def _size(n: int) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= factor:
            return f"{n / factor:.4g} {unit}"
    return f"{n} B"


ABANDONED = (
    "its launch was abandoned: the host server launching it stopped before the workspace "
    "started; its GPUs are free again. Delete it and launch again"
)


#: What containers launched before profiles named their demo carry in the open-demo label.
_LEGACY_DEMO_LABEL = {"1": "object-detection-train.ipynb"}


def demo_notebook_label(value: str) -> str:
    """The demo notebook an ``open-demo`` label names ("" for none)."""
    return _LEGACY_DEMO_LABEL.get(value, value)


def workspace_from_container(container: Container, *, now: float | None = None) -> Workspace:
    """Read a workspace back from its container: the engine is the source of truth."""
    labels = container.labels
    status = _ENGINE_STATUS.get(container.state, Status.FAILED)
    if status is Status.RUNNING and container.address is None and container.published_port is None:
        status = Status.STARTING
    message = {Status.RUNNING: "running", Status.STARTING: "starting"}.get(status, "")
    error = None
    if specs.launch_abandoned(container, now=time.time() if now is None else now):
        status, error = Status.FAILED, ABANDONED
        message = "launch abandoned"
    elif status is Status.PAUSED:
        message = "paused by the engine; it still holds its GPUs ('docker unpause' resumes it)"
    elif status is Status.STOPPED and container.oom_killed:
        limit = container.memory_limit
        message = f"stopped: out of memory (limit {_size(limit) if limit else 'none'}); start it again or launch with more memory"
    elif status is Status.STOPPED:
        message = f"stopped (exit code {container.exit_code or 0})"
    elif status is Status.FAILED:
        error = container.error or "the container is dead"
    return Workspace(
        id=labels[specs.MANAGED_LABEL],
        name=labels.get(specs.label("name"), ""),
        owner=labels.get(specs.label("owner"), ""),
        profile=labels.get(specs.label("profile"), ""),
        image=labels.get(specs.label("image"), ""),
        status=status,
        progress=PHASE_PROGRESS[status],
        message=message,
        gpus=_split(labels.get(specs.label("gpus"))),
        datasets=_split(labels.get(specs.label("datasets"))),
        created=labels.get(specs.label("created"), ""),
        started=container.started_at if status is Status.RUNNING else None,
        base_url=labels.get(specs.label("base-url"), ""),
        container_id=container.id,
        demo_notebook=demo_notebook_label(labels.get(specs.label("open-demo"), "")),
        error=error,
    )


class PhaseReporter:
    """Moves a workspace through its phases and tells the caller about each change."""

    def __init__(self, workspace: Workspace, callback: ProgressCallback | None, log) -> None:
        self.workspace = workspace
        self.callback = callback
        self.log = log
        #: The end of the build log, readable through logs() while the image builds.
        self.build_lines: collections.deque[str] = collections.deque(maxlen=200)

    def __call__(self, status: Status, message: str, *, progress: int | None = None, log_line: str | None = None,
                 quiet: bool = False) -> None:
        """Move to ``status``; ``log_line``: a build line it carries; ``quiet``: a tick of the
        bar, not worth a line in the server's log."""
        workspace = self.workspace
        workspace.status = status
        workspace.message = message
        workspace.progress = PHASE_PROGRESS[status] if progress is None else progress
        if log_line is None and not quiet:
            self.log.info("workspace %s (%s): %s - %s", workspace.id, workspace.name, status.value, message)
        if self.callback is not None:
            event = ProgressEvent(workspace.id, workspace.name, status, workspace.progress, message, log_line, workspace.owner)
            try:
                self.callback(event)
            except Exception:  # a broken listener must not break the launch
                self.log.exception("progress listener failed")
