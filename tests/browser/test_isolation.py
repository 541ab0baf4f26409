"""A hostile workspace against the owner's browser, in a real Chromium: every payload a
workspace's code can write without privilege (a page under a lab extension folder, a trusted
notebook whose saved output holds a script, a service worker asking for scope ``/``, a server
setting that adds ``Clear-Site-Data`` to every response), opened as the logged-in owner would.

On its own origin (the default) the workspace's pages reach nothing of the host and no other
workspace. The same payload under the admin's same-origin opt-in shows what that opt-in gives
up: there it reads the host's cookies and starts a kernel on the host.
"""

from __future__ import annotations

import json
import secrets
import time
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from . import payloads
from .conftest import LAUNCH_TIMEOUT, UI_TIMEOUT, close_page, open_lab, running_lab

pytestmark = [pytest.mark.integration, pytest.mark.browser]

EVIL_PAGE = "lab/extensions/evil/static/evil.html"
SW_PAGE = "lab/extensions/evil/static/sw.html"


def launch(server, name: str) -> dict:
    answer = server.api("POST", "workspaces", json={"profile": "minimal", "name": name})
    assert answer.status_code == 202, answer.text
    return answer.json()


def wait_running(server, workspace_id: str) -> dict:
    deadline = time.monotonic() + LAUNCH_TIMEOUT / 1000
    while True:
        workspace = server.api("GET", f"workspaces/{workspace_id}").json()
        if workspace["status"] == "running":
            return workspace
        assert workspace["status"] in ("pending", "building", "starting"), workspace
        assert time.monotonic() < deadline, workspace
        time.sleep(0.3)


def prefix(workspace_id: str) -> str:
    return f"/workspace-launcher/workspaces/{workspace_id}/"


def origin(server, workspace_id: str) -> str:
    return f"http://{workspace_id}.localhost:{urlsplit(server.url).port}"


def results(page) -> dict:
    pre = page.locator("#wl-attack")
    expect(pre).to_be_attached(timeout=UI_TIMEOUT)
    return json.loads(pre.text_content())


def host_state(server) -> dict:
    """What the attack must not change on the host, as the host's own API tells it."""
    return {
        "kernels": sorted(k["id"] for k in server.api_root("GET", "api/kernels").json()),
        "terminals": sorted(t["name"] for t in server.api_root("GET", "api/terminals").json()),
        "workspaces": sorted(w["id"] for w in server.api("GET", "workspaces").json()),
    }


def kernels_inside(container, workspace_id: str) -> list:
    """The kernels a workspace's own Jupyter runs, asked from inside it with its token."""
    code = ("import json, os, urllib.request; r = urllib.request.Request("
            f"'http://127.0.0.1:8888{prefix(workspace_id)}api/kernels', "
            "headers={'Authorization': 'token ' + os.environ['JUPYTER_TOKEN']}); "
            "print(json.dumps(sorted(k['id'] for k in json.load(urllib.request.urlopen(r)))))")
    result = container.exec_run(["python", "-c", code])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def assert_nothing_reached(found: dict) -> None:
    for credentials in ("include", "omit"):
        for name, outcome in found[credentials].items():
            # A cross-origin read fails outright; a blind (no-cors) one is opaque: its effects are
            # checked on the host and in the other workspace afterwards.
            assert "error" in outcome or outcome["type"] == "opaque", (credentials, name, outcome)
    assert found["hostSocket"] == "refused" and found["otherSocket"] == "refused", found


