"""Why a launch's container stopped before its Jupyter answered, as the error says it."""

from __future__ import annotations

from workspace_launcher.engine.objects import Container
from workspace_launcher.workspaces.readiness import exit_reason


def test_an_oom_kill_names_the_memory_limit():
    attrs = {"State": {"Status": "exited", "ExitCode": 137, "OOMKilled": True}, "HostConfig": {"Memory": 64 * 2**20}}
    assert "ran out of memory (limit 64 MiB)" in exit_reason(Container.from_attrs(attrs))


def test_an_exit_names_its_code_and_a_removal_says_so():
    assert "exited (code 7)" in exit_reason(Container.from_attrs({"State": {"Status": "exited", "ExitCode": 7, "OOMKilled": False}}))
    assert "removed" in exit_reason(None)
