"""The framework profiles on the real engine.

CI builds the ``pytorch`` profiles from the machine's wheelhouse (``/opt/wheels`` holds
torch-2.13.0+cpu; ``WORKSPACE_LAUNCHER_TEST_WHEELHOUSE`` overrides it), with the second
profile's unreachable extra index blanked through ``ImageBuilder.build_args``; on a GPU host
without a wheelhouse the same Dockerfiles install PyPI's CUDA build, which is checked here by
resolving (not downloading) the profile's requirements against PyPI. ``tensorflow`` is not
built in CI: its context is rendered and its Dockerfile parsed, and its pins are resolved.

The built images are the launcher's cache (content-addressed) and are kept, like ``minimal``.
"""

from __future__ import annotations

import asyncio
import glob
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workspace_launcher.api.views import profiles_view
from workspace_launcher.catalog.profiles import PACKAGED_IMAGES_DIR, ProfileRegistry
from workspace_launcher.workspaces.manager import WorkspaceManager
from workspace_launcher.workspaces.model import Status

from .conftest import make_config

pytestmark = pytest.mark.integration

WHEELHOUSE = os.environ.get("WORKSPACE_LAUNCHER_TEST_WHEELHOUSE", "/opt/wheels")
CA_BUNDLE = os.environ.get("WORKSPACE_LAUNCHER_TEST_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
#: CI cannot reach download.pytorch.org: the second profile takes the wheelhouse's torch too.
CI_BUILD_ARGS = {"pytorch-cu126": {"EXTRA_INDEX_URL": "", "TORCH_VERSION": "2.13.0"}}
PROBE = ("import json, torch, numpy, PIL, matplotlib; print(json.dumps({'torch': torch.__version__, "
         "'cuda': torch.version.cuda, 'numpy': numpy.__version__, 'pillow': PIL.__version__, "
         "'matplotlib': matplotlib.__version__}))")


def run(coro):
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def profiles_config(dataset_root, tmp_path_factory):
    if not glob.glob(os.path.join(WHEELHOUSE, "torch-2.13.0+cpu-*.whl")):
        pytest.fail(f"no torch-2.13.0+cpu wheel in {WHEELHOUSE}: the pytorch profiles are built from it in CI "
                    "(set WORKSPACE_LAUNCHER_TEST_WHEELHOUSE to a directory that has it)")
    config = make_config(dataset_root, tmp_path_factory.mktemp("profiles"))
    config.ImageBuilder.wheelhouse = WHEELHOUSE
    config.ImageBuilder.build_args = CI_BUILD_ARGS
    config.ImageBuilder.lock_file = str(tmp_path_factory.mktemp("lockfile") / "workspace_launcher.lock.json")
    config.WorkspaceManager.launch_timeout = 180.0
    return config


@pytest.fixture(scope="module")
def built(profiles_config, docker_client):
    """Both PyTorch images, built once (cold: a few minutes) and reused; build times printed."""
    manager = WorkspaceManager(config=profiles_config)
    images, seconds = {}, {}
    try:
        for name in ("pytorch", "pytorch-cu126"):
            started = time.monotonic()
            images[name] = run(manager.builder.ensure(manager.profiles.get(name)))
            seconds[name] = time.monotonic() - started
    finally:
        manager.engine.close()
    for name, image in images.items():
        size = docker_client.api.inspect_image(image.tag)["Size"]
        print(f"\n{name}: {image.tag} {'built' if image.built else 'reused'} in {seconds[name]:.1f}s, "
              f"{size / 1e9:.2f} GB")
    return images


def test_pytorch_builds_from_the_wheelhouse_and_imports_the_demo_stack(built, docker_client):
    image = built["pytorch"]
    out = docker_client.containers.run(image.tag, ["python", "-c", PROBE], remove=True).decode()
    versions = json.loads(out.strip().splitlines()[-1])
    assert versions == {"torch": "2.13.0+cpu", "cuda": None, "numpy": "2.4.6", "pillow": "13.0.0",
                        "matplotlib": "3.11.2"}
    # the wheelhouse stayed in the build stage; the layer's packages were not changed
    check = ("test ! -e /tmp/wheels && test -z \"$(find / -xdev -name 'torch-*.whl' 2>/dev/null | head -1)\" && "
             "pip check >/dev/null && python -c 'import jupyterlab, jupyter_server' && ls /opt/venv/lib/python3.11/site-packages "
             "| grep -c '^setuptools-.*dist-info$'")
    out = docker_client.containers.run(image.tag, ["sh", "-c", check], remove=True).decode()
    assert out.strip() == "1"  # the Jupyter layer's old setuptools was removed, not shadowed
    labels = docker_client.api.inspect_image(image.tag)["Config"]["Labels"]
    assert labels["workspace-launcher.profile"] == "pytorch"
    assert labels["workspace-launcher.base-id"].startswith("sha256:")


def test_the_two_pytorch_profiles_are_distinct_images_running_side_by_side(built, profiles_config, test_owner,
                                                                           docker_client):
    a, b = built["pytorch"], built["pytorch-cu126"]
    assert a.tag != b.tag and a.image_id != b.image_id and a.tag.split(":")[0] != b.tag.split(":")[0]
    manager = WorkspaceManager(config=profiles_config)
    workspaces = []
    try:
        for profile in ("pytorch", "pytorch-cu126"):
            workspaces.append(run(manager.launch(owner=test_owner, profile=profile, name=f"side-{profile}")))
        listed = {w.id: w for w in run(manager.list(owner=test_owner))}
        for workspace, image in zip(workspaces, (a, b)):
            assert listed[workspace.id].status is Status.RUNNING
            attrs = docker_client.api.inspect_container(workspace.container_id)
            assert attrs["Image"] == image.image_id and attrs["State"]["Running"]
            result = docker_client.containers.get(workspace.container_id).exec_run(["python", "-c", PROBE], user="1000")
            assert result.exit_code == 0, result.output.decode()
            stack = json.loads(result.output.decode().strip().splitlines()[-1])
            # with the CI wheelhouse both are torch 2.13.0+cpu; on a GPU host 13.0 and 12.6
            assert stack["torch"].startswith("2.13.0") and stack["cuda"] is None
        described = {p["name"]: p for p in run(profiles_view(manager))}
        assert described["pytorch"]["image"] == a.tag and described["pytorch-cu126"]["image"] == b.tag
        assert described["pytorch"]["cuda_version"] == "13.0" and described["pytorch-cu126"]["cuda_version"] == "12.6"
    finally:
        for workspace in workspaces:
            run(manager.delete(owner=test_owner, workspace_id=workspace.id, purge=True))
        manager.engine.close()


@pytest.mark.parametrize("name", ["tensorflow", "pytorch-cu126"])
def test_unbuilt_profiles_render_a_valid_context(name, profiles_config, tmp_path, docker_client):
    from workspace_launcher.engine.docker import DockerEngine
    from workspace_launcher.images.builder import ImageBuilder

    manager_profiles = ProfileRegistry(config=profiles_config).all()
    profile = manager_profiles[name]
    engine = DockerEngine()
    try:
        builder = ImageBuilder(engine=engine, config=profiles_config)
        dest = tmp_path / "ctx"
        builder.render_context(profile, dest)
        plan = run(builder._make_plan(profile))
    finally:
        engine.close()
    text = (dest / "Dockerfile").read_text()
    froms = [line.split() for line in text.splitlines() if line.startswith("FROM ")]
    assert froms == [["FROM", "${JUPYTER_IMAGE}", "AS", "build"], ["FROM", "${JUPYTER_IMAGE}"]]
    args = {line.split()[1].split("=")[0] for line in text.splitlines() if line.startswith("ARG ")}
    assert "JUPYTER_IMAGE" in args and "EXTRA_INDEX_URL" in args
    assert set(plan.profile_args) <= args  # every build arg the builder passes is declared
    assert (dest / "wheels").is_dir() and (dest / "requirements.txt").is_file()
    assert plan.profile_tag.startswith(f"workspace-launcher/{name}:")


def resolve(requirements: list[str], *constraints: Path, find_links: str | None = None) -> dict[str, str]:
    """What pip would install for CPython 3.11.2 on linux x86_64 (Debian bookworm): {name: version}.

    Resolves against the package index without downloading wheels and without this machine's
    pip configuration (its wheelhouse), unless ``find_links`` is given.
    """
    platforms = [f"manylinux_2_{v}_x86_64" for v in range(36, 16, -1)] + ["manylinux2014_x86_64", "linux_x86_64"]
    cmd = [sys.executable, "-m", "pip", "install", "--isolated", "--dry-run", "--ignore-installed", "--quiet",
           "--python-version", "3.11.2", "--implementation", "cp", "--abi", "cp311", "--only-binary=:all:",
           "--report", "-"]
    for platform in platforms:
        cmd += ["--platform", platform]
    if os.path.isfile(CA_BUNDLE):
        cmd += ["--cert", CA_BUNDLE]
    if find_links:
        cmd += ["--find-links", find_links]
    for path in constraints:
        cmd += ["-c", str(path)]
    cmd += requirements
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    done = subprocess.run(cmd, capture_output=True, text=True, env={**env, "PIP_CONFIG_FILE": os.devnull},
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    return {item["metadata"]["name"].lower().replace("_", "-"): item["metadata"]["version"] for item in report["install"]}


def test_pytorch_without_wheelhouse_resolves_pypis_cuda_build():
    """What a GPU host without a wheelhouse installs: PyPI's torch 2.13.0 with the CUDA 13 wheels."""
    ctx, layer = PACKAGED_IMAGES_DIR / "pytorch", PACKAGED_IMAGES_DIR / "jupyter"
    got = resolve(["-r", str(ctx / "requirements.txt"), "-r", str(layer / "requirements.txt"), "torch==2.13.0"],
                  ctx / "constraints.txt", layer / "constraints.txt")
    assert got["torch"] == "2.13.0"  # not a local +cpu build
    assert got["nvidia-cudnn-cu13"] and got["cuda-toolkit"].startswith("13.0")
    pins = {line.split("==")[0].lower().replace("_", "-"): line.split("==")[1]
            for line in (ctx / "constraints.txt").read_text().splitlines() if "==" in line and not line.startswith("#")}
    assert {name: got.get(name) for name in pins} == pins  # the lock is complete and consistent
    with_wheels = resolve(["torch==2.13.0"], ctx / "constraints.txt", layer / "constraints.txt", find_links=WHEELHOUSE)
    assert with_wheels["torch"] == "2.13.0+cpu" and not any(n.startswith("nvidia-") for n in with_wheels)


def test_tensorflow_pins_resolve_to_its_cuda_12_5_stack():
    ctx, layer = PACKAGED_IMAGES_DIR / "tensorflow", PACKAGED_IMAGES_DIR / "jupyter"
    got = resolve(["-r", str(ctx / "requirements.txt"), "-r", str(layer / "requirements.txt")],
                  ctx / "constraints.txt", layer / "constraints.txt")
    assert got["tensorflow"] == "2.21.0"
    assert got["nvidia-cuda-runtime-cu12"].startswith("12.5.") and got["nvidia-cudnn-cu12"].startswith("9.3.")
