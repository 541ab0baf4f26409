"""The host Jupyter server the benchmarks run (with workspace_launcher and jupyter-server-proxy, on
loopback) and what they read of it: its handshake, CPU time and memory."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import aiohttp
import psutil

REPO = Path(__file__).resolve().parent.parent
MIB = 2**20


class LocalhostResolver(aiohttp.ThreadedResolver):
    """Resolves every ``*.localhost`` name to loopback, as browsers do (the system may not)."""

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list:
        if host.endswith(".localhost"):
            host, family = "127.0.0.1", socket.AF_INET
        return await super().resolve(host, port, family)


async def workspace_session(session: aiohttp.ClientSession, server: HostServer, workspace_id: str) -> str:
    """The host's handshake, as a browser follows it: the session cookie of the workspace's origin."""
    async with session.get(f"{server.url}workspace-launcher/open/{workspace_id}", headers=server.auth,
                           allow_redirects=False) as r:
        if r.status != 302:
            raise RuntimeError(f"opening the workspace answered {r.status}: {await r.text()}")
        location = r.headers["Location"]
    async with session.get(location, allow_redirects=False) as r:
        cookie = r.cookies.get("workspace-launcher-session")
        if r.status != 302 or cookie is None:
            raise RuntimeError(f"the workspace's origin answered {r.status} and no session")
    return cookie.value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class HostServer:
    """``python -m jupyter_server`` with workspace_launcher and jupyter-server-proxy, on loopback."""

    def __init__(self, workdir: Path, ca_bundle: str | None, profile_proxy: str | None, route: str,
                 owner: str = "wlbench-proxy") -> None:
        self.port = free_port()
        self.token = secrets.token_urlsafe(32)
        self.url = f"http://127.0.0.1:{self.port}/"
        self.workdir = workdir
        self.log_path = workdir / "server.log"
        config_dir = workdir / "config"
        config_dir.mkdir()
        lines = [
            ("c.ServerApp.jpserver_extensions = {'workspace_launcher': True, 'jupyter_server_proxy': True,"
             " 'jupyterlab': False, 'jupyter_lsp': False, 'jupyter_server_terminals': False, 'notebook_shim': False}"),
            "c.ServerApp.ip = '127.0.0.1'",
            f"c.ServerApp.port = {self.port}",
            "c.ServerApp.port_retries = 0",
            "c.ServerApp.open_browser = False",
            "c.ServerApp.allow_root = True",
            f"c.IdentityProvider.token = {self.token!r}",
            f"c.ServerApp.root_dir = {str(workdir)!r}",
            f"c.WorkspaceLauncherApp.owner = {owner!r}",
            f"c.WorkspaceManager.upstream_route = {route!r}",
            # jupyter-server-proxy goes where ours goes: to the container's address when that is
            # the route (its `proxy/<host>:<port>/` form needs the host allowed).
            "c.ServerProxy.host_allowlist = lambda handler, host: host.startswith(('localhost', '127.', '172.'))",
        ]
        if ca_bundle:
            lines.append(f"c.ImageBuilder.extra_ca_bundle = {ca_bundle!r}")
        (config_dir / "jupyter_server_config.py").write_text("\n".join(lines) + "\n")
        self.env = dict(os.environ, JUPYTER_CONFIG_DIR=str(config_dir), JUPYTER_RUNTIME_DIR=str(workdir / "runtime"),
                        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        self.command = [sys.executable, "-m", "jupyter_server"]
        if profile_proxy:  # py-spy record around the server, for --profile-proxy
            py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
            self.command = [py_spy, "record", "--rate", "250", "--subprocesses", "-o", profile_proxy,
                            "--format", "speedscope", "--", *self.command]
        self.process: subprocess.Popen | None = None
        self.ps: psutil.Process | None = None

    async def start(self, session: aiohttp.ClientSession, timeout: float = 60) -> None:
        self._log = open(self.log_path, "w")  # noqa: SIM115, ASYNC230 (closed in stop)
        self.process = subprocess.Popen(  # noqa: ASYNC220 (polled, never awaited)
            self.command, cwd=str(REPO), env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the host server exited ({self.process.returncode}); see {self.log_path}")
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with session.get(self.url + "api/status", headers=self.auth) as r:
                    if r.status == 200:
                        break
            if time.monotonic() > deadline:
                raise TimeoutError(f"the host server did not answer; see {self.log_path}")
            await asyncio.sleep(0.1)
        self.ps = self._server_process()

    def _server_process(self) -> psutil.Process:
        """The Python process that serves (under py-spy, its child)."""
        process = psutil.Process(self.process.pid)
        for child in process.children(recursive=True):
            if "jupyter_server" in " ".join(child.cmdline()):
                return child
        return process

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def rss(self) -> int:
        return self.ps.memory_info().rss

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        if self.ps is not None and self.ps.pid != self.process.pid:  # under py-spy: stop the server,
            with contextlib.suppress(psutil.NoSuchProcess):  # then py-spy writes its profile and exits
                self.ps.terminate()
        else:
            self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


class RssSampler:
    """Peak RSS of a process, sampled in a thread while a block runs."""

    def __init__(self, server: HostServer, interval: float) -> None:
        self.server, self.interval = server, interval

    def __enter__(self) -> RssSampler:  # noqa: PYI034
        self.baseline = self.server.rss()
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.server.rss())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.server.rss())

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.baseline) / MIB


def cpu_seconds(process: psutil.Process) -> float:
    """The process's CPU time, to the nanosecond where Linux's scheduler statistics are there:
    psutil's user + system come in 10 ms ticks, a tenth of a second's worth of small GETs."""
    tasks = Path(f"/proc/{process.pid}/task")
    if not (tasks / str(process.pid) / "schedstat").exists():
        times = process.cpu_times()
        return times.user + times.system
    total = 0
    for task in tasks.iterdir():
        with contextlib.suppress(OSError):  # a thread that ended meanwhile (its time is not counted)
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9
