"""A real ``jupyter server`` with the extension, in a process of its own, on a loopback port:
for tests that drive it from outside (the fuzzer) rather than from pytest-jupyter's in-process
server. Its config is ``conftest.make_config``'s, written out as a config file; its config,
data and runtime directories are its own.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import requests
from traitlets.config import Config

ROOT = Path(__file__).resolve().parents[2]
#: Only the launcher: the other server extensions installed beside it are not what is tested.
EXTENSIONS = {"workspace_launcher": True, "jupyterlab": False, "jupyter_lsp": False, "notebook_shim": False,
              "jupyter_server_terminals": False}


@dataclass
class ServerProcess:
    url: str  # http://127.0.0.1:PORT/
    token: str
    log: Path
    process: subprocess.Popen = field(repr=False)

    @property
    def api(self) -> str:
        return f"{self.url}workspace-launcher/api"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        """A REST call (``path`` below the API's root) as the server's user."""
        return requests.request(method, f"{self.api}{path}", headers=self.auth, timeout=60, **kwargs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config_file(config: Config) -> str:
    """A ``jupyter_server_config.py`` setting what ``config`` sets (plain values only)."""
    lines = []
    for section, values in config.items():
        for name, value in values.items():
            lines.append(f"c.{section}.{name} = {value!r}\n")
    return "".join(lines)


@contextlib.contextmanager
def jupyter_server(tmp: Path, config: Config, *, start_timeout: float = 60) -> Iterator[ServerProcess]:
    token = secrets.token_hex(24)
    port = free_port()
    root_dir, config_dir = tmp / "root", tmp / "config"
    root_dir.mkdir()
    config_dir.mkdir()
    config.ServerApp.jpserver_extensions = EXTENSIONS
    (config_dir / "jupyter_server_config.py").write_text(config_file(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER_", "WORKSPACE_LAUNCHER_SERVER"))}
    env.update(JUPYTER_CONFIG_DIR=str(config_dir), JUPYTER_DATA_DIR=str(tmp / "data"),
               JUPYTER_RUNTIME_DIR=str(tmp / "runtime"), PYTHONUNBUFFERED="1",
               # The working tree's package, not a copy installed beside it.
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    args = [sys.executable, "-m", "jupyter_server", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
            "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root_dir}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")
    log = tmp / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(args, env=env, cwd=root_dir, stdout=out, stderr=subprocess.STDOUT)
    server = ServerProcess(f"http://127.0.0.1:{port}/", token, log, process)
    try:
        _wait_until_up(server, start_timeout)
        yield server
    finally:
        stop(process)


def _wait_until_up(server: ServerProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"jupyter server exited with {server.process.returncode}:\n{server.log.read_text()[-4000:]}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{server.api}/profiles", headers=server.auth, timeout=5).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"jupyter server did not answer in {timeout:.0f} s:\n{server.log.read_text()[-4000:]}")
        time.sleep(0.2)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # a clean stop: launches in flight are cancelled and cleaned
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
