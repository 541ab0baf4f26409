"""Workspaces on the real engine: launch, security, volumes, lifecycle, bad input."""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import shutil
import subprocess

import docker
import pytest
import requests

from workspace_launcher.engine import spec as specs
from workspace_launcher.engine.objects import Container
from workspace_launcher.errors import Conflict, GpuRuntimeMissing, InvalidRequest, LaunchFailed, NotFound
from workspace_launcher.workspaces.manager import WorkspaceManager
from workspace_launcher.workspaces.model import Status
from workspace_launcher.workspaces.upstream import RouteChooser, is_local_address
from workspace_launcher.workspaces.validation import owner_slug

from .conftest import make_config

FAKE_GPUS = [
    {"index": i, "uuid": f"GPU-fake-{i}", "name": "Fake H100", "memory_mib": 81559, "vendor": "nvidia"}
    for i in range(4)
]


def run(coro):
    return asyncio.run(coro)


def engine_firewall_rules() -> str:
    """The filter table's rules, where the engine opens published ports to forwarded traffic."""
    if os.geteuid() != 0 or shutil.which("iptables") is None:
        pytest.skip("reading the firewall needs root and iptables (the test command runs as root)")
    return subprocess.run(["iptables", "-S"], check=True, capture_output=True, text=True).stdout


def exec_in(docker_client, container_id: str, command: str) -> tuple[int, str]:
    result = docker_client.containers.get(container_id).exec_run(["sh", "-c", command], user="1000")
    return result.exit_code, result.output.decode()


@pytest.fixture(scope="module")
def running(session_config, minimal_image, test_owner, docker_client):
    """One minimal workspace with the demo dataset, shared by the read-only checks below."""
    manager = WorkspaceManager(config=session_config)
    events = []
    workspace = run(
        manager.launch(
            owner=test_owner, profile="minimal", datasets=["demo"], name="shared", on_progress=events.append,
            deterministic=True, seed=7, env={"WLTEST_FLAG": "on"},
        )
    )
    yield manager, workspace, events
    run(manager.delete(owner=test_owner, workspace_id=workspace.id, purge=True))
    manager.engine.close()


def test_launch_reports_phases_and_jupyter_answers_only_with_its_token(running, docker_client):
    manager, workspace, events = running
    assert workspace.status is Status.RUNNING
    statuses = [e.status for e in events if e.log_line is None]
    assert statuses[0] is Status.PENDING and statuses[-1] is Status.RUNNING
    assert Status.STARTING in statuses
    upstream = run(manager.connection(owner=workspace.owner, workspace_id=workspace.id))
    token = upstream.token
    url = str(upstream.url(upstream.base_url + "api/status"))
    assert requests.get(url, headers={"Authorization": f"token {token}"}, timeout=5).status_code == 200
    assert requests.get(url, timeout=5).status_code == 403
    assert requests.get(url, headers={"Authorization": "token wrong"}, timeout=5).status_code == 403


def test_container_security_settings(running, docker_client):
    _, workspace, _ = running
    attrs = docker_client.api.inspect_container(workspace.container_id)
    host = attrs["HostConfig"]
    assert attrs["Config"]["User"] == "1000"
    assert host["CapDrop"] == ["ALL"] and not host["CapAdd"]
    assert host["SecurityOpt"] == ["no-new-privileges:true"]
    assert host["Privileged"] is False
    assert host["NetworkMode"] == specs.NETWORK_NAME
    if is_local_address(Container.from_attrs(attrs).gateway):  # the host is on the network: nothing published
        assert not host["PortBindings"] and not attrs["NetworkSettings"]["Ports"].get("8888/tcp")
    else:  # e.g. a rootless engine: published, on loopback only
        assert all(b["HostIp"] == "127.0.0.1" for b in attrs["NetworkSettings"]["Ports"]["8888/tcp"])
    assert not any("docker.sock" in (m.get("Source") or "") for m in attrs["Mounts"])
    token = Container.from_attrs(attrs).env["JUPYTER_TOKEN"]
    assert len(token) >= 32
    assert not any(token in value for value in attrs["Config"]["Labels"].values())
    image = docker_client.api.inspect_image(attrs["Image"])
    assert not any("JUPYTER_TOKEN" in e for e in image["Config"]["Env"] or [])
    code, out = exec_in(docker_client, workspace.container_id, "id -u; tr '\\0' ' ' </proc/1/cmdline; echo; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status")
    lines = out.split("\n")
    assert code == 0 and lines[0] == "1000"
    assert "tini" in lines[1]
    assert "CapEff:\t0000000000000000" in out and "NoNewPrivs:\t1" in out
    network = docker_client.networks.get(specs.NETWORK_NAME)
    assert network.attrs["Options"]["com.docker.network.bridge.enable_icc"] == "false"


