"""Profiles: the packaged ones are found, admins add and restrict profiles, and bad declarations
are refused at start-up with the fix."""

from __future__ import annotations

import json

import pytest
from traitlets.config import Config

from workspace_launcher.catalog.profiles import ProfileRegistry
from workspace_launcher.errors import ConfigError, InvalidRequest


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


def test_only_the_frameworks_with_a_demo_name_one():
    """"Open the demo" is offered per profile: the PyTorch demo notebooks fail at their first
    cell under NumPy or TensorFlow, so those profiles name none."""
    profiles = ProfileRegistry().all()
    assert {name: p.demo for name, p in profiles.items()} == {
        "minimal": None, "tensorflow": None,
        "pytorch": "object-detection-train.ipynb", "pytorch-cu126": "object-detection-train.ipynb",
    }
    assert profiles["pytorch"].to_dict()["demo"] == "object-detection-train.ipynb"
    assert profiles["minimal"].to_dict()["demo"] is None


@pytest.mark.parametrize("demo", ["/etc/passwd.ipynb", "../up.ipynb", "a//b.ipynb", "notes.txt", "", 5])
def test_a_demo_that_is_not_a_relative_notebook_is_refused(tmp_path, demo):
    path = _profile_dir(tmp_path, "bad", {"framework": "jax", "demo": demo})
    with pytest.raises(ConfigError, match="must be a relative path to a .ipynb file"):
        ProfileRegistry(config=Config({"ProfileRegistry": {"extra_profiles": {"bad": str(path)}}}))


@pytest.mark.parametrize("stated", [{"minutes": 0, "size": "9g"}, {"minutes": 5}, {"minutes": 5, "size": "big"},
                                    {"minutes": True, "size": "1g"}, "10 min", {"minutes": 5, "size": "1g", "x": 1}])
def test_a_build_estimate_that_cannot_be_read_is_refused(tmp_path, stated):
    path = _profile_dir(tmp_path, "bad", {"framework": "jax", "build_estimate": stated})
    with pytest.raises(ConfigError, match="build_estimate"):
        ProfileRegistry(config=Config({"ProfileRegistry": {"extra_profiles": {"bad": str(path)}}}))


def test_every_packaged_profile_states_what_its_first_build_takes():
    for profile in ProfileRegistry().all().values():
        seconds, size = profile.stated_build()
        assert seconds >= 60 and size >= 100 * 1024**2, profile.name
