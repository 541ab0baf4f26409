"""Admin settings: the dataset catalog and profiles, rejected early with the fix."""

from __future__ import annotations

import json

import pytest
from traitlets.config import Config

from workspace_launcher.catalog.datasets import DatasetCatalog
from workspace_launcher.catalog.profiles import ProfileRegistry
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


def test_packaged_minimal_profile_is_found():
    profiles = ProfileRegistry().all()
    assert "minimal" in profiles
    minimal = profiles["minimal"]
    assert minimal.framework == "numpy"
    assert minimal.gpu_vendor is None


def _profile_dir(tmp_path, name, declaration):
    path = tmp_path / name
    path.mkdir()
    (path / "Dockerfile").write_text("ARG JUPYTER_IMAGE\nFROM ${JUPYTER_IMAGE}\n")
    (path / "profile.json").write_text(json.dumps(declaration))
    return path


def test_admin_adds_and_restricts_profiles(tmp_path):
    jax = _profile_dir(tmp_path, "jax", {"display_name": "JAX", "framework": "jax", "cuda_version": "12.4", "gpu_vendor": "nvidia"})
    config = Config()
    config.ProfileRegistry.extra_profiles = {
        "jax": str(jax),
        "inline": {"context_dir": str(jax), "display_name": "Inline", "framework": "jax"},
    }
    registry = ProfileRegistry(config=config)
    assert {"minimal", "jax", "inline"} <= set(registry.all())
    assert registry.get("jax").cuda_version == "12.4"
    restricted = ProfileRegistry(config=config, allowed_profiles=["jax"])
    assert set(restricted.all()) == {"jax"}
    with pytest.raises(InvalidRequest, match="unknown profile 'minimal'; available profiles: jax"):
        restricted.get("minimal")


def test_bad_profile_declarations_are_refused_at_start_up(tmp_path):
    bad = _profile_dir(tmp_path, "bad", {"framework": "x", "gpus": 3})
    with pytest.raises(ConfigError, match="unknown keys"):
        ProfileRegistry(extra_profiles={"bad": str(bad)})
    with pytest.raises(ConfigError, match="context_dir"):
        ProfileRegistry(extra_profiles={"nodir": {"framework": "x"}})
    with pytest.raises(ConfigError, match="no Dockerfile"):
        ProfileRegistry(extra_profiles={"empty": {"context_dir": str(tmp_path)}})
    with pytest.raises(InvalidRequest, match="profile is required"):
        ProfileRegistry().get(None)
