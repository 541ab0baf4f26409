"""How the CLI follows a launch or an image build: a rich progress bar on a terminal; elsewhere
(a pipe, a log file, or --json) one plain line per phase on stderr, so a CI log shows the phases
and stdout holds only the answer.

A launch's phases are the manager's :class:`ProgressEvent` changes of status or message; a build's
are the builder's ``Step i/n`` lines (one per Dockerfile instruction, for each image it builds).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Column
from rich.text import Text

from workspace_launcher.admin.cli_layout import wrap
from workspace_launcher.workspaces.model import ProgressEvent, Status

_STEP = re.compile(r"^Step (\d+)/(\d+)")


def build_step(line: str) -> tuple[int, int] | None:
    """(i, n) of a classic builder's "Step i/n : ..." line, else None."""
    match = _STEP.match(line.strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


def phase_line(event: ProgressEvent) -> str:
    """The plain line of one launch phase."""
    if event.status is Status.FAILED:
        return "failed"  # its error and log tail follow, printed once by the error handler
    return f"{event.status.value}: {event.message} ({event.progress}%)"


def step_line(profile: str, line: str) -> str:
    """The plain line of one build step (percent of the image being built)."""
    step, total = build_step(line) or (0, 1)
    return f"{profile}: {line.strip()} ({100 * step // max(total, 1)}%)"


def _say(console: Console, line: str) -> None:
    # Wrapped like every message (a pipe's width is unbounded: one line each there).
    console.print(Text(wrap(line, console.width, indent=2)), soft_wrap=True)


def _bar(console: Console) -> Progress:
    # The description takes what the bar and counters leave and is cut with an ellipsis, on one
    # line: the bar is transient, what it shows is also in `workspaces logs` or the log tail.
    return Progress(
        TextColumn("{task.description}", table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis")),
        BarColumn(bar_width=max(10, min(30, console.width // 4))),
        TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
        console=console, transient=True, expand=True,
    )


class LaunchFollower:
    """Receives a launch's events: updates the bar, or prints a line when the phase changes."""

    def __init__(self, console: Console, progress: Progress | None) -> None:
        self.console = console
        self.progress = progress
        self.task: TaskID | None = progress.add_task("pending", total=100) if progress else None
        self.last: tuple[Status, str] | None = None

    def __call__(self, event: ProgressEvent) -> None:
        if self.progress is not None:
            text = (event.log_line or "").strip() or event.message
            self.progress.update(self.task, completed=event.progress, description=f"{event.status.value}: {text}")
            return
        if (event.status, event.message) != self.last:  # build log lines repeat the phase
            self.last = (event.status, event.message)
            _say(self.console, phase_line(event))


class BuildFollower:
    """Receives one profile's build log lines: updates the bar, or prints each step's line."""

    def __init__(self, console: Console, progress: Progress | None, profile: str) -> None:
        self.console = console
        self.progress = progress
        self.profile = profile
        self.task: TaskID | None = progress.add_task(f"{profile}: checking", total=None) if progress else None

    def __call__(self, line: str) -> None:
        step = build_step(line)
        if self.progress is None:
            if step is not None:
                _say(self.console, step_line(self.profile, line))
            return
        if step is not None:  # each image the build makes counts its own steps
            self.progress.update(self.task, completed=step[0], total=step[1])
        if line.strip():
            self.progress.update(self.task, description=f"{self.profile}: {line.strip()}")


@contextmanager
def follow_launch(console: Console, *, plain: bool) -> Iterator[LaunchFollower]:
    """The ``on_progress`` of a launch: a bar on a terminal unless ``plain``, else phase lines."""
    if plain or not console.is_terminal:
        yield LaunchFollower(console, None)
        return
    with _bar(console) as progress:
        yield LaunchFollower(console, progress)


@contextmanager
def follow_build(console: Console, profile: str) -> Iterator[BuildFollower]:
    """The ``on_log`` of one profile's build: a bar on a terminal, else step lines."""
    if not console.is_terminal:
        yield BuildFollower(console, None, profile)
        return
    with _bar(console) as progress:
        yield BuildFollower(console, progress, profile)