def on_workspace_network(attrs) -> None:
    if not is_local_address(Container.from_attrs(attrs).gateway):
        pytest.skip("this host is not on the workspace network (rootless engine?): it uses published ports")


def test_no_forwarding_rule_opens_a_network_route_workspace(running, docker_client):
    """With nothing published the engine adds no firewall rule: no other machine gets through."""
    _, workspace, _ = running
    attrs = docker_client.api.inspect_container(workspace.container_id)
    on_workspace_network(attrs)
    address = attrs["NetworkSettings"]["Networks"][specs.NETWORK_NAME]["IPAddress"]
    assert f"{address}/32" not in engine_firewall_rules()


def test_each_upstream_route_reaches_the_workspace(running, docker_client):
    """The shared workspace was launched on the network route: the proxy's way in is its address."""
    manager, workspace, _ = running
    attrs = docker_client.api.inspect_container(workspace.container_id)
    on_workspace_network(attrs)
    address = attrs["NetworkSettings"]["Networks"][specs.NETWORK_NAME]["IPAddress"]
    upstream = run(manager.connection(owner=workspace.owner, workspace_id=workspace.id))
    assert (upstream.host, upstream.port) == (address, specs.JUPYTER_PORT)
    url = str(upstream.url(upstream.base_url + "api/status"))
    assert requests.get(url, headers={"Authorization": f"token {upstream.token}"}, timeout=5).status_code == 200
    # A host server set to published ports still reaches it (it has none): by the network.
    chooser = RouteChooser("published-port", logging.getLogger("wltest"))
    assert chooser.upstream(Container.from_attrs(attrs), base_url=upstream.base_url, token=upstream.token) == upstream


def test_the_published_port_route(session_config, minimal_image, test_owner, docker_client):
    """For engines whose network the host cannot reach: Jupyter's port on 127.0.0.1 only."""
    config = copy.deepcopy(session_config)
    config.WorkspaceManager.upstream_route = "published-port"
    manager = WorkspaceManager(config=config)
    workspace = run(manager.launch(owner=test_owner, profile="minimal", name="by-port"))
    try:
        attrs = docker_client.api.inspect_container(workspace.container_id)
        bindings = attrs["NetworkSettings"]["Ports"]["8888/tcp"]
        assert bindings and all(b["HostIp"] == "127.0.0.1" for b in bindings)
        upstream = run(manager.connection(owner=test_owner, workspace_id=workspace.id))
        assert (upstream.host, upstream.port) == ("127.0.0.1", Container.from_attrs(attrs).published_port)
        url = str(upstream.url(upstream.base_url + "api/status"))
        assert requests.get(url, headers={"Authorization": f"token {upstream.token}"}, timeout=5).status_code == 200
        # What the network route avoids: the engine accepts forwarded traffic to a published port
        # (seen in this host's firewall; a rootless engine keeps its rules elsewhere).
        on_workspace_network(attrs)
        address = attrs["NetworkSettings"]["Networks"][specs.NETWORK_NAME]["IPAddress"]
        assert f"-d {address}/32" in engine_firewall_rules()
    finally:
        run(manager.delete(owner=test_owner, workspace_id=workspace.id, purge=True))
        manager.engine.close()


