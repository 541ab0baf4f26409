"""The workspace model (``workspaces/model.py``): what a container, as the engine describes it,
says about its workspace's phase and message."""

from __future__ import annotations

from tests.unit.fakes import NOW, workspace_container
from workspace_launcher.workspaces.model import Status, demo_notebook_label, workspace_from_container


def test_a_created_container_past_its_launch_deadline_is_a_failed_launch():
    workspace = workspace_from_container(workspace_container("b" * 12, "created", "GPU-3", deadline=NOW - 1), now=NOW)
    assert workspace.status is Status.FAILED and "abandoned" in workspace.error
    fresh = workspace_container("b" * 12, "created", "GPU-3", deadline=NOW + 1)
    assert workspace_from_container(fresh, now=NOW).status is Status.STARTING


def test_a_paused_workspace_is_paused_not_stopped():
    workspace = workspace_from_container(workspace_container("e" * 12, "paused", "GPU-5"), now=NOW)
    assert workspace.status is Status.PAUSED and "holds its GPUs" in workspace.message


def test_an_oom_killed_workspace_says_so_with_its_limit():
    workspace = workspace_from_container(workspace_container("f" * 12, "exited", "GPU-6", OOMKilled=True, ExitCode=137), now=NOW)
    assert workspace.status is Status.STOPPED
    assert "out of memory (limit 256 MiB)" in workspace.message


def test_the_open_demo_label_names_the_notebook_and_old_containers_keep_theirs():
    assert demo_notebook_label("detect/train.ipynb") == "detect/train.ipynb"
    assert demo_notebook_label("1") == "object-detection-train.ipynb"  # launched before profiles named their demo
    assert demo_notebook_label("") == ""