@pytest.fixture(scope="module")
def hostile(lab_server, docker_client):
    """Two workspaces of the owner: ``evil`` carries the payloads (and restarts with its hostile
    server setting), ``other`` is what it tries to reach."""
    evil, other = launch(lab_server, f"evil-{secrets.token_hex(2)}"), launch(lab_server, f"other-{secrets.token_hex(2)}")
    try:
        wait_running(lab_server, evil["id"]), wait_running(lab_server, other["id"])
        container = docker_client.containers.get(f"workspace-launcher-{evil['id']}")
        other_url = origin(lab_server, other["id"]) + prefix(other["id"])
        assert container.exec_run(["mkdir", "-p", payloads.STATIC_DIR, "/home/jovyan/.jupyter"]).exit_code == 0
        container.put_archive(payloads.STATIC_DIR, payloads.tar_of({
            "evil.html": payloads.attack_page(lab_server.url, other_url),
            "sw.html": payloads.SERVICE_WORKER_PAGE,
            "sw.js": payloads.SERVICE_WORKER,
        }))
        container.put_archive("/home/jovyan/.jupyter", payloads.tar_of({"jupyter_server_config.py": payloads.server_config()}))
        container.put_archive("/home/jovyan/work", payloads.tar_of({"evil.ipynb": payloads.attack_notebook(lab_server.url, other_url)}))
        signed = container.exec_run(["jupyter", "trust", payloads.NOTEBOOK], user="1000")
        assert signed.exit_code == 0 and b"Signing notebook" in signed.output, signed.output
        # Restart, so the workspace's Jupyter answers with the hostile headers from now on.
        assert lab_server.api("POST", f"workspaces/{evil['id']}/stop").status_code == 200
        assert lab_server.api("POST", f"workspaces/{evil['id']}/start").status_code == 200
        yield evil["id"], other["id"]
    finally:
        for workspace in (evil, other):
            lab_server.api("DELETE", f"workspaces/{workspace['id']}", params={"purge": "true"})


def open_workspace(page, server, workspace_id: str, path: str = "lab") -> None:
    page.goto(f"{server.url}workspace-launcher/open/{workspace_id}?path={path}")


def test_a_hostile_workspace_reaches_nothing_from_its_own_origin(lab, lab_server, browser, hostile, docker_client):
    evil_id, other_id = hostile
    host_cookies = {c["name"]: c["value"] for c in browser.cookies(lab_server.url)}
    assert "_xsrf" in host_cookies and any(name.startswith("username-") for name in host_cookies)
    before = host_state(lab_server)
    other_container = docker_client.containers.get(f"workspace-launcher-{other_id}")
    other_kernels = kernels_inside(other_container, other_id)

    page = browser.new_page()
    # The owner has the other workspace open too: its session cookie is in this browser.
    open_workspace(page, lab_server, other_id, "api/status")
    assert page.url.startswith(origin(lab_server, other_id))

    # 1. A page under a lab extension folder.
    open_workspace(page, lab_server, evil_id, EVIL_PAGE)
    assert page.url == origin(lab_server, evil_id) + prefix(evil_id) + EVIL_PAGE
    found = results(page)
    assert found["origin"] == origin(lab_server, evil_id)
    for name, value in host_cookies.items():
        assert f"{name}={value}" not in found["cookie"], name
    assert "workspace-launcher-session" not in found["cookie"]  # HttpOnly
    assert found["referrer"] == "" and lab_server.token not in json.dumps(found)
    assert_nothing_reached(found)

    # 2. A trusted notebook whose saved output holds the same script, opened in the workspace's lab.
    open_workspace(page, lab_server, evil_id, "lab/tree/evil.ipynb")
    open_lab(page)
    notebook_found = results(page)
    assert notebook_found["origin"] == origin(lab_server, evil_id)  # the script did run: trusted
    assert_nothing_reached(notebook_found)

    # 3. A service worker asking for the whole origin (its Service-Worker-Allowed: / never arrives).
    open_workspace(page, lab_server, evil_id, SW_PAGE)
    registrations = results(page)
    assert registrations["/"].startswith("refused"), registrations
    assert registrations["./"] == f"registered {origin(lab_server, evil_id)}{prefix(evil_id)}lab/extensions/evil/static/"

    # Nothing changed on the host or in the other workspace; the host's pages and cookies are intact.
    assert host_state(lab_server) == before
    assert kernels_inside(other_container, other_id) == other_kernels
    assert {c["name"]: c["value"] for c in browser.cookies(lab_server.url)} == host_cookies
    assert lab.evaluate("navigator.serviceWorker.getRegistrations().then(r => r.length)") == 0
    lab.reload()  # the host's own JupyterLab still answers /lab (no worker in between)
    open_lab(lab, news_timeout=0)
    # The login page (logged in, it sends the browser on to `next`): the host's, not a worker's.
    page.goto(f"{lab_server.url}login?next=/api/status")
    assert page.url == f"{lab_server.url}api/status" and '"started"' in page.content()
    # Clear-Site-Data never reached the browser: the workspace's own session still works too.
    page.goto(origin(lab_server, evil_id) + prefix(evil_id) + "api/status")
    assert '"started"' in page.content()
    close_page(page)


