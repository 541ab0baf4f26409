"""No launcher action loses user data or leaks a secret: volumes, snapshots and mounts on the real engine."""

from __future__ import annotations

import asyncio
import io
import os
import tarfile

import pytest

from workspace_launcher.engine import spec as specs
from workspace_launcher.errors import Conflict, NotFound
from workspace_launcher.workspaces.manager import WorkspaceManager
from workspace_launcher.workspaces.model import Status
from workspace_launcher.workspaces.validation import owner_slug

from .conftest import make_config
from .test_workspaces import exec_in


def run(coro):
    return asyncio.run(coro)


def volume_names(docker_client, owner: str) -> set[str]:
    return {v.name for v in docker_client.volumes.list(filters={"label": [f"{specs.label('owner')}={owner}"]})}


def test_purging_every_workspace_keeps_the_model_volume_until_it_is_removed_by_name(
    manager, minimal_image, docker_client, test_owner
):
    owner = f"{test_owner}-models"
    models = specs.model_volume_name(owner_slug(owner))
    first = run(manager.launch(owner=owner, profile="minimal", name="first"))
    second = run(manager.launch(owner=owner, profile="minimal", name="second"))
    try:
        assert exec_in(docker_client, first.container_id, "echo trained > /models/weights.txt")[0] == 0
        assert run(manager.delete(owner=owner, workspace_id=first.id, purge=True)) == [specs.work_volume_name(first.id)]
        # Refused while a workspace of the owner exists, and nothing removed.
        with pytest.raises(Conflict, match="second") as info:
            run(manager.remove_model_volume(owner=owner))
        assert models in str(info.value)
        assert run(manager.delete(owner=owner, workspace_id=second.id, purge=True)) == [specs.work_volume_name(second.id)]
        # Every workspace purged: the models are all still there.
        assert volume_names(docker_client, owner) == {models}
        check = docker_client.containers.run(
            minimal_image.tag, ["cat", "/models/weights.txt"], remove=True, user="1000",
            mounts=[{"Target": "/models", "Source": models, "Type": "volume", "ReadOnly": True}],
        )
        assert check.decode().strip() == "trained"
        listed = {v["name"]: v for v in run(manager.model_volumes())}
        assert listed[models]["owner"] == owner and listed[models]["workspaces"] == []
        # The explicit, separate action that names it.
        assert run(manager.remove_model_volume(owner=owner)) == models
        assert volume_names(docker_client, owner) == set()
        with pytest.raises(NotFound):
            run(manager.remove_model_volume(owner=owner))
    finally:
        for w in run(manager.list(owner=owner)):
            run(manager.delete(owner=owner, workspace_id=w.id, purge=True))
        for name in volume_names(docker_client, owner):
            docker_client.volumes.get(name).remove(force=True)


def test_work_files_survive_stop_and_start(manager, minimal_image, docker_client, test_owner):
    workspace = run(manager.launch(owner=test_owner, profile="minimal", name="keeps-files"))
    try:
        assert exec_in(docker_client, workspace.container_id, "echo epoch-7 > ~/work/checkpoint.txt")[0] == 0
        assert run(manager.stop(owner=test_owner, workspace_id=workspace.id)).status is Status.STOPPED
        started = run(manager.start(owner=test_owner, workspace_id=workspace.id))
        assert started.status is Status.RUNNING and started.container_id == workspace.container_id
        code, out = exec_in(docker_client, workspace.container_id, "cat ~/work/checkpoint.txt")
        assert (code, out.strip()) == (0, "epoch-7")
    finally:
        run(manager.delete(owner=test_owner, workspace_id=workspace.id, purge=True))


