"""The pure container-spec builder (``engine/spec.py``): security, resources, mounts, GPUs, labels,
the workspace network."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest

from tests.unit.fakes import NOW, workspace_container
from workspace_launcher.engine import spec as specs
from workspace_launcher.engine.objects import Container
from workspace_launcher.gpus.model import Gpu

NVIDIA = (
    Gpu(index=0, uuid="GPU-aaaa", name="H100", memory_mib=81559, vendor="nvidia"),
    Gpu(index=2, uuid="GPU-cccc", name="H100", memory_mib=81559, vendor="nvidia"),
)
AMD = (Gpu(index=0, uuid="amd-renderD128", name="MI300X", memory_mib=0, vendor="amd", device_paths=("/dev/dri/renderD128",)),)


def make_spec(**overrides) -> specs.WorkspaceSpec:
    values = dict(
        workspace_id="0123456789ab",
        owner="alice",
        name="exp-1",
        profile="minimal",
        image="workspace-launcher/minimal:abcdef012345",
        token="s3cret-token",
        base_url="/user/alice/workspace-launcher/workspaces/0123456789ab/",
        model_volume="workspace-launcher-models-alice",
        work_volume="workspace-launcher-work-0123456789ab",
        created="2026-11-23T00:00:00+00:00",
        datasets=(specs.DatasetMount("coco", "/srv/data/coco"), specs.DatasetMount("imgs", "imgs-vol", "volume")),
        limits=specs.Limits(cpus=2.5, memory=8 * 1024**3, shm_size=1024**3, pids=4096),
        version="0.1.0",
    )
    values.update(overrides)
    return specs.WorkspaceSpec(**values)


def test_security_settings():
    kwargs = specs.container_spec(make_spec())
    assert kwargs["user"] == "1000"
    assert kwargs["cap_drop"] == ["ALL"]
    assert "cap_add" not in kwargs
    assert kwargs["security_opt"] == ["no-new-privileges:true"]
    assert kwargs["privileged"] is False
    assert kwargs["network"] == specs.NETWORK_NAME
    assert "network_mode" not in kwargs  # never the host network
    # Published on loopback only, on an engine-chosen port; or, on the network route, not at all.
    assert kwargs["ports"] == {"8888/tcp": ("127.0.0.1", None)}
    assert "ports" not in specs.container_spec(dataclasses.replace(make_spec(), publish_port=False))
    sources = [m["Source"] for m in kwargs["mounts"]]
    assert not any("docker.sock" in s for s in sources)


def test_token_only_in_environment_never_in_labels():
    kwargs = specs.container_spec(make_spec())
    assert kwargs["environment"]["JUPYTER_TOKEN"] == "s3cret-token"
    assert not any("s3cret-token" in v for v in kwargs["labels"].values())
    assert not any("s3cret-token" in arg for arg in kwargs["command"])


def test_jupyter_served_under_the_proxy_prefix():
    kwargs = specs.container_spec(make_spec())
    assert "--ServerApp.base_url=/user/alice/workspace-launcher/workspaces/0123456789ab/" in kwargs["command"]


def test_mounts_datasets_read_only_models_and_work_read_write():
    mounts = {m["Target"]: m for m in specs.container_spec(make_spec())["mounts"]}
    assert mounts["/datasets/coco"]["ReadOnly"] is True
    assert mounts["/datasets/coco"]["Type"] == "bind"
    assert mounts["/datasets/coco"]["Source"] == "/srv/data/coco"
    assert mounts["/datasets/imgs"]["ReadOnly"] is True
    assert mounts["/datasets/imgs"]["Type"] == "volume"
    assert mounts["/models"]["ReadOnly"] is False
    assert mounts["/models"]["Source"] == "workspace-launcher-models-alice"
    assert mounts["/home/jovyan/work"]["Source"] == "workspace-launcher-work-0123456789ab"
    assert mounts["/home/jovyan/work"]["ReadOnly"] is False


def test_limits():
    kwargs = specs.container_spec(make_spec())
    assert kwargs["nano_cpus"] == 2_500_000_000
    assert kwargs["mem_limit"] == 8 * 1024**3
    assert kwargs["shm_size"] == 1024**3
    assert kwargs["pids_limit"] == 4096
    unlimited = specs.container_spec(make_spec(limits=specs.Limits(cpus=None, memory=None, shm_size=64 * 1024**2, pids=None)))
    assert "nano_cpus" not in unlimited and "mem_limit" not in unlimited and "pids_limit" not in unlimited


def test_no_gpus_no_device_options():
    kwargs = specs.container_spec(make_spec())
    assert "device_requests" not in kwargs and "devices" not in kwargs
    assert kwargs["labels"]["workspace-launcher.gpus"] == ""


def test_nvidia_gpus_become_a_device_request_naming_exactly_their_uuids():
    kwargs = specs.container_spec(make_spec(gpus=NVIDIA))
    (request,) = kwargs["device_requests"]
    assert request["Driver"] == "nvidia"
    assert request["DeviceIDs"] == ["GPU-aaaa", "GPU-cccc"]
    assert request["Capabilities"] == [["gpu"]]
    assert "Count" not in request or request["Count"] in (0, None)
    assert kwargs["labels"]["workspace-launcher.gpus"] == "GPU-aaaa,GPU-cccc"
    assert kwargs["labels"]["workspace-launcher.gpu-vendor"] == "nvidia"


def test_amd_gpus_become_kfd_and_render_nodes_with_groups():
    kwargs = specs.container_spec(make_spec(gpus=AMD, gpu_group_ids=(109, 44)))
    assert "/dev/kfd:/dev/kfd:rwm" in kwargs["devices"]
    assert "/dev/dri/renderD128:/dev/dri/renderD128:rwm" in kwargs["devices"]
    assert kwargs["group_add"] == ["109", "44"]
    assert "device_requests" not in kwargs


def test_labels_carry_the_workspace_state():
    labels = specs.container_spec(make_spec())["labels"]
    assert labels[specs.MANAGED_LABEL] == "0123456789ab"
    assert labels["workspace-launcher.owner"] == "alice"
    assert labels["workspace-launcher.profile"] == "minimal"
    assert labels["workspace-launcher.datasets"] == "coco,imgs"
    assert labels["workspace-launcher.model-volume"] == "workspace-launcher-models-alice"
    assert labels["workspace-launcher.work-volume"] == "workspace-launcher-work-0123456789ab"


def test_network_disables_inter_container_traffic():
    assert specs.network_spec()["options"]["com.docker.network.bridge.enable_icc"] == "false"


def test_the_workspace_network_has_a_fixed_bridge_name_and_is_not_internal_by_default():
    spec = specs.network_spec()
    assert spec["options"]["com.docker.network.bridge.name"] == "wl-workspaces"
    assert spec["options"]["com.docker.network.bridge.enable_icc"] == "false"
    assert spec["internal"] is False
    assert specs.network_spec(internal=True, bridge_name="wl-other")["internal"] is True


def test_a_network_spec_without_a_bridge_name_lets_docker_name_it():
    assert "com.docker.network.bridge.name" not in specs.network_spec(bridge_name=None)["options"]


def test_snapshot_config_overwrites_the_token_and_blanks_workspace_labels():
    container_labels = specs.container_spec(make_spec())["labels"]
    env = ["JUPYTER_TOKEN=s3cret-token", "PATH=/opt/venv/bin:/usr/bin", "WORKSPACE_ID=0123456789ab"]
    container = Container.from_attrs({"Id": "c" * 64, "Config": {"Env": env, "Labels": container_labels}})
    labels = specs.snapshot_labels(container.labels, created="now")
    conf = specs.snapshot_config(container, labels, token_placeholder="fresh")
    assert "JUPYTER_TOKEN=fresh" in conf["Env"]
    assert not any("s3cret-token" in e for e in conf["Env"])
    assert "PATH=/opt/venv/bin:/usr/bin" in conf["Env"]
    assert conf["Labels"][specs.MANAGED_LABEL] == ""
    assert conf["Labels"]["workspace-launcher.gpus"] == ""
    assert conf["Labels"]["workspace-launcher.snapshot-of"] == "0123456789ab"
    assert conf["Labels"]["workspace-launcher.owner"] == "alice"
    assert conf["Labels"]["workspace-launcher.role"] == "snapshot"


def test_gpus_held_counts_running_starting_and_paused_but_not_stopped():
    containers = [
        workspace_container("a" * 12, "running", "GPU-1,GPU-2"),
        workspace_container("b" * 12, "created", "GPU-3"),
        workspace_container("c" * 12, "exited", "GPU-4"),
        workspace_container("d" * 12, "running", ""),
        workspace_container("e" * 12, "paused", "GPU-5"),
        workspace_container("", "running", "GPU-9"),  # a hand-run snapshot: not a workspace
    ]
    held = specs.gpus_held(containers, now=NOW)
    assert held == {"GPU-1": ["a" * 12], "GPU-2": ["a" * 12], "GPU-3": ["b" * 12], "GPU-5": ["e" * 12]}
    assert "GPU-3" not in specs.gpus_held(containers, exclude="b" * 12, now=NOW)


def test_a_created_container_past_its_launch_deadline_is_abandoned_and_frees_its_gpus():
    abandoned = workspace_container("b" * 12, "created", "GPU-3", deadline=NOW - 1)
    assert specs.launch_abandoned(abandoned, now=NOW)
    assert specs.gpus_held([abandoned], now=NOW) == {}
    # Before the deadline it is a launch in progress, holding its GPUs.
    fresh = workspace_container("b" * 12, "created", "GPU-3", deadline=NOW + 1)
    assert specs.gpus_held([fresh], now=NOW) == {"GPU-3": ["b" * 12]}
    # A running container is never abandoned, whatever its deadline.
    assert not specs.launch_abandoned(workspace_container("b" * 12, "running", "", deadline=NOW - 1), now=NOW)


def test_without_a_deadline_label_the_creation_time_plus_a_grace_counts():
    container = workspace_container("b" * 12, "created", "GPU-3", deadline=None)
    created = datetime(2027, 1, 15, 8, 0, 0, tzinfo=timezone.utc).timestamp()
    assert not specs.launch_abandoned(container, now=created + specs.DEFAULT_LAUNCH_GRACE - 1)
    assert specs.launch_abandoned(container, now=created + specs.DEFAULT_LAUNCH_GRACE + 1)


def test_jupyter_runtime_files_live_on_a_tmpfs():
    kwargs = specs.container_spec(make_spec())
    assert kwargs["environment"]["JUPYTER_RUNTIME_DIR"] == specs.RUNTIME_DIR
    assert specs.RUNTIME_DIR in kwargs["tmpfs"] and "uid=1000" in kwargs["tmpfs"][specs.RUNTIME_DIR]


@pytest.mark.parametrize(
    "name,expected",
    [("workspace_id", "workspace-launcher-0123456789ab")],
)
def test_container_name(name, expected):
    assert specs.container_name("0123456789ab") == expected
