"""A build's progress from its log and the clock (``images/build_progress.py``)."""

from __future__ import annotations

from tests.unit.fakes import ManualClock
from workspace_launcher.images.build_progress import BuildProgress, stage_title


def test_the_message_names_the_image_actually_building():
    progress = BuildProgress(["jupyter", "pytorch"])
    progress.begin("jupyter")
    progress.line("Step 3/12 : RUN pip install jupyterlab")
    assert progress.message() == "building the shared Jupyter layer (step 3/12)"
    progress.begin("pytorch")
    assert progress.message() == "building the pytorch image"
    progress.line("Step 1/4 : FROM workspace-launcher/jupyter:abc")
    assert progress.message() == "building the pytorch image (step 1/4)"
    assert stage_title("minimal") == "the minimal image"


def test_lines_within_one_step_keep_moving_the_bar_but_never_past_the_step():
    progress = BuildProgress(["minimal"])
    progress.begin("minimal")
    progress.line("Step 2/4 : RUN pip install numpy")
    seen = [progress.fraction()]
    for n in range(60):
        progress.line(f"Collecting package-{n}")
        seen.append(progress.fraction())
    assert all(b > a for a, b in zip(seen, seen[1:10]))  # each line moves it
    assert seen[0] == 0.25 and seen[-1] < 0.5  # step 2 of 4 spans 25%..50%
    progress.line("Step 3/4 : RUN true")
    assert progress.fraction() == 0.5


def test_each_image_gets_its_share_by_its_last_build_time():
    progress = BuildProgress(["jupyter", "pytorch"], weights={"jupyter": 60.0, "pytorch": 240.0})
    progress.begin("pytorch")  # the layer is done: its 20% is behind
    progress.line("Step 1/2 : FROM x")
    assert progress.fraction() == 0.2
    unknown = BuildProgress(["jupyter", "demo"])
    unknown.begin("demo")
    unknown.line("Step 1/1 : FROM x")
    assert unknown.fraction() == 0.4  # default shares: layer 2, profile 3


def test_a_silent_step_moves_with_the_clock_at_the_estimates_pace_and_stops_short():
    clock = ManualClock()
    progress = BuildProgress(["pytorch"], estimate_seconds=100, clock=clock)
    progress.begin("pytorch")
    progress.line("Step 2/2 : RUN pip install torch")  # then silence
    assert progress.fraction() == 0.5
    clock.now += 40
    assert progress.fraction() == 0.5  # the log is ahead of the clock: the log's say
    clock.now += 50
    assert round(progress.fraction(), 3) == 0.855  # 90 s of 100, times the 95% cap
    clock.now += 1000
    assert progress.fraction() == 0.95  # the end is the build's to say


def test_the_fraction_never_goes_back():
    clock = ManualClock()
    progress = BuildProgress(["jupyter", "demo"], estimate_seconds=10, clock=clock)
    progress.begin("jupyter")
    clock.now += 9
    high = progress.fraction()
    progress.line("Step 1/9 : FROM base")  # the log says less than the clock did
    assert progress.fraction() == high
