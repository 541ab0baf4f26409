"""Faults, on the second engine (``engine2``: the suite's main engine is never stopped), through a
real host server's REST API and proxy:

- the engine stops: every REST route that needs it answers 503 JSON saying what to do, the
  proxy answers a 503 page; the engine comes back: the workspace is listed as stopped, and a
  start gives it the same GPU and the same files;
- a workspace whose Jupyter exits before it is ready fails at once, with the log tail;
- a workspace killed by the kernel's OOM killer shows ``stopped`` with "out of memory" and
  frees its GPU;
- a build that fails inside a launch ends ``failed`` with the build log's tail, leaving no
  container, volume, image or GPU reservation.
"""

from __future__ import annotations

import textwrap
import time

import docker
import docker.errors
import pytest

from .engine2 import holding_gpus, process_env
from .host_servers import BUILD_MARKER, EXIT_MARKER, LAUNCH_TIMEOUT, nothing_left_behind, remove_model_volumes

pytestmark = pytest.mark.integration

#: What every engine-down answer must tell the user to do.
FIX_HINTS = ("start it", "workspace-launcher doctor")


@pytest.fixture
def server(e2_hosts):
    """One of the second engine's host servers (with the misbehaving test profiles)."""
    return e2_hosts[0]


@pytest.fixture
def e2(e2_client):
    return e2_client


@pytest.fixture
def clean(request, e2, e2_hosts):
    images_before = {i.id for i in e2.images.list(all=True)}
    failed_before = request.session.testsfailed
    with nothing_left_behind(request, e2, [s.owner for s in e2_hosts]):
        yield
    # The test profiles' images are the test's own: removed; nothing else may be left.
    for image in e2.images.list(name="workspace-launcher/wltest-*"):
        e2.images.remove(image.id, force=True)
    left = {i.id for i in e2.images.list(all=True)} - images_before
    if request.session.testsfailed == failed_before:
        assert not left, f"images left on the engine: {left}"


def launched(server, **body) -> str:
    answer = server.launch(**body)
    assert answer.status_code == 202, answer.text
    return answer.json()["id"]


def assert_gpus_free(server, e2) -> None:
    assert all(holders == [] for holders in server.gpu_holders().values()), server.gpu_holders()
    assert holding_gpus(e2) == {}


def assert_nothing_of(workspace_id: str, e2) -> None:
    assert e2.containers.list(all=True, filters={"label": f"workspace-launcher.id={workspace_id}"}) == []
    assert e2.volumes.list(filters={"name": f"workspace-launcher-work-{workspace_id}"}) == []


# -- the engine stops, and comes back ----------------------------------------------------------
def test_engine_down_then_back(server, engine2, e2, clean):
    workspace_id = launched(server, profile="minimal", gpus=1)
    try:
        workspace = server.wait_settled(workspace_id)
        assert workspace["status"] == "running", workspace
        gpu = workspace["gpus"][0]
        session = server.open_session(workspace_id)
        # A file written through the proxy (as JupyterLab saves one) and one by docker exec.
        saved = server.proxied(workspace_id, session, "PUT", "api/contents/kept.txt",
                               json={"type": "file", "format": "text", "content": "written before the outage"})
        assert saved.status_code in (200, 201), saved.text
        container = e2.containers.get(f"workspace-launcher-{workspace_id}")
        assert container.exec_run(["sh", "-c", "echo by-exec > /home/jovyan/work/exec.txt"], user="1000").exit_code == 0

        engine2.stop()
        try:
            time.sleep(2.5)  # past the proxy's cached connection (connections.CONNECTION_TTL)
            # -- every REST route that needs the engine: 503 JSON naming the fix -------------
            routes = [
                ("GET", "profiles", None), ("GET", "gpus", None), ("GET", "workspaces", None),
                ("POST", "workspaces", {"profile": "minimal", "gpus": 1}),
                ("GET", f"workspaces/{workspace_id}", None), ("GET", f"workspaces/{workspace_id}/logs", None),
                ("POST", f"workspaces/{workspace_id}/stop", None), ("POST", f"workspaces/{workspace_id}/start", None),
                ("POST", f"workspaces/{workspace_id}/snapshot", {}), ("DELETE", f"workspaces/{workspace_id}", None),
            ]
            for method, path, body in routes:
                answer = server.api(method, path, json=body, timeout=30)
                assert answer.status_code == 503, (method, path, answer.status_code, answer.text)
                assert answer.headers["Content-Type"].startswith("application/json"), (method, path)
                message = answer.json()["message"]
                assert all(hint in message for hint in FIX_HINTS), (method, path, message)
            # What needs no engine still answers: the catalog and the API's own description.
            assert server.api("GET", "datasets").status_code == 200
            assert server.api("GET", "openapi.json").status_code == 200
            # -- the proxy: a 503 page (and 503 JSON for API calls), and the host's open URL ---
            page = server.proxied(workspace_id, session, "GET", "lab")
            assert page.status_code == 503 and page.headers["Content-Type"].startswith("text/html"), page.text
            assert "Docker engine" in page.text and "doctor" in page.text, page.text
            api = server.proxied(workspace_id, session, "GET", "api/contents/kept.txt")
            assert api.status_code == 503 and "Docker engine" in api.json()["message"], api.text
            opened = server.open(workspace_id)
            assert opened.status_code == 503 and "Docker engine" in opened.text, (opened.status_code, opened.text[:300])
        finally:
            engine2.start()

        # -- the engine is back: the workspace is stopped, its GPU free; start restores both --
        listed = {w["id"]: w for w in server.api("GET", "workspaces").json()}
        assert listed[workspace_id]["status"] == "stopped", listed[workspace_id]
        assert listed[workspace_id]["gpus"] == [gpu]
        assert_gpus_free(server, e2)
        started = server.api("POST", f"workspaces/{workspace_id}/start")
        assert started.status_code == 200, started.text
        assert started.json()["status"] == "running" and started.json()["gpus"] == [gpu]
        assert process_env(e2, f"workspace-launcher-{workspace_id}")["NVIDIA_VISIBLE_DEVICES"] == gpu
        assert server.gpu_holders()[gpu] == [workspace_id]
        # The old session was for the old start: refused; a new handshake reads the same files.
        assert server.proxied(workspace_id, session, "GET", "api/contents/kept.txt").status_code == 403
        session = server.open_session(workspace_id)
        kept = server.proxied(workspace_id, session, "GET", "api/contents/kept.txt")
        assert kept.status_code == 200 and kept.json()["content"] == "written before the outage", kept.text
        by_exec = e2.containers.get(f"workspace-launcher-{workspace_id}").exec_run(
            ["cat", "/home/jovyan/work/exec.txt"], user="1000")
        assert by_exec.output.decode().strip() == "by-exec"
    finally:
        if not engine2.answers():
            engine2.start()
        server.delete(workspace_id)
        remove_model_volumes(e2, [server.owner])