def test_host_tokens_and_codes_stay_out_of_workspaces(lab, lab_server, browser, hostile, docker_client):
    evil_id, _ = hostile
    page = browser.new_page()
    codes = []
    page.on("request", lambda r: "/workspace-launcher/session?code=" in r.url and codes.append(r.url))
    # Opened with the host's token in the URL: the workspace's page sees neither it nor a Referer.
    page.goto(f"{lab_server.url}workspace-launcher/open/{evil_id}?path={EVIL_PAGE}&token={lab_server.token}")
    found = results(page)
    assert found["referrer"] == "" and lab_server.token not in json.dumps(found)
    # A workspace URL carrying a token is sent on without it before the workspace sees it.
    page.goto(origin(lab_server, evil_id) + prefix(evil_id) + EVIL_PAGE + f"?token={lab_server.token}")
    assert page.url == origin(lab_server, evil_id) + prefix(evil_id) + EVIL_PAGE
    assert lab_server.token not in json.dumps(results(page))
    logs = docker_client.containers.get(f"workspace-launcher-{evil_id}").logs().decode()
    assert lab_server.token not in logs
    # The code of that handshake, replayed: refused.
    assert len(codes) == 1 and lab_server.token not in codes[0]
    answer = page.goto(codes[0])
    assert answer.status == 403
    expect(page.locator("body")).to_contain_text("already used")
    close_page(page)


@pytest.fixture(scope="module")
def same_origin_lab(tmp_path_factory, lab_server, hostile):
    """The same owner's server with the admin's same-origin opt-in, reached at localhost (its
    cookies apart from the main server's, which is reached at 127.0.0.1)."""
    with running_lab(tmp_path_factory.mktemp("same-origin-lab"), lab_server.owner, url_host="localhost",
                     settings={"WorkspaceOrigins.same_origin": True}) as server:
        yield server


def test_the_same_origin_opt_in_gives_the_host_away(browser, same_origin_lab, hostile, docker_client):
    """What every workspace could do before workspaces had origins of their own, and what the
    opt-in still allows: the payload reads the host's cookies and starts a kernel on the host."""
    evil_id, _ = hostile
    server = same_origin_lab
    container = docker_client.containers.get(f"workspace-launcher-{evil_id}")
    container.put_archive(payloads.STATIC_DIR, payloads.tar_of({"evil-same-origin.html": payloads.attack_page(server.url, server.url)}))
    page = browser.new_page()
    before = host_state(server)
    try:
        page.goto(f"{server.url}workspace-launcher/workspaces/{evil_id}/lab/extensions/evil/static/evil-same-origin.html?token={server.token}")
        found = results(page)
        assert found["origin"] == server.url.rstrip("/")  # the host's own origin
        host_cookies = {c["name"]: c["value"] for c in browser.cookies(server.url)}
        assert f"_xsrf={host_cookies['_xsrf']}" in found["cookie"]
        assert found["include"]["kernels"]["status"] == 200
        assert found["include"]["startKernel"]["status"] == 201, found["include"]["startKernel"]
        assert found["include"]["workspaces"]["status"] == 200 and server.owner in found["include"]["workspaces"]["body"]
        started = set(host_state(server)["kernels"]) - set(before["kernels"])
        assert started, "the payload started a kernel on the host"
    finally:
        for kernel in set(host_state(server)["kernels"]) - set(before["kernels"]):
            server.api_root("DELETE", f"api/kernels/{kernel}")
        close_page(page)
