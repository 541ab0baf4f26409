"""The CLI's pure helpers (admin/cli_support.py, re-exported by admin/cli.py), and the configuration it reads."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from traitlets.config import Config

from workspace_launcher.admin import cli_support
from workspace_launcher.admin.cli_support import load_config, open_link, print_listing, say


def test_the_printed_link_is_the_hosts_handshake(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    assert open_link("0123456789ab").startswith("/workspace-launcher/open/0123456789ab on your Jupyter server")
    server = {"url": "http://127.0.0.1:8888/user/alice/", "pid": os.getpid(), "base_url": "/user/alice/",
              "hostname": "127.0.0.1", "port": 8888, "token": "t", "secure": False, "root_dir": str(tmp_path)}
    (tmp_path / f"jpserver-{os.getpid()}.json").write_text(json.dumps(server))
    assert open_link("0123456789ab") == "http://127.0.0.1:8888/user/alice/workspace-launcher/open/0123456789ab"


# -- load_config: the files the server reads, in the server's order --------------------------
def _write(directory: Path, name: str, body: str | dict) -> None:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body if isinstance(body, str) else json.dumps(body))


@pytest.fixture
def config_dirs(jp_environ, jp_config_dir, tmp_path, monkeypatch) -> tuple[Path, Path]:
    """(JUPYTER_CONFIG_PATH's directory, the user's JUPYTER_CONFIG_DIR), nothing else on the path."""
    extra = tmp_path / "extra-config"
    extra.mkdir()
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(extra))
    return extra, Path(jp_config_dir)


def _server_extension_config() -> Config:
    """The config the server extension's configurables get, by the server's own code."""
    from jupyter_server.serverapp import ServerApp

    from workspace_launcher.app import WorkspaceLauncherApp

    server = ServerApp()
    server.load_config_file(suppress_errors=False)  # what ServerApp.initialize does
    extension = WorkspaceLauncherApp()
    extension._link_jupyter_server_extension(server)  # what the server does to each ExtensionApp
    return extension.config


def test_load_config_reads_every_config_file_the_server_reads(config_dirs):
    _, user = config_dirs
    _write(user, "jupyter_config.py", "c.GpuAllocator.lock_timeout = 11.0")
    _write(user, "jupyter_server_config.py", "c.GpuAllocator.max_gpus_per_owner = 3")
    _write(user, "jupyter_server_config.json", {"GpuAllocator": {"max_gpus_per_workspace": 2}})
    _write(user, "jupyter_workspace_launcher_config.py", "c.GpuAllocator.allow_sharing = True")
    _write(user, "jupyter_workspace_launcher_config.json", {"GpuAllocator": {"lock_path": "/run/wl/gpus.lock"}})
    config = load_config(None)
    assert config.GpuAllocator == {"lock_timeout": 11.0, "max_gpus_per_owner": 3, "max_gpus_per_workspace": 2,
                                   "allow_sharing": True, "lock_path": "/run/wl/gpus.lock"}
    assert config.GpuAllocator == _server_extension_config().GpuAllocator


def test_drop_in_directories_only_enable_extensions_as_in_the_server(config_dirs):
    # jupyter_server_config.d/*.json are read by the server for ServerApp.jpserver_extensions only;
    # a launcher setting put there reaches neither the server extension nor the CLI.
    _, user = config_dirs
    _write(user, "jupyter_server_config.d/x.json",
           {"ServerApp": {"jpserver_extensions": {"workspace_launcher": True}}, "GpuAllocator": {"lock_timeout": 5.0}})
    assert "lock_timeout" not in _server_extension_config().GpuAllocator
    assert "lock_timeout" not in load_config(None).GpuAllocator


def test_load_config_uses_the_servers_priority_order_and_config_file_wins(config_dirs, tmp_path):
    extra, user = config_dirs
    # Each trait is set in two places; the comment names the one the server lets win.
    _write(user, "jupyter_server_config.py", "\n".join([
        "c.GpuAllocator.lock_timeout = 1.0",
        "c.GpuAllocator.max_gpus_per_owner = 1",  # beats jupyter_config, even in a higher directory
        "c.GpuAllocator.lock_path = '/user/py'",
    ]))
    _write(user, "jupyter_server_config.json", {"GpuAllocator": {"lock_timeout": 2.0}})  # .json beats .py
    _write(extra, "jupyter_server_config.py", "c.GpuAllocator.lock_path = '/extra/py'")  # JUPYTER_CONFIG_PATH first
    _write(extra, "jupyter_config.py", "\n".join([
        "c.GpuAllocator.max_gpus_per_owner = 9",
        "c.GpuAllocator.max_gpus_per_workspace = 4",  # beats the extension's own file: it is server config
    ]))
    _write(user, "jupyter_workspace_launcher_config.py", "\n".join([
        "c.GpuAllocator.max_gpus_per_workspace = 8",
        "c.GpuAllocator.allow_sharing = True",  # set nowhere else
    ]))
    expected = {"lock_timeout": 2.0, "max_gpus_per_owner": 1, "lock_path": "/extra/py", "max_gpus_per_workspace": 4,
                "allow_sharing": True}
    assert load_config(None).GpuAllocator == expected
    assert _server_extension_config().GpuAllocator == expected

    for name, body in [("extra.py", "c.GpuAllocator.lock_timeout = 99.0\nc.GpuAllocator.allow_sharing = False"),
                       ("extra.json", json.dumps({"GpuAllocator": {"lock_timeout": 99.0, "allow_sharing": False}}))]:
        _write(tmp_path, name, body)
        assert load_config(str(tmp_path / name)).GpuAllocator == {**expected, "lock_timeout": 99.0,
                                                                  "allow_sharing": False}


def test_a_broken_config_file_is_an_error_not_skipped(config_dirs):
    _, user = config_dirs
    _write(user, "jupyter_server_config.py", "c.GpuAllocator.lock_timeout = (")
    with pytest.raises(SyntaxError):
        load_config(None)


# -- print_listing and say: ids whole at any width, messages wrapped, pipes unbounded ----------
WORKSPACES = [("0123456789ab", "from-cli", "alice-cli", "minimal", "running", "0", "demo", "2024-05-01T12:00:00+00:00"),
              ("ba9876543210", "a-much-longer-workspace-name", "bob", "pytorch-cuda12", "building", "2", "",
               "2024-05-01T12:05:00+00:00")]
COLUMNS = ("id", "name", "owner", "profile", "status", "gpus", "datasets", "created")


def _listed(capsys, monkeypatch, columns: str | None) -> str:
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    print_listing(False, WORKSPACES, COLUMNS, lambda w: w, whole=("id",))
    return capsys.readouterr().out


@pytest.mark.parametrize("columns", ["40", "60", "100", "200", None])
def test_listed_ids_are_whole_on_one_line_at_any_width(capsys, monkeypatch, columns):
    text = _listed(capsys, monkeypatch, columns)
    for workspace_id in ("0123456789ab", "ba9876543210"):
        assert sum(workspace_id in line for line in text.splitlines()) == 1, text
    if columns is not None:
        assert max(len(line) for line in text.splitlines()) <= int(columns), text


def test_a_narrow_terminal_lists_one_field_a_line_and_a_wide_one_a_table(capsys, monkeypatch):
    narrow = _listed(capsys, monkeypatch, "40").splitlines()
    assert narrow[:2] == ["id        0123456789ab", "name      from-cli"]
    wide = _listed(capsys, monkeypatch, "200").splitlines()
    assert wide[3].startswith("│ 0123456789ab │ from-cli ") and len(wide) == 6


def test_piped_output_is_never_wrapped_and_has_no_terminal_controls(capsys, monkeypatch):
    text = _listed(capsys, monkeypatch, None)  # capsys's stdout is no terminal
    assert "│ ba9876543210 │ a-much-longer-workspace-name │" in text and "\x1b" not in text
    say(f"ba9876543210 b is running; open it at http://127.0.0.1:8888/{'x' * 120}")
    assert capsys.readouterr().out.count("\n") == 1


def test_errors_and_messages_wrap_at_spaces_with_their_continuation_indented(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    url = "http://127.0.0.1:8888/user/alice/workspace-launcher/open/0123456789ab"
    say(f"0123456789ab exp-1 is running; open it at {url}")
    assert capsys.readouterr().out.splitlines() == ["0123456789ab exp-1 is running; open it", "  at", f"  {url}"]
    say("no workspace 0123456789ab; list yours with 'workspace-launcher workspaces list'",
        to=cli_support.console, prefix="error:", style="red", indent=7)
    assert capsys.readouterr().err.splitlines() == [
        "error: no workspace 0123456789ab; list", "       yours with 'workspace-launcher", "       workspaces list'"]
