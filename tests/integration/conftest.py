"""Fixtures for integration tests against the real Docker engine that scripts/test.sh starts.

Every object a test makes is owned by a per-run test owner (``wltest-...``) or named with the
``wltest`` prefix, and removed at the end. The shared Jupyter layer and the ``minimal`` image
are kept between runs on purpose: they are the launcher's own cache.
"""

from __future__ import annotations

import asyncio
import os
import secrets

import docker
import pytest
from traitlets.config import Config

from workspace_launcher.backends import spec as specs

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
    """A unique owner per run; everything it owns is removed at the end."""
    owner = f"wltest-{secrets.token_hex(3)}"
    yield owner
    owner_filter = {"label": [f"{specs.label('owner')}={owner}"]}
    for container in docker_client.containers.list(all=True, filters=owner_filter):
        container.remove(force=True)
    for volume in docker_client.volumes.list(filters=owner_filter):
        volume.remove(force=True)
    for image in docker_client.images.list(filters=owner_filter):
        docker_client.images.remove(image.id, force=True)


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
    config.DatasetCatalog.managed_root = str(lock_dir / "managed-datasets")
    config.WorkspaceManager.launch_timeout = 90.0
    config.WorkspaceManager.allowed_env = ["WLTEST_*"]
    for key, value in gpu_settings.items():
        setattr(config.GpuInventory if key == "declared_gpus" else config.GpuAllocator, key, value)
    return config


@pytest.fixture(scope="session")
def session_config(dataset_root, tmp_path_factory):
    return make_config(dataset_root, tmp_path_factory.mktemp("lock"))


@pytest.fixture
def manager(session_config, docker_client):
    from workspace_launcher.workspaces import WorkspaceManager

    manager = WorkspaceManager(config=session_config)
    yield manager
    manager.engine.close()


@pytest.fixture(scope="session")
def minimal_image(session_config, docker_client):
    """The minimal profile's image, built once (minutes on a cold cache) and reused."""
    from workspace_launcher.workspaces import WorkspaceManager

    manager = WorkspaceManager(config=session_config)
    built = asyncio.run(manager.builder.ensure(manager.profiles.get("minimal")))
    manager.engine.close()
    return built
