"""The ImageBuilder's settings: defaults, checks that refuse a mistake with the fix, paths made
absolute, and the CA bundle builds trust."""

from __future__ import annotations

from pathlib import Path

import pytest
from traitlets.config import Config

from tests.unit.fakes import ID1, PEM, REG
from workspace_launcher.engine.docker import DockerEngine
from workspace_launcher.errors import ConfigError
from workspace_launcher.images import builder as images
from workspace_launcher.images import pinning as locks
from workspace_launcher.images.builder import ImageBuilder


def builder(**kw) -> ImageBuilder:
    return ImageBuilder(engine=DockerEngine(), **kw)


# -- settings --------------------------------------------------------------------------------

def test_defaults():
    b = builder()
    assert b.base_image == "workspace-launcher/base:bookworm"
    assert b.extra_ca_bundle == "" and b.wheelhouse == ""
    assert Path(b.jupyter_context, "Dockerfile").is_file()


@pytest.mark.parametrize(
    ("trait", "value", "hint"),
    [("extra_ca_bundle", "/nonexistent/ca.pem", "not a file"),
     ("wheelhouse", "/nonexistent/wheels", "not a directory"),
     ("base_image", "", "not an image reference"),
     ("base_image", "has space", "not an image reference"),
     ("build_timeout", 0, "positive")],
)
def test_invalid_settings_raise_config_error(trait, value, hint):
    with pytest.raises(ConfigError, match=hint):
        builder(**{trait: value})
    config = Config()
    setattr(config.ImageBuilder, trait, value)
    with pytest.raises(ConfigError, match=hint):
        ImageBuilder(engine=DockerEngine(), config=config)


def test_ca_bundle_must_be_pem(tmp_path):
    not_pem = tmp_path / "ca.der"
    not_pem.write_bytes(b"\x30\x82binary")
    with pytest.raises(ConfigError, match="PEM"):
        builder(extra_ca_bundle=str(not_pem))


def test_paths_are_made_absolute(tmp_path, monkeypatch):
    (tmp_path / "ca.pem").write_bytes(PEM)
    (tmp_path / "wh").mkdir()
    monkeypatch.chdir(tmp_path)
    b = builder(extra_ca_bundle="ca.pem", wheelhouse="wh")
    assert b.extra_ca_bundle == str(tmp_path / "ca.pem") and b.wheelhouse == str(tmp_path / "wh")


# -- pinning settings ------------------------------------------------------------------------

def test_pinning_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "cfg"))
    builder = ImageBuilder(engine=DockerEngine())
    assert builder.lock_file == str(tmp_path / "cfg" / "workspace_launcher.lock.json")
    assert builder.require_pinned_images is False
    assert builder.registry_mirror == "" and builder.registry_credentials == {} and builder.build_args == {}
    assert locks.default_lock_path() == builder.lock_file


@pytest.mark.parametrize(
    ("trait", "value", "hint"),
    [("registry_mirror", "not a host!", "not a registry host"),
     ("registry_credentials", {REG: {"username": "u"}}, "'username' and 'password'"),
     ("build_args", {"pytorch": ["EXTRA_INDEX_URL="]}, "must map ARG names"),
     ("build_args", {"pytorch": {"A": None}}, "must map ARG names"),
     ("lock_file", "", "file path"),
     ("base_image", "UPPER/case", "not an image reference")],
)
def test_invalid_pinning_settings(trait, value, hint):
    with pytest.raises(ConfigError, match=hint):
        ImageBuilder(engine=DockerEngine(), **{trait: value})


def test_image_id_is_a_valid_base_image():
    assert ImageBuilder(engine=DockerEngine(), base_image=ID1).base_image == ID1


# -- trusting the host's CA store ------------------------------------------------------------

def test_builds_trust_the_host_ca_store_by_default(monkeypatch, tmp_path):
    store = tmp_path / "host-ca.crt"
    store.write_bytes(PEM)
    monkeypatch.setattr(images, "HOST_CA_STORES", ("/nonexistent/ca.crt", str(store)))
    assert builder().build_ca_bundle == str(store)
    assert builder(trust_host_ca=False).build_ca_bundle == ""
    own = tmp_path / "own.pem"
    own.write_bytes(PEM)
    assert builder(extra_ca_bundle=str(own)).build_ca_bundle == str(own)
    monkeypatch.setattr(images, "HOST_CA_STORES", ("/nonexistent/ca.crt",))
    assert builder().build_ca_bundle == ""
