"""Real host servers for the second engine's tests: ``jupyter server`` subprocesses with this
package's extension, each on its own port with its own token and owner, all talking to the
second engine (``DOCKER_HOST``) and sharing one GPU reservation lock file, as two host servers
sharing one engine do in production.

The servers run this checkout's code (``PYTHONPATH``), with their own config, data and runtime
directories; each server's log is kept in its directory and printed when a test needs it.
Helpers reach the REST API with the server's token and a workspace through the real handshake
(the host's open URL, then the one-time code on the workspace's own origin, then its session
cookie), resolving ``<id>.localhost`` to loopback as browsers do.
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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlsplit

import docker
import pytest
import requests

from workspace_launcher.engine import spec as specs
from workspace_launcher.proxy.sessions import COOKIE_NAME

from .engine2 import SecondEngine

ROOT = Path(__file__).resolve().parents[2]
CA_BUNDLE = os.environ.get("WORKSPACE_LAUNCHER_TEST_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
FAKE_GPUS = [
    {"index": i, "uuid": f"GPU-wltest-e2-{i}", "name": "Stand-in H100", "memory_mib": 81559, "vendor": "nvidia"}
    for i in range(4)
]
GPU_UUIDS = [g["uuid"] for g in FAKE_GPUS]
TERMINAL = ("running", "failed", "stopped")
#: Generous: four Jupyters starting at once on a busy 2-core CI machine. What must fail fast is
#: checked against it (the fault tests).
LAUNCH_TIMEOUT = 240.0

#: Profiles that misbehave on purpose (the fault tests launch them), built FROM the shared
#: Jupyter layer in a second or two.
EXIT_MARKER = "wltest: this jupyter exits on purpose"
BUILD_MARKER = "wltest: this build fails on purpose"
TEST_PROFILES = {
    # `jupyter` replaced by a script that says so, then exits 7 two seconds later.
    "wltest-exits": (
        "ARG JUPYTER_IMAGE\nFROM ${JUPYTER_IMAGE}\n"
        f"RUN printf '#!/bin/sh\\necho \"{EXIT_MARKER}\" >&2\\nsleep 2\\nexit 7\\n' > /opt/venv/bin/jupyter "
        "&& chmod 755 /opt/venv/bin/jupyter\n"
    ),
    # A build step that fails.
    "wltest-broken": f'ARG JUPYTER_IMAGE\nFROM ${{JUPYTER_IMAGE}}\nRUN echo "{BUILD_MARKER}" && exit 3\n',
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class HostServer:
    url: str  # http://127.0.0.1:PORT/
    port: int
    token: str
    owner: str
    log: Path
    process: subprocess.Popen = field(repr=False)

    # -- the REST API -------------------------------------------------------------------------
    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 60)
        return requests.request(method, f"{self.url}workspace-launcher/api/{path}",
                                headers={"Authorization": f"token {self.token}"}, **kwargs)

    def launch(self, **body) -> requests.Response:
        return self.api("POST", "workspaces", json=body)

    def workspace(self, workspace_id: str) -> dict:
        answer = self.api("GET", f"workspaces/{workspace_id}")
        assert answer.status_code == 200, (answer.status_code, answer.text)
        return answer.json()

    def wait_settled(self, workspace_id: str, timeout: float = 300, statuses=TERMINAL) -> dict:
        """Poll the workspace until its status is one of ``statuses``."""
        deadline = time.monotonic() + timeout
        while True:
            workspace = self.workspace(workspace_id)
            if workspace["status"] in statuses:
                return workspace
            if time.monotonic() > deadline:
                pytest.fail(f"workspace {workspace_id} still {workspace['status']} after {timeout:.0f} s:\n"
                            f"{self.log_tail()}")
            time.sleep(0.2)

    def gpu_holders(self) -> dict[str, list[str]]:
        """GPU uuid -> ids of the workspaces holding it, as this server's /gpus shows it."""
        answer = self.api("GET", "gpus")
        assert answer.status_code == 200, answer.text
        return {g["uuid"]: [h["id"] for h in g["held_by"]] for g in answer.json()["gpus"]}

    def delete(self, workspace_id: str) -> None:
        answer = self.api("DELETE", f"workspaces/{workspace_id}", params={"purge": "true"})
        assert answer.status_code in (204, 404), (answer.status_code, answer.text)

    # -- a workspace's own origin, through the handshake --------------------------------------
    def origin_of(self, workspace_id: str) -> str:
        return f"http://{workspace_id}.localhost:{self.port}"

    def on_origin(self, workspace_id: str, method: str, path: str, *, headers=None, **kwargs) -> requests.Response:
        """A request to ``path`` on the workspace's origin, sent to loopback with its Host."""
        headers = {"Host": f"{workspace_id}.localhost:{self.port}", **(headers or {})}
        kwargs.setdefault("timeout", 30)
        return requests.request(method, f"http://127.0.0.1:{self.port}{path}", headers=headers,
                                allow_redirects=False, **kwargs)

    def open(self, workspace_id: str) -> requests.Response:
        """The host's open URL (the handshake's first half), logged in by the token."""
        return requests.get(f"{self.url}workspace-launcher/open/{workspace_id}", allow_redirects=False,
                            headers={"Authorization": f"token {self.token}"}, timeout=30)

    def open_session(self, workspace_id: str) -> str:
        """The handshake as a browser makes it; returns the workspace session cookie's value."""
        opened = self.open(workspace_id)
        assert opened.status_code == 302, (opened.status_code, opened.text[:300])
        location = opened.headers["Location"]
        assert location.startswith(self.origin_of(workspace_id) + "/workspace-launcher/session?code="), location
        parts = urlsplit(location)
        traded = self.on_origin(workspace_id, "GET", f"{parts.path}?{parts.query}")
        assert traded.status_code == 302, (traded.status_code, traded.text[:300])
        cookies = SimpleCookie()
        for header in traded.raw.headers.getlist("Set-Cookie"):
            cookies.load(header)
        return cookies[COOKIE_NAME].value

    def proxied(self, workspace_id: str, session: str, method: str, rest: str, **kwargs) -> requests.Response:
        """``rest`` below the workspace's prefix, on its origin, with its session cookie (and
        its own Origin, as the workspace's JupyterLab sends it)."""
        headers = {"Cookie": f"{COOKIE_NAME}={session}", "Origin": self.origin_of(workspace_id),
                   **kwargs.pop("headers", {})}
        path = f"/workspace-launcher/workspaces/{workspace_id}/{rest}"
        return self.on_origin(workspace_id, method, path, headers=headers, **kwargs)

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _config(tmp: Path, owner: str, engine: SecondEngine, lock_path: Path, profiles: dict[str, str],
            settings: dict) -> str:
    values = {
        # Only this extension: the host server starts in a couple of seconds.
        "ServerApp.jpserver_extensions": {
            "workspace_launcher": True, "jupyterlab": False, "jupyter_lsp": False, "notebook_shim": False,
            "jupyter_server_terminals": False,
        },
        "WorkspaceLauncherApp.owner": owner,
        "GpuInventory.declared_gpus": FAKE_GPUS,
        "GpuAllocator.lock_path": str(lock_path),
        "DatasetCatalog.registry_file": str(tmp / "datasets.json"),
        "DatasetCatalog.managed_root": str(tmp / "managed-datasets"),
        "ImageBuilder.lock_file": str(tmp / "images.lock.json"),
        "ProfileRegistry.extra_profiles": profiles,
        "WorkspaceManager.launch_timeout": LAUNCH_TIMEOUT,
        "WorkspaceNetwork.bridge_name": engine.workspace_bridge,
        **settings,
    }
    if os.path.isfile(CA_BUNDLE):  # part of the images' hash: the same as the minimal_image fixture's
        values["ImageBuilder.extra_ca_bundle"] = CA_BUNDLE
    return "".join(f"c.{key} = {value!r}\n" for key, value in values.items())


