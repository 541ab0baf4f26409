"""The dataset catalog: paths and volumes resolved to mounts, bad requests and bad settings
refused with the fix."""

from __future__ import annotations

import pytest

from workspace_launcher.catalog.datasets import DatasetCatalog
from workspace_launcher.errors import ConfigError, InvalidRequest


@pytest.fixture
def roots(tmp_path):
    root = tmp_path / "datasets"
    (root / "coco").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    return tmp_path


def test_catalog_resolves_paths_and_volumes(roots):
    catalog = DatasetCatalog(
        datasets={
            "coco": {"path": str(roots / "datasets" / "coco"), "description": "COCO"},
            "shared": {"volume": "shared-vol"},
        },
        allowed_roots=[str(roots / "datasets")],
    )
    mounts = catalog.resolve(["coco", "shared"])
    assert [(m.name, m.kind, m.target) for m in mounts] == [
        ("coco", "bind", "/datasets/coco"),
        ("shared", "volume", "/datasets/shared"),
    ]
    assert catalog.describe()[0] == {"name": "coco", "description": "COCO", "mount_path": "/datasets/coco"}
    assert catalog.resolve(None) == []


def test_catalog_rejects_bad_requests(roots):
    catalog = DatasetCatalog(
        datasets={"out": {"path": str(roots / "elsewhere")}}, allowed_roots=[str(roots / "datasets")]
    )
    with pytest.raises(InvalidRequest, match="unknown dataset 'nope'"):
        catalog.resolve(["nope"])
    with pytest.raises(InvalidRequest, match="outside the allowed dataset roots"):
        catalog.resolve(["out"])
    with pytest.raises(InvalidRequest, match="not valid"):
        catalog.resolve(["../etc"])
    for not_a_list in ("coco", {}, {"out": True}):  # a JSON object's keys are no list of names
        with pytest.raises(InvalidRequest, match="list of dataset names"):
            catalog.resolve(not_a_list)
    with pytest.raises(InvalidRequest, match="twice"):
        catalog.resolve(["out", "out"])


@pytest.mark.parametrize(
    "entry,message",
    [
        ({}, "exactly one of"),
        ({"path": "/a", "volume": "v"}, "exactly one of"),
        ({"path": "/a", "colour": "red"}, "unknown keys"),
        ("/a", "exactly one of"),
    ],
)
def test_catalog_config_is_validated_when_set(entry, message):
    with pytest.raises(ConfigError, match=message):
        DatasetCatalog(datasets={"x": entry})
    with pytest.raises(ConfigError, match="lowercase"):
        DatasetCatalog(datasets={"Bad Name": {"volume": "v"}})
