"""The notebook widget against a real server with the extension and the real engine."""

from __future__ import annotations

import asyncio

import docker
import pytest

from workspace_launcher.notebook.widget import LauncherClient, WorkspaceLauncher

from .conftest import make_config
from .test_workspaces import FAKE_GPUS


@pytest.fixture
def jp_server_config(dataset_root, tmp_path, test_owner):
    config = make_config(dataset_root, tmp_path, declared_gpus=FAKE_GPUS, max_gpus_per_workspace=2)
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


async def test_the_widget_offers_the_servers_gpu_choices(jp_serverapp, http_server_client, jp_http_port, jp_base_url):
    """The widget offers what ``GET gpus`` computed for the chosen profile, and follows a new
    answer on refresh: it computes no policy of its own."""
    client = LauncherClient(f"http://127.0.0.1:{jp_http_port}{jp_base_url}", jp_serverapp.identity_provider.token)
    launcher = await asyncio.to_thread(WorkspaceLauncher, client=client)
    answer = await asyncio.to_thread(client.get, "gpus")
    assert answer["max_gpus"]["any"] == answer["max_gpus"]["nvidia"] == 2  # four free, two per workspace
    for profile in ("minimal", "pytorch"):  # no GPU vendor, and NVIDIA
        launcher.profile.value = profile
        key = launcher.gpu_choice_key()
        assert key == ("any" if profile == "minimal" else "nvidia")
        assert launcher.gpu_count.max == answer["max_gpus"][key]
        assert [uuid for _, uuid in launcher.gpu_ids.options] == [
            g["uuid"] for g in answer["gpus"] if not g["pick_reasons"][key]
        ] == [g["uuid"] for g in FAKE_GPUS]
        assert launcher.gpu_limit.value.startswith("At most 2 now: the policy allows at most 2 GPUs per workspace.")
    launcher.gpu_count.value = 2
    launcher.gpu_ids.value = (FAKE_GPUS[1]["uuid"],)

    manager = jp_serverapp.web_app.settings["workspace_launcher_manager"]
    manager.allocator.max_gpus_per_workspace = 1  # the admin's policy, as the next answer shows it
    await asyncio.to_thread(launcher.refresh)
    assert launcher.inventory["max_gpus"]["nvidia"] == 1 and launcher.inventory["max_picked"] == 1
    assert launcher.gpu_count.max == 1 and launcher.gpu_count.value == 1
    assert launcher.gpu_ids.value == (FAKE_GPUS[1]["uuid"],)  # still offered: kept
    assert "at most 1 GPU per workspace" in launcher.gpu_limit.value
    assert "Pick at most 1" in launcher.gpu_limit.value
