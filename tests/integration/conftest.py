"""Fixtures for integration tests against the real Docker engine that scripts/test.sh starts.

Every object a test makes is owned by a per-run test owner (``wltest-...``) or named with the
``wltest`` prefix, and removed at the end. The shared Jupyter layer and the ``minimal`` image
are kept between runs on purpose: they are the launcher's own cache.
"""

from __future__ import annotations

import asyncio
import io
import os
import secrets

import docker
import docker.errors
import pytest
from traitlets.config import Config

from tests.leftovers import check_and_sweep

pytestmark = pytest.mark.integration

CA_BUNDLE = os.environ.get("WORKSPACE_LAUNCHER_TEST_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def docker_client():
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as e:  # the suite's set-up must have started it: fail, never skip
        pytest.fail(f"no Docker engine answers ({e}); run the suite with scripts/test.sh")
    yield client
    client.close()


@pytest.fixture(scope="session")
def test_owner(docker_client):
    """A unique owner per run (tests may use ``<owner>-<suffix>`` owners too): at the end, the
    run fails if anything of theirs is left, and all of it is removed."""
    owner = f"wltest-{secrets.token_hex(3)}"
    yield owner
    found = check_and_sweep(docker_client, owner)
    assert not found, f"the tests left these behind (now removed): {found}"


@pytest.fixture(scope="session")
def dataset_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("datasets")
    demo = root / "demo"
    demo.mkdir()
    (demo / "README.txt").write_text("read-only demo data\n")
    os.chmod(root, 0o755)
    return root


def make_config(dataset_root, lock_dir, **gpu_settings) -> Config:
    config = Config()
    if os.path.isfile(CA_BUNDLE):
        config.ImageBuilder.extra_ca_bundle = CA_BUNDLE
    config.DatasetCatalog.allowed_roots = [str(dataset_root)]
    config.DatasetCatalog.datasets = {
        "demo": {"path": str(dataset_root / "demo"), "description": "demo data"},
    }
    config.GpuAllocator.lock_path = str(lock_dir / "gpus.lock")
    config.DatasetCatalog.registry_file = str(lock_dir / "datasets.json")
    config.ImageBuilder.lock_file = str(lock_dir / "images.lock.json")
    config.ImageBuilder.build_history_file = str(lock_dir / "builds.json")
    config.DatasetCatalog.managed_root = str(lock_dir / "managed-datasets")
    config.WorkspaceManager.launch_timeout = 90.0
    config.WorkspaceManager.allowed_env = ["WLTEST_*"]
    for key, value in gpu_settings.items():
        setattr(config.GpuInventory if key == "declared_gpus" else config.GpuAllocator, key, value)
    return config


def labelled_snapshot(docker_client, base: str, reference: str, owner: str, **labels: str) -> None:
    """An image labelled as a snapshot of ``owner``'s, as a commit leaves one (made by a build:
    no workspace needed)."""
    values = {"role": "snapshot", "owner": owner, "snapshot-of": "0123456789ab", "snapshot-name": "exp-1",
              "profile": "minimal", "created": "2026-12-03T06:00:00+00:00", **labels}
    label_line = " ".join(f'workspace-launcher.{k}="{v}"' for k, v in values.items())
    docker_client.images.build(fileobj=io.BytesIO(f"FROM {base}\nLABEL {label_line}\n".encode()), tag=reference, rm=True)


def remove_images(docker_client, *references: str) -> None:
    """Remove these images if they exist (a test's clean-up)."""
    for reference in references:
        try:
            docker_client.images.remove(reference, force=True)
        except docker.errors.ImageNotFound:
            pass


@pytest.fixture(scope="session")
def session_config(dataset_root, tmp_path_factory):
    return make_config(dataset_root, tmp_path_factory.mktemp("lock"))


@pytest.fixture
def manager(session_config, docker_client):
    from workspace_launcher.workspaces.manager import WorkspaceManager

    manager = WorkspaceManager(config=session_config)
    yield manager
    manager.engine.close()


@pytest.fixture(scope="session")
def minimal_image(session_config, docker_client):
    """The minimal profile's image, built once (minutes on a cold cache) and reused."""
    from workspace_launcher.workspaces.manager import WorkspaceManager

    manager = WorkspaceManager(config=session_config)
    built = asyncio.run(manager.builder.ensure(manager.profiles.get("minimal")))
    manager.engine.close()
    return built


@pytest.fixture(scope="session")
def never_answering_profile(tmp_path_factory, minimal_image, docker_client):
    """(name, extra_profiles entry) of a profile whose container logs a line and never serves:
    for launch timeouts that must report a log tail, on any machine speed."""
    context = tmp_path_factory.mktemp("never-answering")
    (context / "Dockerfile").write_text(
        "ARG JUPYTER_IMAGE\nFROM ${JUPYTER_IMAGE}\n"
        'ENTRYPOINT ["sh", "-c", "echo wltest: this Jupyter never answers; exec sleep 600"]\n'
    )
    name = "wltest-never-answers"
    yield name, {"display_name": "Never answers", "description": "for timeout tests", "context_dir": str(context)}
    for image in docker_client.images.list(filters={"label": f"workspace-launcher.profile={name}"}):
        docker_client.images.remove(image.id, force=True)


@pytest.fixture(scope="session")
def nvidia_runtime(docker_client) -> bool:
    """Whether the suite's engine can hand NVIDIA GPUs to containers (decided as the product does)."""
    from workspace_launcher.engine.docker import DockerBackend, DockerEngine

    engine = DockerEngine()
    try:
        return asyncio.run(DockerBackend(engine).has_nvidia_runtime())
    finally:
        engine.close()


@pytest.fixture
def without_nvidia_runtime(nvidia_runtime) -> None:
    """For tests of what a GPU-less host says: where there is a runtime, the GPU launch test
    (test_workspaces.py::test_a_gpu_launch_on_this_hosts_runtime) runs instead."""
    if nvidia_runtime:
        pytest.skip("this host has an NVIDIA runtime; the GPU launch test covers it instead")


# The second engine and its host servers (engine2.py, host_servers.py): session fixtures of the
# concurrency and fault tests, registered here so that both modules share one engine and one
# pair of servers (a fixture imported into each test module would be set up once per module).
from .engine2 import engine2  # noqa: E402,F401
from .host_servers import e2_client, e2_hosts  # noqa: E402,F401
