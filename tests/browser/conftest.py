"""Browser tests: Playwright for Python drives Debian's Chromium against a real ``jupyter lab``
(this package's server extension and front end, as installed by ``pip install .``) and the real
Docker engine that scripts/test.sh starts.

One lab server and one browser serve the whole package. The server runs with its own config,
data and runtime directories (the front end still comes from the environment's
``share/jupyter``), two declared fake NVIDIA GPUs, a one-dataset catalog and a per-run owner
(``wltest-browser-...``); every container and volume of that owner is removed at the end.
Screenshots land in ``tests/artifacts/`` (git-ignored); ``scripts/refresh-screenshots.sh`` also
copies them to ``docs/screenshots/`` for the README.
On a failure, every open page is saved as ``tests/artifacts/failure-<test>-<n>.png``; each lab
server's log is kept as ``tests/artifacts/lab-server-<dir>.log``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors
import pytest
import requests
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright
from traitlets.config import Config

from tests.leftovers import check_and_sweep

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
SCREENSHOTS = ROOT / "docs" / "screenshots"

CHROMIUM = os.environ.get("WORKSPACE_LAUNCHER_TEST_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium floods the closed network with connections.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1400, "height": 1000}
CA_BUNDLE = os.environ.get("WORKSPACE_LAUNCHER_TEST_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")

#: Default wait for UI elements (ms); a JupyterLab page load is a few seconds here.
UI_TIMEOUT = 30_000
#: Waits that cover a launch (a cold image cache is built by the ``minimal_image`` fixture).
LAUNCH_TIMEOUT = 180_000

FAKE_GPUS = [
    {"uuid": f"GPU-fake-{i}", "index": i, "name": "Fake H100", "memory_mib": 81559, "vendor": "nvidia"}
    for i in range(2)
]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def _failed(request) -> bool:
    return any(
        getattr(getattr(request.node, f"report_{when}", None), "failed", False) for when in ("setup", "call")
    )


# --- the engine, the image --------------------------------------------------------------------


@pytest.fixture(scope="package")
def docker_client():
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except (docker.errors.DockerException, requests.RequestException) as e:  # fail, never skip
        pytest.fail(f"no Docker engine answers ({e}); run the suite with scripts/test.sh")
    yield client
    client.close()


@pytest.fixture(scope="package")
def minimal_image(docker_client):
    """Build (or reuse) the ``minimal`` image up front, so the UI's first launch takes seconds."""
    from workspace_launcher.workspaces.manager import WorkspaceManager

    config = Config()
    if os.path.isfile(CA_BUNDLE):  # part of the image's hash: the same setting as the lab's
        config.ImageBuilder.extra_ca_bundle = CA_BUNDLE
    manager = WorkspaceManager(config=config)
    try:
        return run_async(manager.builder.ensure, manager.profiles.get("minimal"))
    finally:
        manager.engine.close()