def _start(tmp: Path, owner: str, engine: SecondEngine, lock_path: Path, profiles: dict[str, str],
           settings: dict) -> HostServer:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "config").mkdir(exist_ok=True)
    (tmp / "root").mkdir(exist_ok=True)
    (tmp / "config" / "jupyter_server_config.py").write_text(_config(tmp, owner, engine, lock_path, profiles, settings))
    token, port = secrets.token_hex(24), _free_port()
    env = engine.env()
    env.update(
        JUPYTER_CONFIG_DIR=str(tmp / "config"),
        JUPYTER_DATA_DIR=str(tmp / "data"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        PYTHONUNBUFFERED="1",
    )
    for name in ("JUPYTER_PATH", "JUPYTERHUB_USER"):
        env.pop(name, None)
    args = [
        sys.executable, "-m", "jupyter_server",
        "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={tmp / 'root'}", "--ServerApp.open_browser=False",
    ]
    if os.geteuid() == 0:
        args.append("--allow-root")
    log = tmp / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(args, env=env, cwd=tmp / "root", stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    return HostServer(f"http://127.0.0.1:{port}/", port, token, owner, log, process)


def _wait_up(server: HostServer, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            pytest.fail(f"the host server exited with {server.process.returncode}:\n{server.log_tail()}")
        with contextlib.suppress(requests.RequestException):
            if server.api("GET", "datasets", timeout=5).status_code == 200:
                return
        if time.monotonic() > deadline:
            pytest.fail(f"the host server did not answer in {timeout:.0f} s:\n{server.log_tail()}")
        time.sleep(0.2)


def _stop(server: HostServer) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


@contextlib.contextmanager
def host_servers(tmp: Path, owners: list[str], engine: SecondEngine, *, profiles: dict[str, str] | None = None,
                 settings: dict | None = None) -> Iterator[list[HostServer]]:
    """One host server per owner, started side by side, sharing one GPU lock file."""
    lock_path = tmp / "shared-lock" / "gpus.lock"
    servers = [_start(tmp / f"server-{i}", owner, engine, lock_path, profiles or {}, settings or {})
               for i, owner in enumerate(owners)]
    try:
        for server in servers:
            _wait_up(server)
        yield servers
    finally:
        with ThreadPoolExecutor(len(servers)) as pool:
            list(pool.map(_stop, servers))


def write_test_profiles(root: Path) -> dict[str, str]:
    """TEST_PROFILES as profile directories; their paths, for ProfileRegistry.extra_profiles."""
    paths = {}
    for name, dockerfile in TEST_PROFILES.items():
        context = root / name
        context.mkdir(parents=True)
        (context / "Dockerfile").write_text(dockerfile)
        (context / "profile.json").write_text(f'{{"name": "{name}", "default_shm_size": "64m"}}\n')
        paths[name] = str(context)
    return paths


@pytest.fixture(scope="session")
def e2_hosts(engine2, tmp_path_factory) -> Iterator[list[HostServer]]:
    """Two host servers on the second engine (owners ``wltest-e2-<run>-a`` and ``-b``), with
    TEST_PROFILES, for the whole session: starting one costs seconds of CPU."""
    run = secrets.token_hex(3)
    tmp = tmp_path_factory.mktemp("e2-hosts")
    profiles = write_test_profiles(tmp / "profiles")
    with host_servers(tmp, [f"wltest-e2-{run}-a", f"wltest-e2-{run}-b"], engine2, profiles=profiles) as servers:
        yield servers


@pytest.fixture
def e2_client(engine2) -> Iterator[docker.DockerClient]:
    client = engine2.client()
    yield client
    client.close()


# -- what a test owns on the second engine -----------------------------------------------------
def owned(client: docker.DockerClient, owners: list[str]) -> list[str]:
    """Every container, volume and image on the engine labelled with one of ``owners``."""
    found = []
    for owner in owners:
        by_owner = {"label": [f"{specs.label('owner')}={owner}"]}
        found += [f"container {c.name} ({owner})" for c in client.containers.list(all=True, filters=by_owner)]
        found += [f"volume {v.name} ({owner})" for v in client.volumes.list(filters=by_owner)]
        found += [f"image {i.tags or i.id} ({owner})" for i in client.images.list(filters=by_owner)]
    return found


def remove_owned(client: docker.DockerClient, owners: list[str]) -> None:
    """Remove every container, volume and image labelled with one of ``owners`` (forced)."""
    for owner in owners:
        by_owner = {"label": [f"{specs.label('owner')}={owner}"]}
        for container in client.containers.list(all=True, filters=by_owner):
            container.remove(force=True)
        for volume in client.volumes.list(filters=by_owner):
            volume.remove(force=True)
        for image in client.images.list(filters=by_owner):
            client.images.remove(image.id, force=True)


def remove_model_volumes(client: docker.DockerClient, owners: list[str]) -> None:
    """The owners' model volumes: kept by every delete on purpose (they are the user's models),
    so a test removes them itself once its workspaces are gone."""
    from workspace_launcher.workspaces.validation import owner_slug

    for owner in owners:
        with contextlib.suppress(docker.errors.NotFound):
            client.volumes.get(specs.model_volume_name(owner_slug(owner))).remove()


@contextlib.contextmanager
def nothing_left_behind(request, client: docker.DockerClient, owners: list[str]) -> Iterator[None]:
    """After the test: nothing of ``owners`` is left on the engine (checked when the test itself
    passed), then whatever is left is removed anyway."""
    failed_before = request.session.testsfailed
    yield
    left = owned(client, owners)
    remove_owned(client, owners)
    if request.session.testsfailed == failed_before:
        assert left == [], f"the test left these behind: {left}"
