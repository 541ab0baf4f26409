"""A workspace made by the release before the engine boundary (its container created with the
Docker SDK directly, every label spelt out as that release wrote it) is listed, reachable and
deletable by this one: the label vocabulary did not change."""

from __future__ import annotations

import asyncio
import secrets
import time

import requests

from workspace_launcher.engine import labels
from workspace_launcher.workspaces.model import Status


def run(coro):
    return asyncio.run(coro)


def test_the_label_vocabulary_is_unchanged():
    assert (labels.MANAGED_LABEL, labels.label("owner"), labels.NETWORK_NAME, labels.ROLE, labels.BASE_DIGEST) == (
        "workspace-launcher.id", "workspace-launcher.owner", "workspace-launcher", "workspace-launcher.role",
        "workspace-launcher.base-digest")


def test_a_workspace_made_the_old_way_is_listed_reachable_and_deletable(manager, minimal_image, docker_client, test_owner):
    workspace_id = secrets.token_hex(6)
    base_url = f"/workspace-launcher/workspaces/{workspace_id}/"
    token = secrets.token_urlsafe(32)
    run(manager.backend.ensure_network())
    volume = f"workspace-launcher-work-{workspace_id}"
    docker_client.volumes.create(volume, labels={"workspace-launcher.owner": test_owner, "workspace-launcher.role": "work",
                                                 "workspace-launcher.id": workspace_id})
    container = docker_client.containers.create(
        minimal_image.tag,
        command=["jupyter", "server", "--ServerApp.ip=0.0.0.0", "--ServerApp.port=8888",
                 f"--ServerApp.base_url={base_url}", "--ServerApp.root_dir=/home/jovyan/work"],
        name=f"workspace-launcher-{workspace_id}", user="1000", detach=True, network="workspace-launcher",
        environment={"JUPYTER_TOKEN": token, "WORKSPACE_ID": workspace_id, "WORKSPACE_NAME": "old-way"},
        labels={
            "workspace-launcher.id": workspace_id, "workspace-launcher.owner": test_owner,
            "workspace-launcher.name": "old-way", "workspace-launcher.profile": "minimal",
            "workspace-launcher.image": minimal_image.tag, "workspace-launcher.gpus": "",
            "workspace-launcher.gpu-vendor": "", "workspace-launcher.datasets": "",
            "workspace-launcher.work-volume": volume, "workspace-launcher.created": "2026-11-30T12:00:00+00:00",
            "workspace-launcher.base-url": base_url, "workspace-launcher.version": "0.9.0",
            "workspace-launcher.open-demo": "",
        },
        volumes={volume: {"bind": "/home/jovyan/work", "mode": "rw"}},
        cap_drop=["ALL"], security_opt=["no-new-privileges:true"],
    )
    try:
        container.start()
        listed = {w.id: w for w in run(manager.list(owner=test_owner))}
        assert workspace_id in listed and listed[workspace_id].name == "old-way"
        deadline = time.monotonic() + 120
        while run(manager.get(owner=test_owner, workspace_id=workspace_id)).status is not Status.RUNNING:
            assert time.monotonic() < deadline, "the old workspace never read as running"
            time.sleep(0.5)
        upstream = run(manager.connection(owner=test_owner, workspace_id=workspace_id))
        assert upstream.token == token
        url = str(upstream.url(upstream.base_url + "api/status"))
        while True:  # its Jupyter takes a moment; the launcher's route to it is what is under test
            try:
                if requests.get(url, headers={"Authorization": f"token {token}"}, timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, f"the old workspace's Jupyter never answered at {url}"
            time.sleep(0.5)
        assert run(manager.delete(owner=test_owner, workspace_id=workspace_id, purge=True)) == [volume]
        assert not docker_client.containers.list(all=True, filters={"label": f"workspace-launcher.id={workspace_id}"})
        assert volume not in {v.name for v in docker_client.volumes.list()}
    finally:
        for leftover in docker_client.containers.list(all=True, filters={"label": f"workspace-launcher.id={workspace_id}"}):
            leftover.remove(force=True)
        for leftover in docker_client.volumes.list(filters={"name": volume}):
            leftover.remove(force=True)
