"""The admin's workspace settings: read as ``WorkspaceManager.*``, checked when set, and handed
to validation as one policy."""

from __future__ import annotations

import pytest
from traitlets.config import Config

from tests.unit.workspaces.fakes import manager  # noqa: F401 (a fixture)
from workspace_launcher.app import WorkspaceLauncherApp
from workspace_launcher.errors import InvalidRequest
from workspace_launcher.workspaces.manager import WorkspaceManager
from workspace_launcher.workspaces.settings import WorkspaceSettings


def test_workspace_urls_live_under_the_host_base_url(manager):
    manager.base_url = "/user/alice"
    assert manager.workspace_base_url("0123456789ab") == "/user/alice/workspace-launcher/workspaces/0123456789ab/"
    manager.base_url = "/"
    assert manager.workspace_base_url("0123456789ab") == "/workspace-launcher/workspaces/0123456789ab/"


def test_the_settings_are_configured_under_the_managers_name():
    """Admins' files say c.WorkspaceManager.<name>; the settings living on a base class changes nothing."""
    config = Config()
    config.WorkspaceManager.launch_timeout = 7.5
    config.WorkspaceManager.allowed_env = ["WANDB_*"]
    manager = WorkspaceManager(config=config)
    assert manager.launch_timeout == 7.5 and manager.allowed_env == ["WANDB_*"]
    generated = WorkspaceLauncherApp().generate_config_file()  # what --generate-config writes
    for name in WorkspaceSettings.class_traits(config=True):
        assert f"c.WorkspaceManager.{name} = " in generated, name
    assert "WorkspaceSettings" not in generated


@pytest.mark.parametrize("name", ["default_memory", "max_memory", "max_shm_size"])
def test_a_size_setting_that_is_not_a_size_names_its_key(name):
    config = Config()
    setattr(config.WorkspaceManager, name, "lots")
    with pytest.raises(InvalidRequest, match=f"WorkspaceManager.{name} 'lots' is not a size"):
        WorkspaceManager(config=config)


def test_the_launch_policy_is_the_settings(manager):
    manager.max_cpus, manager.pids_limit, manager.allowed_env = 3.0, 99, ["HF_HOME"]
    policy = manager.launch_policy()
    assert (policy.max_cpus, policy.max_memory, policy.pids_limit, policy.allowed_env) == (3.0, "8g", 99, ("HF_HOME",))