def test_launch_environment_reaches_the_kernel_side(running, docker_client):
    _, workspace, _ = running
    code, out = exec_in(docker_client, workspace.container_id, "env")
    env = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert env["WLTEST_FLAG"] == "on"
    assert env["SEED"] == "7" and env["TF_DETERMINISTIC_OPS"] == "1" and env["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"


def test_demo_notebooks_are_copied_into_a_new_work_volume(running, docker_client):
    _, workspace, _ = running
    code, out = exec_in(docker_client, workspace.container_id, "ls -ln /home/jovyan/work")
    assert code == 0
    assert "object-detection-train.ipynb" in out and "gpu-check.ipynb" in out and "shapes_detector.py" in out
    assert all(line.split()[2] == "1000" for line in out.splitlines()[1:])  # owned by jovyan


def test_datasets_are_read_only(running, docker_client):
    _, workspace, _ = running
    code, out = exec_in(docker_client, workspace.container_id, "cat /datasets/demo/README.txt")
    assert code == 0 and "read-only demo data" in out
    code, out = exec_in(docker_client, workspace.container_id, "touch /datasets/demo/new-file")
    assert code != 0 and "Read-only file system" in out


def test_a_fresh_manager_sees_the_same_workspaces(running, session_config):
    _, workspace, _ = running
    other = WorkspaceManager(config=session_config)
    found = {w.id: w for w in run(other.list(owner=workspace.owner))}
    assert found[workspace.id].status is Status.RUNNING
    assert found[workspace.id].datasets == ["demo"]
    assert run(other.get(owner=workspace.owner, workspace_id=workspace.id)).name == "shared"
    with pytest.raises(Exception, match="no workspace"):
        run(other.get(owner="someone-else", workspace_id=workspace.id))
    other.engine.close()


def test_models_survive_delete_and_relaunch(manager, minimal_image, test_owner, docker_client):
    first = run(manager.launch(owner=test_owner, profile="minimal", name="trainer"))
    code, _ = exec_in(docker_client, first.container_id, "echo weights-v1 > /models/weights.txt && echo notes > ~/work/notes.txt")
    assert code == 0
    run(manager.delete(owner=test_owner, workspace_id=first.id))
    work_volume = specs.work_volume_name(first.id)
    assert docker_client.volumes.get(work_volume)  # kept: deleting never loses work by default
    assert not docker_client.containers.list(all=True, filters={"label": f"{specs.MANAGED_LABEL}={first.id}"})

    second = run(manager.launch(owner=test_owner, profile="minimal", name="trainer"))
    code, out = exec_in(docker_client, second.container_id, "cat /models/weights.txt")
    assert code == 0 and out.strip() == "weights-v1"
    removed = run(manager.delete(owner=test_owner, workspace_id=second.id, purge=True))
    assert specs.work_volume_name(second.id) in removed
    # The first workspace's work volume is not this delete's to remove.
    assert docker_client.volumes.get(work_volume)
    docker_client.volumes.get(work_volume).remove()


def test_stop_start_logs_and_snapshot(manager, minimal_image, test_owner, docker_client):
    workspace = run(manager.launch(owner=test_owner, profile="minimal", name="lifecycle"))
    exec_in(docker_client, workspace.container_id, "echo from-the-environment > /home/jovyan/marker.txt")
    stopped = run(manager.stop(owner=test_owner, workspace_id=workspace.id))
    assert stopped.status is Status.STOPPED
    started = run(manager.start(owner=test_owner, workspace_id=workspace.id))
    assert started.status is Status.RUNNING
    upstream = run(manager.connection(owner=test_owner, workspace_id=workspace.id))
    status_url = str(upstream.url(upstream.base_url + "api/status"))
    assert requests.get(status_url, headers={"Authorization": f"token {upstream.token}"}, timeout=5).ok
    assert "Jupyter Server" in run(manager.logs(owner=test_owner, workspace_id=workspace.id, tail=100))

    reference = run(manager.snapshot(owner=test_owner, workspace_id=workspace.id, tag="wltest-snap"))
    assert reference == f"workspace-launcher/snapshot-{owner_slug(test_owner)}:wltest-snap"
    image = docker_client.api.inspect_image(reference)
    labels = image["Config"]["Labels"]
    assert labels["workspace-launcher.role"] == "snapshot"
    assert labels["workspace-launcher.snapshot-of"] == workspace.id
    assert labels["workspace-launcher.owner"] == test_owner
    assert labels[specs.MANAGED_LABEL] == ""
    assert f"JUPYTER_TOKEN={upstream.token}" not in image["Config"]["Env"]

    restored = run(manager.launch(owner=test_owner, profile="minimal", snapshot=reference, name="restored"))
    code, out = exec_in(docker_client, restored.container_id, "cat /home/jovyan/marker.txt")
    assert code == 0 and out.strip() == "from-the-environment"
    assert restored.id != workspace.id
    listed = run(manager.snapshots(owner=test_owner))
    assert [(s.tag, s.workspace_id, s.workspace_name, s.profile) for s in listed] == [
        ("wltest-snap", workspace.id, "lifecycle", "minimal")]
    assert run(manager.snapshots(owner=test_owner + "-other")) == []
    # The restored workspace's container runs on the snapshot: deleting it is refused, nothing lost.
    with pytest.raises(Conflict, match="is the image of your workspace restored"):
        run(manager.delete_snapshot(owner=test_owner, tag="wltest-snap"))
    for w in (workspace, restored):
        run(manager.delete(owner=test_owner, workspace_id=w.id, purge=True))
    assert run(manager.delete_snapshot(owner=test_owner, tag="wltest-snap")) == reference
    assert run(manager.snapshots(owner=test_owner)) == []
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(reference)
    with pytest.raises(NotFound):
        run(manager.delete_snapshot(owner=test_owner, tag="wltest-snap"))


def _leftovers(docker_client, owner: str) -> tuple[list, list]:
    """Containers and volumes of the owner, but the model volume: it is the owner's (a launch
    may make it, and only 'models rm' removes it)."""
    owner_filter = {"label": [f"{specs.label('owner')}={owner}"]}
    volumes = [v for v in docker_client.volumes.list(filters=owner_filter)
               if (v.attrs.get("Labels") or {}).get(specs.label("role")) != "models"]
    return docker_client.containers.list(all=True, filters=owner_filter), volumes


@pytest.mark.parametrize(
    "request_fields,field",
    [
        ({"profile": "no-such-profile"}, "profile"),
        ({"profile": "minimal", "datasets": ["outside"]}, "datasets"),
        ({"profile": "minimal", "datasets": ["../etc"]}, "datasets"),
        ({"profile": "minimal", "name": "../escape"}, "name"),
        ({"profile": "minimal", "gpus": -1}, "gpus"),
        ({"profile": "minimal", "gpus": 5}, "gpus"),
        ({"profile": "minimal", "memory": "lots"}, "memory"),
    ],
)
def test_bad_input_is_refused_and_leaves_nothing(request_fields, field, dataset_root, tmp_path, docker_client, minimal_image, test_owner):
    config = make_config(dataset_root, tmp_path, declared_gpus=FAKE_GPUS)
    outside = tmp_path / "outside"
    outside.mkdir()
    datasets = dict(config.DatasetCatalog.datasets)
    datasets["outside"] = {"path": str(outside)}
    config.DatasetCatalog.datasets = datasets
    owner = f"{test_owner}-bad-input"
    manager = WorkspaceManager(config=config)
    with pytest.raises(InvalidRequest) as info:
        run(manager.launch(owner=owner, **request_fields))
    assert info.value.field == field
    assert info.value.message
    assert _leftovers(docker_client, owner) == ([], [])
    assert run(manager.list(owner=owner)) == []


def test_gpus_on_a_host_without_nvidia_runtime_fail_clearly_and_leave_nothing(without_nvidia_runtime, dataset_root, tmp_path, docker_client, minimal_image, test_owner):
    manager = WorkspaceManager(config=make_config(dataset_root, tmp_path, declared_gpus=FAKE_GPUS))
    owner = f"{test_owner}-no-runtime"
    with pytest.raises(GpuRuntimeMissing, match="workspace-launcher doctor"):
        run(manager.launch(owner=owner, profile="minimal", gpus=1))
    assert _leftovers(docker_client, owner) == ([], [])
    held = specs.gpus_held(run(manager.backend.list_workspaces()))
    assert not any(uuid.startswith("GPU-fake") for uuid in held)
    assert run(manager.list(owner=owner)) == []  # refused before anything was registered


def test_the_engine_refusing_a_gpu_device_is_reported_the_same_way(without_nvidia_runtime, dataset_root, tmp_path, docker_client, minimal_image, test_owner):
    """Where the runtime check passes but the engine still cannot serve the device request."""
    manager = WorkspaceManager(config=make_config(dataset_root, tmp_path, declared_gpus=FAKE_GPUS))
    owner = f"{test_owner}-no-driver"
    request = manager.validate_launch(owner=owner, profile="minimal", gpus=1)
    with pytest.raises(GpuRuntimeMissing, match="workspace-launcher doctor"):
        run(manager.launches.run(request))  # skips the pre-check: the engine itself refuses
    assert _leftovers(docker_client, owner) == ([], [])
    failed = run(manager.list(owner=owner))
    assert [w.status for w in failed] == [Status.FAILED]
    assert "NVIDIA container runtime" in failed[0].error


def test_a_gpu_launch_on_this_hosts_runtime(nvidia_runtime, session_config, minimal_image, docker_client, test_owner):
    """Where the engine has an NVIDIA runtime (and real GPUs, found by NVML): a one-GPU launch
    starts and its container is handed exactly the GPU it was allocated."""
    if not nvidia_runtime:
        pytest.skip("no NVIDIA runtime on this host: the no-runtime tests above cover it")
    manager = WorkspaceManager(config=session_config)
    workspace = run(manager.launch(owner=test_owner, profile="minimal", gpus=1))
    try:
        assert workspace.status is Status.RUNNING and len(workspace.gpus) == 1
        attrs = docker_client.api.inspect_container(workspace.container_id)
        (device_request,) = attrs["HostConfig"]["DeviceRequests"]
        assert device_request["DeviceIDs"] == workspace.gpus
        code, out = exec_in(docker_client, workspace.container_id, "echo $NVIDIA_VISIBLE_DEVICES")
        assert (code, out.strip()) == (0, workspace.gpus[0])
    finally:
        run(manager.delete(owner=test_owner, workspace_id=workspace.id, purge=True))
        manager.engine.close()


def test_two_gpu_request_creates_a_device_request_for_exactly_those_uuids(dataset_root, tmp_path, docker_client, minimal_image, test_owner):
    """Create, not start: this host has no GPU runtime, the engine still records the request."""
    manager = WorkspaceManager(config=make_config(dataset_root, tmp_path, declared_gpus=FAKE_GPUS))
    busy = manager.validate_launch(owner=test_owner, profile="minimal", gpus=["GPU-fake-0"])
    request = manager.validate_launch(owner=test_owner, profile="minimal", gpus=2)

    async def create(req):
        await manager.backend.ensure_network()
        async with manager.allocator.reservation_lock():
            gpus = await manager.launches.reserve_gpus(req)
            await manager.volumes.ensure_for(req)
            spec = manager.launches.spec(req, minimal_image.tag, gpus, publish_port=False)
            return await manager.backend.create(spec)

    first = run(create(busy))  # created: holds GPU-fake-0 until removed
    second = run(create(request))
    attrs = docker_client.api.inspect_container(second)
    (device_request,) = attrs["HostConfig"]["DeviceRequests"]
    assert device_request["Driver"] == "nvidia"
    assert device_request["DeviceIDs"] == ["GPU-fake-1", "GPU-fake-2"]
    assert attrs["Config"]["Labels"]["workspace-launcher.gpus"] == "GPU-fake-1,GPU-fake-2"
    held = specs.gpus_held(run(manager.backend.list_workspaces(owner=test_owner)))
    assert held == {"GPU-fake-0": [busy.workspace_id], "GPU-fake-1": [request.workspace_id], "GPU-fake-2": [request.workspace_id]}
    for container_id in (first, second):
        docker_client.api.remove_container(container_id, force=True)
    for req in (busy, request):
        docker_client.volumes.get(specs.work_volume_name(req.workspace_id)).remove()


def test_a_launch_that_times_out_reports_the_log_tail_and_cleans_up(
    dataset_root, tmp_path, docker_client, never_answering_profile, test_owner
):
    config = make_config(dataset_root, tmp_path)
    config.WorkspaceManager.launch_timeout = 3.0
    config.ProfileRegistry.extra_profiles = dict([never_answering_profile])
    manager = WorkspaceManager(config=config)
    owner = f"{test_owner}-timeout"
    events = []
    with pytest.raises(LaunchFailed, match="did not answer within 3 s") as info:
        run(manager.launch(owner=owner, profile=never_answering_profile[0], on_progress=events.append))
    assert events[-1].status is Status.FAILED
    assert "wltest: this Jupyter never answers" in info.value.log_tail
    assert _leftovers(docker_client, owner) == ([], [])
