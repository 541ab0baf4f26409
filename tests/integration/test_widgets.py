"""The notebook widget against a real server with the extension and the real engine."""

from __future__ import annotations

import asyncio

import docker
import pytest

from workspace_launcher.notebook.widget import LauncherClient, WorkspaceLauncher

from .conftest import make_config


@pytest.fixture
def jp_server_config(dataset_root, tmp_path, test_owner):
    config = make_config(dataset_root, tmp_path)
    config.WorkspaceLauncherApp.owner = test_owner
    config.ServerApp.jpserver_extensions = {"workspace_launcher": True}
    return config


async def until(predicate, timeout: float = 90) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_the_widget_launches_follows_and_deletes(jp_serverapp, http_server_client, jp_http_port, jp_base_url, minimal_image):
    client = LauncherClient(f"http://127.0.0.1:{jp_http_port}{jp_base_url}", jp_serverapp.identity_provider.token)
    launcher = await asyncio.to_thread(WorkspaceLauncher, client=client, poll_interval=0.2)
    assert "minimal" in [value for _, value in launcher.profile.options]
    launcher.profile.value = "minimal"
    launcher.datasets["demo"].value = True
    launcher.name.value = "from-widget"
    assert launcher.request_body() == {"profile": "minimal", "gpus": 0, "datasets": ["demo"], "open_demo": False, "name": "from-widget"}

    launcher.launch_button.click()
    await until(lambda: "href" in launcher.link.value)
    assert f"{jp_base_url}workspace-launcher/open/" in launcher.link.value
    assert launcher.progress.value == 100
    await until(lambda: any("from-widget" in row.children[0].value for row in launcher.table.children))

    row = next(r for r in launcher.table.children if "from-widget" in r.children[0].value)
    listed = await asyncio.to_thread(client.get, "workspaces")
    (workspace_id,) = [w["id"] for w in listed if w["name"] == "from-widget"]
    row.children[2].click()  # delete
    await until(lambda: not launcher.table.children)
    # The widget's delete keeps the work volume (it never purges): the user's files stay.
    volume = docker.from_env().volumes.get(f"workspace-launcher-work-{workspace_id}")
    volume.remove()


async def test_the_widget_shows_a_validation_error(jp_serverapp, http_server_client, jp_http_port, jp_base_url, minimal_image):
    client = LauncherClient(f"http://127.0.0.1:{jp_http_port}{jp_base_url}", jp_serverapp.identity_provider.token)
    launcher = await asyncio.to_thread(WorkspaceLauncher, client=client)
    launcher.name.value = "Not A Valid Name"
    launcher.launch_button.click()
    await until(lambda: "lowercase" in launcher.status.value)
    assert launcher.status.value.startswith("<span") and "name: " in launcher.status.value
    assert launcher.link.value == ""
