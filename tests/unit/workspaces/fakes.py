"""Fakes shared by the workspaces/ unit tests: a WorkspaceManager on four declared GPUs and one
allowed dataset, whose engine any call from validation would trip."""

from __future__ import annotations

import pytest
from traitlets.config import Config

from workspace_launcher.workspaces.manager import WorkspaceManager

GPUS = [{"index": i, "uuid": f"GPU-{i}", "name": "Fake", "memory_mib": 1024, "vendor": "nvidia"} for i in range(4)]


class NoEngine:
    """Any engine call from validation is a bug: validation must not touch the engine."""

    def __getattr__(self, name):
        raise AssertionError(f"validation touched the engine ({name})")


@pytest.fixture
def manager(tmp_path):
    (tmp_path / "data" / "coco").mkdir(parents=True)
    config = Config()
    config.GpuInventory.declared_gpus = GPUS
    config.GpuAllocator.max_gpus_per_workspace = 2
    config.GpuAllocator.lock_path = str(tmp_path / "gpus.lock")
    config.DatasetCatalog.allowed_roots = [str(tmp_path / "data")]
    config.DatasetCatalog.datasets = {"coco": {"path": str(tmp_path / "data" / "coco")}}
    config.WorkspaceManager.max_memory = "8g"
    manager = WorkspaceManager(config=config)
    manager.backend.engine = NoEngine()
    return manager
