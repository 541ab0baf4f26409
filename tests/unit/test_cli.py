"""The CLI's pure helpers."""

from __future__ import annotations

import json
import os

from workspace_launcher.admin.cli import open_link


def test_the_printed_link_is_the_hosts_handshake(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    assert open_link("0123456789ab").startswith("/workspace-launcher/open/0123456789ab on your Jupyter server")
    server = {"url": "http://127.0.0.1:8888/user/alice/", "pid": os.getpid(), "base_url": "/user/alice/",
              "hostname": "127.0.0.1", "port": 8888, "token": "t", "secure": False, "root_dir": str(tmp_path)}
    (tmp_path / f"jpserver-{os.getpid()}.json").write_text(json.dumps(server))
    assert open_link("0123456789ab") == "http://127.0.0.1:8888/user/alice/workspace-launcher/open/0123456789ab"
