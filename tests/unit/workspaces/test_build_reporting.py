"""A launch's building phase as the user sees it (``workspaces/build_reporting.py``): the
phase's message names the image building and its step, the bar moves with the log and the clock,
and the estimate is said up front."""

from __future__ import annotations

import logging

from workspace_launcher.images.build_history import BuildEstimate, BuildHistory
from workspace_launcher.workspaces.build_reporting import BuildReporter, describe_estimate, format_bytes
from workspace_launcher.workspaces.model import PhaseReporter, Status, Workspace

LOG = logging.getLogger("test")


def reporter() -> tuple[PhaseReporter, list]:
    events: list = []
    workspace = Workspace(id="0123456789ab", name="exp-1", owner="alice", profile="pytorch", status=Status.PENDING)
    return PhaseReporter(workspace, events.append, LOG), events


def test_the_building_phase_names_each_image_and_its_step(tmp_path):
    report, events = reporter()
    building = BuildReporter(report, BuildHistory(tmp_path / "b.json"), None)
    building.stage("jupyter", ["jupyter", "pytorch"])
    building.line("Step 2/10 : RUN pip install jupyterlab")
    assert events[-1].message == "building the shared Jupyter layer (step 2/10)"
    assert events[-1].log_line == "Step 2/10 : RUN pip install jupyterlab"
    building.stage("pytorch", ["jupyter", "pytorch"])
    building.line("Step 1/5 : FROM workspace-launcher/jupyter:abc")
    assert events[-1].message == "building the pytorch image (step 1/5)"
    progresses = [e.progress for e in events]
    assert progresses == sorted(progresses) and 10 <= progresses[0] and progresses[-1] < 55
    assert report.workspace.log_tail.splitlines()[-1] == "Step 1/5 : FROM workspace-launcher/jupyter:abc"


def test_with_an_estimate_the_bar_moves_through_a_silent_step_quietly(tmp_path):
    report, events = reporter()
    history = BuildHistory(tmp_path / "b.json")
    now = [0.0]
    building = BuildReporter(report, history, BuildEstimate(seconds=100, size_bytes=2_100_000_000, source="last build"),
                             clock=lambda: now[0])
    building.stage("pytorch", ["pytorch"])
    building.line("Step 1/2 : RUN pip install torch")
    before = len(events)
    now[0] = 80.0  # 80 s into a 100 s build, still in step 1 of 2: the clock moves the bar
    building.tick()
    assert len(events) == before + 1 and events[-1].progress > events[-2].progress and events[-1].log_line is None
    assert events[-1].message == "building the pytorch image (step 1/2); about 2 min, 2.1 GB in all"
    building.tick()
    assert len(events) == before + 1  # no move, no event


def test_without_an_estimate_a_tick_changes_nothing(tmp_path):
    report, events = reporter()
    building = BuildReporter(report, BuildHistory(tmp_path / "b.json"), None)
    building.tick()
    building.stage("minimal", ["minimal"])
    count = len(events)
    building.tick()
    assert len(events) == count


def test_the_estimate_in_words():
    assert describe_estimate(BuildEstimate(250, 2_100_000_000, "last build")) == "about 4 min, 2.1 GB (from its last build)"
    assert describe_estimate(BuildEstimate(600, 9 * 1024**3, "profile")) == "about 10 min, 9.7 GB (the profile's estimate)"
    assert describe_estimate(None) == ""
    assert (format_bytes(45_000_000_000), format_bytes(999)) == ("45 GB", "999 B")
