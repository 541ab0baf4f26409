"""admin/cli_progress.py: a launch's and a build's progress as a bar on a terminal, or one plain
line per phase elsewhere."""

from __future__ import annotations

import io

from rich.console import Console

from workspace_launcher.admin.cli_progress import build_step, follow_build, follow_launch, phase_line, step_line
from workspace_launcher.workspaces.model import ProgressEvent, Status

ID = "0123456789ab"


def _events() -> list[ProgressEvent]:
    """A launch that builds its image, as the manager's PhaseReporter reports it."""
    building = "building the minimal image"
    return [
        ProgressEvent(ID, "exp-1", Status.PENDING, 0, "queued"),
        ProgressEvent(ID, "exp-1", Status.BUILDING, 10, building),
        ProgressEvent(ID, "exp-1", Status.BUILDING, 32, building, log_line="Step 1/2 : FROM base"),
        ProgressEvent(ID, "exp-1", Status.BUILDING, 55, building, log_line="Step 2/2 : RUN pip install numpy"),
        ProgressEvent(ID, "exp-1", Status.STARTING, 60, "reserving GPUs and creating the container"),
        ProgressEvent(ID, "exp-1", Status.STARTING, 70, "starting Jupyter"),
        ProgressEvent(ID, "exp-1", Status.RUNNING, 100, "running"),
    ]


def _plain(width: int = 200) -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=width), buffer


def test_build_steps_are_read_from_the_classic_builders_lines():
    assert build_step("Step 3/12 : RUN apt-get update") == (3, 12)
    assert build_step(" ---> Running in 1234") is None
    assert step_line("minimal", "Step 3/12 : RUN apt-get update\n") == "minimal: Step 3/12 : RUN apt-get update (25%)"


def test_a_launch_off_a_terminal_prints_one_line_per_phase_whole():
    console, buffer = _plain()
    with follow_launch(console, plain=False) as on_progress:
        for event in _events():
            on_progress(event)
    assert buffer.getvalue().splitlines() == [
        "pending: queued (0%)",
        "building: building the minimal image (10%)",  # its build log lines are not phases
        "starting: reserving GPUs and creating the container (60%)",
        "starting: starting Jupyter (70%)",
        "running: running (100%)",
    ]


def test_phase_lines_wrap_at_spaces_on_a_narrow_terminal():
    console, buffer = _plain(width=40)
    with follow_launch(console, plain=True) as on_progress:
        on_progress(_events()[4])
    assert buffer.getvalue().splitlines() == ["starting: reserving GPUs and creating", "  the container (60%)"]


def test_a_failed_launch_says_failed_once_and_leaves_its_error_to_the_error_handler():
    console, buffer = _plain()
    with follow_launch(console, plain=False) as on_progress:
        on_progress(ProgressEvent(ID, "exp-1", Status.PENDING, 0, "queued"))
        on_progress(ProgressEvent(ID, "exp-1", Status.FAILED, 100, "the container exited (status 1)"))
    assert buffer.getvalue().splitlines() == ["pending: queued (0%)", "failed"]
    assert phase_line(ProgressEvent(ID, "exp-1", Status.RUNNING, 100, "running")) == "running: running (100%)"


def test_a_terminal_gets_a_transient_bar_and_json_mode_plain_lines():
    buffer = io.StringIO()
    terminal = Console(file=buffer, width=60, force_terminal=True)
    with follow_launch(terminal, plain=False) as on_progress:
        for event in _events():
            on_progress(event)
    shown = buffer.getvalue()
    assert "\x1b[" in shown and "100%" in shown  # a bar, drawn with the terminal's controls
    assert "running: running (100%)" not in shown
    buffer.truncate(0)
    with follow_launch(terminal, plain=True) as on_progress:  # --json: stdout holds the workspace alone
        on_progress(_events()[0])
    assert buffer.getvalue().endswith("pending: queued (0%)\n")


def test_a_build_off_a_terminal_prints_its_steps_only():
    console, buffer = _plain()
    with follow_build(console, "minimal") as on_log:
        for line in ["Step 1/4 : FROM workspace-launcher/base:bookworm", " ---> 0123456789ab",
                     "Step 4/4 : RUN pip install --no-cache-dir numpy", "Successfully built 0123456789ab"]:
            on_log(line)
    assert buffer.getvalue().splitlines() == [
        "minimal: Step 1/4 : FROM workspace-launcher/base:bookworm (25%)",
        "minimal: Step 4/4 : RUN pip install --no-cache-dir numpy (100%)",
    ]


def test_a_build_on_a_terminal_moves_its_bar_by_the_steps():
    buffer = io.StringIO()
    terminal = Console(file=buffer, width=80, force_terminal=True)
    with follow_build(terminal, "minimal") as on_log:
        on_log("Step 1/2 : FROM base")
        on_log("Step 2/2 : RUN true")
        task = on_log.progress.tasks[0]
        assert (task.completed, task.total) == (2, 2) and task.description == "minimal: Step 2/2 : RUN true"
    assert "Step 1/2 : FROM base (50%)" not in buffer.getvalue()
