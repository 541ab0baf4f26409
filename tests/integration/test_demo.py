"""The object-detection demo, for real: a PyTorch workspace trains and detects on CPU.

The dataset is generated with the CLI's generator and mounted read-only; the notebooks run
headless inside the workspace (nbconvert's executor, the workspace's own kernel), write the model
to /models, and the infer notebook's mAP@0.5 on the test split must reach 0.5.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from workspace_launcher.demo.data import create_demo_dataset
from workspace_launcher.workspaces.manager import WorkspaceManager

from .conftest import make_config

WHEELHOUSE = "/opt/wheels"


@pytest.fixture(scope="module")
def demo_config(dataset_root, tmp_path_factory):
    config = make_config(dataset_root, tmp_path_factory.mktemp("demo-lock"))
    config.ImageBuilder.wheelhouse = WHEELHOUSE
    shapes = dataset_root / "demo-shapes"
    create_demo_dataset(shapes, train=600, test=100, seed=0)
    datasets = dict(config.DatasetCatalog.datasets)
    datasets["demo-shapes"] = {"path": str(shapes), "description": "synthetic shapes"}
    config.DatasetCatalog.datasets = datasets
    return config


def execute(container, notebook: str) -> None:
    result = container.exec_run(
        ["jupyter", "nbconvert", "--to", "notebook", "--execute", "--inplace", "--ExecutePreprocessor.timeout=900", notebook],
        user="1000", workdir="/home/jovyan/work", environment={"OMP_NUM_THREADS": "2"},
    )
    assert result.exit_code == 0, result.output.decode()[-3000:]


def test_pytorch_workspace_trains_and_detects_on_cpu(demo_config, docker_client, test_owner):
    manager = WorkspaceManager(config=demo_config)
    workspace = asyncio.run(
        manager.launch(owner=test_owner, profile="pytorch", datasets=["demo-shapes"], name="demo", deterministic=True, open_demo=True)
    )
    try:
        container = docker_client.containers.get(workspace.container_id)
        execute(container, "object-detection-train.ipynb")
        execute(container, "object-detection-infer.ipynb")
        listing = container.exec_run(["ls", "/models/shapes-detector"], user="1000").output.decode()
        assert "model.pt" in listing and "metadata.json" in listing
        evaluation = json.loads(container.exec_run(["cat", "/models/shapes-detector/eval.json"], user="1000").output)
        print("demo evaluation:", json.dumps(evaluation))
        map50 = evaluation["mAP"]  # at IoU 0.5, COCO-style 101-point AP averaged over classes
        assert map50 is not None and map50 >= 0.5, evaluation
    finally:
        asyncio.run(manager.delete(owner=test_owner, workspace_id=workspace.id, purge=True))
        manager.engine.close()
