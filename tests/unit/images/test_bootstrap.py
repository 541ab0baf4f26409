"""The base bootstrap's pure parts: the host's Debian mirror, and the checks that refuse before
debootstrap runs."""

from __future__ import annotations

import pytest

from workspace_launcher.engine.docker import DockerEngine
from workspace_launcher.errors import ConfigError
from workspace_launcher.images import bootstrap


def test_default_mirror_deb822(tmp_path):
    sources = tmp_path / "debian.sources"
    sources.write_text(
        "Types: deb\n# comment\nURIs: http://mirror.example.org/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb-src\nURIs: http://src.example.org/debian\n\n"
        "Types: deb\nURIs: http://mirror.example.org/debian/\nSuites: bookworm\n"
    )
    assert bootstrap.default_mirror([str(sources)]) == "http://mirror.example.org/debian"


def test_default_mirror_one_line_and_fallback(tmp_path):
    listing = tmp_path / "sources.list"
    listing.write_text("# deb http://commented.example/debian bookworm main\n"
                       "deb [signed-by=/k.gpg] https://m.example/debian bookworm main\n")
    assert bootstrap.default_mirror([str(tmp_path / "missing.list"), str(listing)]) == "https://m.example/debian"
    assert bootstrap.default_mirror([str(tmp_path / "missing.list")]) == "http://deb.debian.org/debian"


def test_bootstrap_needs_debootstrap(monkeypatch):
    monkeypatch.setattr(bootstrap.shutil, "which", lambda name: None)
    with pytest.raises(ConfigError, match="apt-get install debootstrap"):
        bootstrap.bootstrap_base(engine=DockerEngine())


def test_bootstrap_needs_root(monkeypatch):
    monkeypatch.setattr(bootstrap.shutil, "which", lambda name: f"/usr/sbin/{name}")
    monkeypatch.setattr(bootstrap.os, "geteuid", lambda: 1000)
    with pytest.raises(ConfigError, match="root"):
        bootstrap.bootstrap_base(engine=DockerEngine())


def test_bootstrap_rejects_odd_suite(monkeypatch):
    monkeypatch.setattr(bootstrap.shutil, "which", lambda name: f"/usr/sbin/{name}")
    monkeypatch.setattr(bootstrap.os, "geteuid", lambda: 0)
    with pytest.raises(ConfigError, match="suite"):
        bootstrap.bootstrap_base(engine=DockerEngine(), suite="bookworm; rm -rf /")
