"""The notebook widget against a real server with the extension and the real engine."""

from __future__ import annotations

import asyncio

import docker
import docker.errors
import ipywidgets as widgets
import pytest

from workspace_launcher.notebook.widget import LauncherClient, WorkspaceLauncher
from workspace_launcher.workspaces.validation import owner_slug

from .conftest import labelled_snapshot, make_config, remove_images
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


def rows(launcher) -> dict:
    """The widget's list: workspace id -> (its line, its Stop, Start and Delete buttons)."""
    return {row.workspace_id: (row.children[0].value, *row.children[1:]) for row in launcher.workspaces.rows.children}


def confirm(launcher, label: str) -> str:
    """Press the pending confirmation's ``label`` button; return the question's text."""
    *question, buttons = launcher.workspaces.confirmation.children
    (button,) = [b for b in buttons.children if b.description == label]
    text = " ".join(getattr(w, "value", "") if isinstance(w, widgets.HTML) else w.description for w in question)
    button.click()
    return text


async def test_the_widget_launches_follows_asks_and_deletes(jp_serverapp, http_server_client, jp_http_port, jp_base_url,
                                                           minimal_image):
    client = LauncherClient(f"http://127.0.0.1:{jp_http_port}{jp_base_url}", jp_serverapp.identity_provider.token)
    launcher = await asyncio.to_thread(WorkspaceLauncher, client=client, poll_interval=0.2, refresh_interval=0.3)
    try:
        assert "minimal" in [value for _, value in launcher.profile.options]
        launcher.profile.value = "minimal"
        launcher.datasets["demo"].value = True
        launcher.name.value = "from-widget"
        assert launcher.request_body() == {"profile": "minimal", "gpus": 0, "datasets": ["demo"], "open_demo": False,
                                           "name": "from-widget"}

        launcher.launch_button.click()
        await until(lambda: "href" in launcher.link.value)
        assert f"{jp_base_url}workspace-launcher/open/" in launcher.link.value
        assert launcher.progress.value == 100
        listed = await asyncio.to_thread(client.get, "workspaces")
        (workspace_id,) = [w["id"] for w in listed if w["name"] == "from-widget"]
        await until(lambda: "running" in rows(launcher).get(workspace_id, ("",))[0])

        # Stop asks first, saying what ends and what stays; Cancel leaves it running.
        rows(launcher)[workspace_id][1].click()
        assert "running kernels end" in confirm(launcher, "Cancel")
        assert (await asyncio.to_thread(client.get, f"workspaces/{workspace_id}"))["status"] == "running"
        rows(launcher)[workspace_id][1].click()
        confirm(launcher, "Stop")
        await until(lambda: launcher.status.value == "Stopped from-widget; its GPUs are free.")
        await until(lambda: "stopped" in rows(launcher)[workspace_id][0])
        rows(launcher)[workspace_id][2].click()  # start
        await until(lambda: launcher.status.value == "Started from-widget: it is running again.", timeout=120)

        # Delete offers the panel's choices: the work volume is kept unless ticked; /models always.
        rows(launcher)[workspace_id][3].click()
        *_, purge, _buttons = launcher.workspaces.confirmation.children
        assert purge.value is False and "work volume of from-widget" in purge.description
        question = confirm(launcher, "Delete")
        assert "model volume (/models" in question and "always kept" in question
        await until(lambda: launcher.status.value == "Deleted from-widget; its volumes are kept.")
        await until(lambda: workspace_id not in rows(launcher))
        volume = docker.from_env().volumes.get(f"workspace-launcher-work-{workspace_id}")
        volume.remove()
    finally:
        launcher.close()


async def test_the_widgets_list_follows_what_happens_elsewhere(jp_serverapp, http_server_client, jp_http_port,
                                                              jp_base_url, minimal_image):
    """A workspace deleted from the panel or the CLI leaves the widget's list by itself: it is
    never shown running once gone."""
    client = LauncherClient(f"http://127.0.0.1:{jp_http_port}{jp_base_url}", jp_serverapp.identity_provider.token)
    launcher = await asyncio.to_thread(WorkspaceLauncher, client=client, refresh_interval=0.3)
    try:
        status, body = await asyncio.to_thread(client.request, "POST", "workspaces",
                                               json={"profile": "minimal", "name": "elsewhere"})
        assert status == 202
        await until(lambda: "running" in rows(launcher).get(body["id"], ("",))[0])
        status, _ = await asyncio.to_thread(client.request, "DELETE", f"workspaces/{body['id']}",
                                            params={"purge": "true"})
        assert status == 204
        await until(lambda: body["id"] not in rows(launcher), timeout=10)
    finally:
        launcher.close()


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
        remove_images(docker_client, mine, foreign)