def run_async(fn, *args):
    """``asyncio.run(fn(*args))`` in a thread of its own: Playwright's sync API keeps an event
    loop running in this thread while the browser is open."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(fn(*args))).result()


# pytest-jupyter's autouse fixtures would pick up Playwright's running loop (and close it);
# these tests start their own server, so they need neither.
@pytest.fixture
def jp_asyncio_loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture
def jp_server_cleanup():
    yield


# --- the lab server ---------------------------------------------------------------------------


@dataclass
class LabServer:
    url: str  # http://127.0.0.1:PORT/
    token: str
    owner: str
    dataset_dir: Path
    log: Path
    process: subprocess.Popen = field(repr=False)

    @property
    def lab_url(self) -> str:
        """The lab, logged in by the token, with a default layout (``reset``: nothing restored
        from an earlier test's page)."""
        return f"{self.url}lab?reset&token={self.token}"

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        """Call the launcher's REST API as the lab's user."""
        return self.api_root(method, f"workspace-launcher/api/{path}", **kwargs)

    def api_root(self, method: str, path: str, **kwargs) -> requests.Response:
        """Call any of the server's own APIs (``api/kernels``...) as the lab's user."""
        return requests.request(
            method, f"{self.url}{path}", headers={"Authorization": f"token {self.token}"}, timeout=30, **kwargs
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: A profile with a demo notebook that builds in seconds: the packaged Minimal context (cached
#: by the ``minimal_image`` build), declared with a demo as a framework profile declares one.
DEMO_PROFILE = "minimal-demo"


def demo_profile() -> dict:
    from workspace_launcher.catalog.profiles import PACKAGED_IMAGES_DIR

    return {"context_dir": str(PACKAGED_IMAGES_DIR / "minimal"), "display_name": "Minimal with a demo",
            "framework": "numpy", "default_shm_size": "256m", "demo": "object-detection-train.ipynb"}


#: A profile whose build fails the way a pip install does (40 lines, then pip's error), with a
#: stated build estimate: never built, so the dialog always says what its build would take.
BROKEN_PROFILE = "wltest-broken-build"
BROKEN_BUILD_ERROR = "ERROR: No matching distribution found for torch==9.9"


def broken_profile(tmp: Path) -> dict:
    context = tmp / "broken-profile"
    context.mkdir(exist_ok=True)
    (context / "Dockerfile").write_text(
        "ARG JUPYTER_IMAGE\nFROM ${JUPYTER_IMAGE}\nRUN sleep 4\n"  # long enough for the toast to show it
        # The version comes from a subshell, so the error line differs from the command's text.
        'RUN for i in $(seq 1 40); do echo "Collecting package-$i"; done; '
        f'echo "{BROKEN_BUILD_ERROR.replace("9.9", "$(echo 9.9)")}"; exit 1\n'
    )
    return {"context_dir": str(context), "display_name": "Broken build", "framework": "numpy",
            "default_shm_size": "256m", "build_estimate": {"minutes": 3, "size": "700m"}}


def _server_config(tmp: Path, owner: str, dataset_root: Path) -> str:
    settings = {
        "DatasetCatalog.allowed_roots": [str(dataset_root)],
        "DatasetCatalog.datasets": {
            "demo": {"path": str(dataset_root / "demo"), "description": "a small demo dataset"},
        },
        "DatasetCatalog.registry_file": str(tmp / "datasets.json"),
        "DatasetCatalog.managed_root": str(tmp / "managed-datasets"),
        "GpuAllocator.lock_path": str(tmp / "gpus.lock"),
        "GpuAllocator.max_gpus_per_workspace": 1,
        "GpuInventory.declared_gpus": FAKE_GPUS,
        "ProfileRegistry.extra_profiles": {DEMO_PROFILE: demo_profile(), BROKEN_PROFILE: broken_profile(tmp)},
        "WorkspaceLauncherApp.owner": owner,
    }
    if os.path.isfile(CA_BUNDLE):
        settings["ImageBuilder.extra_ca_bundle"] = CA_BUNDLE
    return "".join(f"c.{key} = {value!r}\n" for key, value in settings.items())


@contextlib.contextmanager
def running_lab(tmp: Path, owner: str, *, url_host: str = "127.0.0.1", settings: dict | None = None):
    """A ``jupyter lab`` of its own (config, data, runtime directories), reached at
    ``http://<url_host>:<port>/``; its log is kept as an artefact when it stops."""
    token = secrets.token_hex(24)
    port = _free_port()

    dataset_root = tmp / "datasets"
    (dataset_root / "demo").mkdir(parents=True)
    (dataset_root / "demo" / "README.txt").write_text("read-only demo data\n")
    os.chmod(dataset_root, 0o755)
    root_dir = tmp / "root"
    root_dir.mkdir()
    config_dir = tmp / "config"
    config_dir.mkdir()
    config = _server_config(tmp, owner, dataset_root) + "".join(f"c.{k} = {v!r}\n" for k, v in (settings or {}).items())
    (config_dir / "jupyter_server_config.py").write_text(config)
    # The host lab's news prompt, answered "No" in advance as a user setting (the workspaces' labs
    # never ask: their image's settings overrides answer it; assert_no_news_prompt checks).
    news = config_dir / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}\n')

    env = dict(os.environ)
    for name in ("WORKSPACE_LAUNCHER_SERVER_URL", "WORKSPACE_LAUNCHER_SERVER_TOKEN", "JUPYTER_PATH"):
        env.pop(name, None)  # the widget test checks the kernel finds its server by itself
    env.update(
        # The lab extension and the server extension's enabling config live under sys.prefix,
        # which stays on Jupyter's paths; these only isolate the user-level directories.
        JUPYTER_CONFIG_DIR=str(config_dir),
        JUPYTER_DATA_DIR=str(tmp / "data"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        IPYTHONDIR=str(tmp / "ipython"),
        PYTHONUNBUFFERED="1",
    )
    args = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.token={token}",
        f"--ServerApp.root_dir={root_dir}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")

    log = tmp / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(args, env=env, cwd=root_dir, stdout=out, stderr=subprocess.STDOUT)
    server = LabServer(
        url=f"http://{url_host}:{port}/", token=token, owner=owner, dataset_dir=dataset_root / "demo",
        log=log, process=process,
    )
    try:
        _wait_until_up(server)
        yield server
    finally:
        _stop(process)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log, ARTIFACTS / f"lab-server-{tmp.name}.log")


@pytest.fixture(scope="package")
def lab_server(tmp_path_factory, docker_client, minimal_image):
    owner = f"wltest-browser-{secrets.token_hex(3)}"
    try:
        with running_lab(tmp_path_factory.mktemp("lab"), owner) as server:
            yield server
    finally:
        found = check_and_sweep(docker_client, owner)
    assert not found, f"the browser tests left these behind (now removed): {found}"


def _wait_until_up(server: LabServer, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            pytest.fail(f"jupyter lab exited with {server.process.returncode}:\n{server.log.read_text()[-4000:]}")
        try:
            answer = requests.get(
                f"{server.url}api/status", headers={"Authorization": f"token {server.token}"}, timeout=5
            )
            if answer.status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"jupyter lab did not answer in {timeout:.0f} s:\n{server.log.read_text()[-4000:]}")
        time.sleep(0.2)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # a clean stop: kernels are shut down too
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- the browser ------------------------------------------------------------------------------


@pytest.fixture(scope="package")
def browser(tmp_path_factory):
    """A fresh Chromium profile (Playwright's persistent context), headless."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (never `playwright install`)")

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
        )
        context.set_default_timeout(UI_TIMEOUT)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def lab(request, browser, lab_server):
    """A page with the host JupyterLab open on its launcher (no news prompt)."""
    before = set(browser.pages)
    page = browser.new_page()
    open_lab(page, lab_server.lab_url, news_timeout=0)
    page.locator(".jp-Launcher").wait_for(state="visible")
    yield page
    if _failed(request):
        save_failure_screenshots(request, browser)
    for opened in browser.pages:  # the pages this test opened (tabs included)
        if opened not in before and not opened.is_closed():
            close_page(opened)


def close_page(page) -> None:
    """Close a page once it rests on about:blank: Chromium can drop a close that races a
    navigation's commit, and ``page.close()`` then waits forever (playwright#41900). Pages here
    navigate across origins (host, handshake, workspace) and JupyterLab keeps loading."""
    try:
        page.goto("about:blank", timeout=10_000)
    except PlaywrightError:  # closed meanwhile, or still stuck: close it all the same
        pass
    page.close()


def save_failure_screenshots(request, context) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^\w.-]+", "_", request.node.name)
    for n, page in enumerate(p for p in context.pages if not p.is_closed()):
        try:
            page.screenshot(path=str(ARTIFACTS / f"failure-{name}-{n}.png"))
        except PlaywrightError as e:  # a screenshot must never hide the test's own failure
            print(f"could not save a screenshot of {page.url}: {e}")


# --- helpers the tests share ------------------------------------------------------------------


def open_lab(page, url: str | None = None, *, timeout: float = UI_TIMEOUT, news_timeout: float = 15_000) -> None:
    """(Load and) wait until a JupyterLab's shell is up, then check that it asks no news question."""
    if url is not None:
        page.goto(url)
    page.locator("#jp-main-dock-panel").wait_for(state="visible", timeout=timeout)
    assert_no_news_prompt(page, timeout=news_timeout)


def assert_no_news_prompt(page, timeout: float = 15_000) -> None:
    """Assert that JupyterLab does not ask about its news feed, which it does soon after it
    starts unless answered in advance: the workspace image's settings overrides answer it
    (images/jupyter), the host lab's user settings here. Waits ``timeout`` ms for the prompt
    to show (0: only checks that it is not there now)."""
    toast = page.locator(".Toastify__toast").filter(has_text="official Jupyter news")
    try:
        toast.wait_for(state="visible", timeout=timeout or 1)
    except PlaywrightError:  # a TimeoutError: no prompt, as it should be
        return
    raise AssertionError(f"JupyterLab at {page.url} asked about its news feed: {toast.first.inner_text()!r}")


def by_id(page, value: str):
    return page.get_by_test_id(value)


def screenshot(target, name: str, **kwargs) -> Path:
    """Save a page or locator screenshot as a test artefact; also as the README's copy only when
    asked (scripts/refresh-screenshots.sh), so a test run never changes the tree."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    target.screenshot(path=str(path), animations="disabled", **kwargs)
    if os.environ.get("WORKSPACE_LAUNCHER_REFRESH_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SCREENSHOTS / name)
    return path
