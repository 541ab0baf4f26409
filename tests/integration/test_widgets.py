"""The notebook widget against a real server with the extension and the real engine."""

from __future__ import annotations

import asyncio

import docker
import docker.errors
import pytest

from workspace_launcher.notebook.widget import LauncherClient, WorkspaceLauncher
from workspace_launcher.workspaces.validation import owner_slug

from .conftest import labelled_snapshot, make_config
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
    # Two wrong fields: both are named at once, one per line.
    launcher.gpu_count.max = 99
    launcher.gpu_count.value = 9
    launcher.launch_button.click()
    await until(lambda: "<br>" in launcher.status.value)
    first, second = launcher.status.value.split("<br>")
    assert "gpus: " in first and "name: " in second and "lowercase" in second


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


async def test_the_widget_launches_a_snapshot_and_offers_the_demo_where_there_is_one(
    jp_serverapp, http_server_client, jp_http_port, jp_base_url, test_owner, docker_client, minimal_image
):
    client = LauncherClient(f"http://127.0.0.1:{jp_http_port}{jp_base_url}", jp_serverapp.identity_provider.token)
    mine = f"workspace-launcher/snapshot-{owner_slug(test_owner)}:wltest-widget"
    foreign = "workspace-launcher/snapshot-someone-else:wltest-widget"
    labelled_snapshot(docker_client, minimal_image.tag, mine, test_owner, profile="minimal")
    labelled_snapshot(docker_client, minimal_image.tag, foreign, "someone-else")
    try:
        launcher = await asyncio.to_thread(WorkspaceLauncher, client=client, poll_interval=0.2)
        # The demo: offered for PyTorch (which has one), not for Minimal (NumPy has none).
        launcher.profile.value = "pytorch"
        assert launcher.open_demo.layout.display == "" and "object-detection-train.ipynb" in launcher.open_demo.description
        launcher.open_demo.value = True
        launcher.profile.value = "minimal"
        assert launcher.open_demo.layout.display == "none" and launcher.open_demo.value is False

        # Only the caller's snapshot is offered; choosing it holds its profile.
        assert [value for _, value in launcher.source.options] == ["", mine]
        launcher.profile.value = "pytorch"
        launcher.source.value = mine
        assert launcher.profile.value == "minimal" and launcher.profile.disabled
        assert "wltest-widget of exp-1 (minimal, 2026-12-03 06:00)" in launcher.source.label
        launcher.name.value = "from-snapshot"
        assert launcher.request_body()["snapshot"] == mine

        launcher.launch_button.click()
        await until(lambda: "href" in launcher.link.value)
        (workspace,) = [w for w in await asyncio.to_thread(client.get, "workspaces") if w["name"] == "from-snapshot"]
        assert workspace["image"] == mine and workspace["status"] == "running"
        launcher.source.value = ""
        assert not launcher.profile.disabled
        status, _ = await asyncio.to_thread(client.request, "DELETE", f"workspaces/{workspace['id']}", params={"purge": "true"})
        assert status == 204
    finally:
        for reference in (mine, foreign):
            try:
                docker_client.images.remove(reference, force=True)
            except docker.errors.ImageNotFound:
                pass
