"""What `pip install .` puts in place: the server extension enabled, the front end installed."""

from __future__ import annotations

import re
import subprocess
import sys

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def jupyter(*args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "jupyter", *args], capture_output=True, text=True, timeout=120)
    return ANSI.sub("", result.stdout + result.stderr)


def test_the_server_extension_is_enabled_by_installing_the_package():
    listing = jupyter("server", "extension", "list")
    lines = [line.strip() for line in listing.splitlines()]
    assert "workspace_launcher enabled" in lines, listing
    assert any(line.startswith("workspace_launcher ") and line.endswith(" OK") for line in lines), listing


def test_the_lab_extension_is_installed_prebuilt():
    listing = jupyter("labextension", "list")
    line = next((l for l in listing.splitlines() if "workspace-launcher-labextension" in l), "")
    assert "enabled" in line and "OK" in line, listing