# -- a Jupyter that exits before it is ready -----------------------------------------------------
def test_a_jupyter_that_exits_before_it_is_ready_fails_fast_with_its_log(server, e2, clean):
    workspace_id = launched(server, profile="wltest-exits", gpus=1)
    try:
        # The image is built inside the launch first; the clock starts when Jupyter does.
        starting = server.wait_settled(workspace_id, statuses=("starting", "failed", "running"))
        started_at = time.monotonic()
        workspace = server.wait_settled(workspace_id)
        took = time.monotonic() - started_at
        assert workspace["status"] == "failed", workspace
        assert starting["status"] == "starting", starting
        assert took < 30, f"failed {took:.1f} s after Jupyter started (timeout {LAUNCH_TIMEOUT:g} s): not at once"
        assert "exited (code 7) before Jupyter was ready" in workspace["error"], workspace["error"]
        assert EXIT_MARKER in (workspace["log_tail"] or ""), workspace["log_tail"]
        logs = server.api("GET", f"workspaces/{workspace_id}/logs")
        assert logs.status_code == 200 and EXIT_MARKER in logs.json()["logs"]
        assert_nothing_of(workspace_id, e2)
        assert_gpus_free(server, e2)
    finally:
        server.delete(workspace_id)
        remove_model_volumes(e2, [server.owner])


# -- the OOM killer ------------------------------------------------------------------------------
OOM_SCRIPT = textwrap.dedent("""
    import os
    # Every other process of the workspace (tini, Jupyter) becomes the kernel's first choice;
    # raising a score needs no privilege. Then memory is taken until the cgroup's limit is hit.
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) != os.getpid():
            try:
                with open(f"/proc/{pid}/oom_score_adj", "w") as f:
                    f.write("1000")
            except OSError:
                pass
    hoard = []
    while True:
        hoard.append(b"x" * (4 << 20))
""")


def test_a_workspace_killed_for_memory_is_stopped_out_of_memory_and_frees_its_gpu(server, e2, clean):
    # 128 MiB, not 64: JupyterLab alone takes 60-75 MiB here, so at 64 MiB it is killed while
    # starting (the launch then fails, "exited (code 137) before Jupyter was ready").
    workspace_id = launched(server, profile="minimal", gpus=1, memory="128m", shm_size="16m")
    try:
        workspace = server.wait_settled(workspace_id)
        assert workspace["status"] == "running", workspace
        gpu = workspace["gpus"][0]
        assert server.gpu_holders()[gpu] == [workspace_id]
        container = e2.containers.get(f"workspace-launcher-{workspace_id}")
        assert container.attrs["HostConfig"]["Memory"] == 128 * 2**20
        try:
            container.exec_run(["python", "-c", OOM_SCRIPT], user="1000")
        except docker.errors.APIError:
            pass  # the exec dies with its container
        workspace = server.wait_settled(workspace_id, timeout=60, statuses=("stopped", "failed"))
        attrs = e2.api.inspect_container(container.id)
        assert attrs["State"]["OOMKilled"] is True and attrs["State"]["ExitCode"] == 137, attrs["State"]
        assert workspace["status"] == "stopped", workspace
        assert "out of memory (limit 128 MiB)" in workspace["message"], workspace["message"]
        assert_gpus_free(server, e2)
    finally:
        server.delete(workspace_id)
        remove_model_volumes(e2, [server.owner])


# -- a build that fails inside a launch ----------------------------------------------------------
def test_a_failing_build_ends_the_launch_failed_with_the_build_log(server, e2, clean):
    containers_before = {c.id for c in e2.containers.list(all=True)}
    workspace_id = launched(server, profile="wltest-broken", gpus=1)
    try:
        workspace = server.wait_settled(workspace_id)
        assert workspace["status"] == "failed", workspace
        assert "building profile 'wltest-broken' failed" in workspace["error"], workspace["error"]
        assert "returned a non-zero code: 3" in workspace["error"], workspace["error"]
        assert BUILD_MARKER in (workspace["log_tail"] or ""), workspace["log_tail"]
        assert_nothing_of(workspace_id, e2)
        # No model volume either: volumes are made after the image.
        assert e2.volumes.list(filters={"label": f"workspace-launcher.owner={server.owner}"}) == []
        assert {c.id for c in e2.containers.list(all=True)} == containers_before  # no build leftovers
        assert_gpus_free(server, e2)
    finally:
        server.delete(workspace_id)