def test_a_purge_never_removes_a_volume_another_container_mounts(manager, minimal_image, docker_client, test_owner):
    workspace = run(manager.launch(owner=test_owner, profile="minimal", name="backed-up"))
    work = specs.work_volume_name(workspace.id)
    backup = docker_client.containers.run(
        minimal_image.tag, ["sleep", "300"], detach=True, labels={"wltest": test_owner},
        mounts=[{"Target": "/backup", "Source": work, "Type": "volume", "ReadOnly": True}],
    )
    try:
        assert run(manager.delete(owner=test_owner, workspace_id=workspace.id, purge=True)) == []
        assert docker_client.volumes.get(work)  # still there for the backup job
    finally:
        backup.remove(force=True)
        docker_client.volumes.get(work).remove()


def _files_in(docker_client, image: str, paths: list[str]) -> dict[str, bytes]:
    """The content of regular files at ``paths`` in ``image`` (missing ones left out)."""
    container = docker_client.containers.create(image, ["true"])
    found = {}
    try:
        for path in paths:
            try:
                stream, _ = container.get_archive(path)
            except Exception:  # gone in the image: nothing to leak
                continue
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
                for member in archive.getmembers():
                    if member.isfile():
                        found[f"{path}:{member.name}"] = archive.extractfile(member).read()
    finally:
        container.remove(force=True)
    return found


def test_a_snapshot_holds_neither_the_token_nor_jupyters_runtime_files(manager, minimal_image, docker_client, test_owner):
    workspace = run(manager.launch(owner=test_owner, profile="minimal", name="secretive"))
    upstream = run(manager.connection(owner=test_owner, workspace_id=workspace.id))
    token = upstream.token.encode()
    reference = None
    try:
        changed = [c["Path"] for c in docker_client.api.diff(workspace.container_id)]
        assert not [p for p in changed if "jpserver-" in p or "cookie_secret" in p], changed
        reference = run(manager.snapshot(owner=test_owner, workspace_id=workspace.id, tag="wltest-secretive"))
        image = docker_client.api.inspect_image(reference)
        assert not any(token.decode() in e for e in image["Config"]["Env"])
        # Every file the committed layer holds, read back from the snapshot: none has the token.
        files = _files_in(docker_client, reference, [p for p in changed if not p.startswith(specs.RUNTIME_DIR)])
        leaking = [name for name, data in files.items() if token in data]
        assert leaking == []
        runtime = _files_in(docker_client, reference, [specs.RUNTIME_DIR, "/home/jovyan/.local/share/jupyter/runtime"])
        assert runtime == {}
    finally:
        run(manager.delete(owner=test_owner, workspace_id=workspace.id, purge=True))
        if reference:
            docker_client.images.remove(reference, force=True)


def test_every_start_revalidates_dataset_mounts(dataset_root, tmp_path, minimal_image, docker_client, test_owner):
    swap = dataset_root / f"swap-{os.getpid()}"
    swap.mkdir()
    (swap / "data.txt").write_text("allowed\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("host secret\n")
    config = make_config(dataset_root, tmp_path)
    config.DatasetCatalog.datasets = {"swap": {"path": str(swap)}}
    manager = WorkspaceManager(config=config)
    workspace = run(manager.launch(owner=test_owner, profile="minimal", datasets=["swap"], name="swapped"))
    try:
        run(manager.stop(owner=test_owner, workspace_id=workspace.id))
        (swap / "data.txt").unlink()
        swap.rmdir()
        swap.symlink_to(outside)
        with pytest.raises(Conflict, match="swap") as info:
            run(manager.start(owner=test_owner, workspace_id=workspace.id))
        assert info.value.field == "datasets" and str(outside) in info.value.message
        assert docker_client.containers.get(workspace.container_id).status == "exited"
        # Put back, the same workspace starts again.
        swap.unlink()
        swap.mkdir()
        assert run(manager.start(owner=test_owner, workspace_id=workspace.id)).status is Status.RUNNING
    finally:
        run(manager.delete(owner=test_owner, workspace_id=workspace.id, purge=True))
        manager.engine.close()
        if swap.is_symlink():
            swap.unlink()
