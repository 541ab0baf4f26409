"""The broker for real: ``workspace-launcher broker`` as root on a Unix socket, called by real OS
users (made for the run) from their own processes, each known by the kernel's peer credentials.

The callers run the system's Python with only the standard library, as the user: what a user's
own Jupyter server or a script of theirs can do, and nothing more.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import secrets
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
API = "/workspace-launcher/api/"

#: One HTTP request over the broker's socket, as the user running it; prints status and body.
CALLER = r"""
import http.client, json, socket, sys
class UnixConnection(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(sys.argv[1])
connection = UnixConnection("localhost")
try:
    connection.request(sys.argv[2], sys.argv[3], body=sys.argv[4] or None,
                       headers={"Content-Type": "application/json"})
except PermissionError as e:
    print(json.dumps({"status": "EACCES", "body": str(e)}))
    sys.exit(0)
response = connection.getresponse()
print(json.dumps({"status": response.status, "body": response.read().decode()}))
"""


@pytest.fixture(scope="module")
def os_users(test_owner):
    """Two OS users and a group holding both, named after the run's owner (so what they make is
    the run's, and checked for leftovers), removed at the end."""
    if os.geteuid() != 0:
        pytest.fail("the broker's tests make OS users and run the broker as root (scripts/test.sh runs the suite as root)")
    alice, bob, team = f"{test_owner}-alice", f"{test_owner}-bob", f"{test_owner}-team"
    subprocess.run(["groupadd", team], check=True)
    for name in (alice, bob):
        subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", "-G", team, name], check=True)
    yield alice, bob, team
    for name in (alice, bob):
        subprocess.run(["userdel", name], check=False)
    subprocess.run(["groupdel", team], check=False)


class Broker:
    def __init__(self, socket_path: Path, log: Path, process: subprocess.Popen) -> None:
        self.socket, self.log, self.process = socket_path, log, process

    def call(self, user: str, method: str, path: str, body: dict | None = None) -> tuple[object, object]:
        """(status, JSON body or text) of one request made by a process of ``user``; ``path`` is
        below the REST API's, or from the root when it starts with a slash."""
        entry = pwd.getpwnam(user)
        done = subprocess.run(
            ["/usr/bin/python3", "-c", CALLER, str(self.socket), method, path if path.startswith("/") else API + path, json.dumps(body) if body else ""],
            user=entry.pw_uid, group=entry.pw_gid, extra_groups=os.getgrouplist(user, entry.pw_gid),
            capture_output=True, text=True, timeout=120, cwd="/",
        )
        assert done.returncode == 0, done.stderr
        answer = json.loads(done.stdout)
        try:
            return answer["status"], json.loads(answer["body"])
        except ValueError:
            return answer["status"], answer["body"]

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])


@pytest.fixture(scope="module")
def broker(os_users, session_config, minimal_image, tmp_path_factory):
    _, _, team = os_users
    directory = Path(f"/run/wltest-broker-{secrets.token_hex(3)}")  # every user can reach /run
    socket_path = directory / "broker.sock"
    config_dir = tmp_path_factory.mktemp("broker-config")
    lines = [f"c.{section}.{key} = {value!r}" for section, values in session_config.items() for key, value in values.items()]
    (config_dir / "jupyter_server_config.py").write_text("\n".join(lines) + "\n")
    log = config_dir / "broker.log"
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(config_dir), JUPYTER_RUNTIME_DIR=str(config_dir / "runtime"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "workspace_launcher", "broker", f"--ServerApp.sock={socket_path}",
             "--ServerApp.sock_mode=0660", f"--BrokerServer.socket_group={team}"],
            cwd=str(ROOT), env=env, stdout=out, stderr=subprocess.STDOUT)
    broker = Broker(socket_path, log, process)
    deadline = time.monotonic() + 60
    while not socket_path.exists() or "is running at" not in broker.log.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the broker did not start:\n{broker.log_tail()}")
        time.sleep(0.2)
    time.sleep(0.5)
    yield broker
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
    shutil.rmtree(directory, ignore_errors=True)


def wait_running(broker: Broker, user: str, workspace_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status, workspace = broker.call(user, "GET", f"workspaces/{workspace_id}")
        assert status == 200, (status, workspace)
        if workspace["status"] in ("running", "failed"):
            return workspace
        assert time.monotonic() < deadline, f"still {workspace['status']}:\n{broker.log_tail()}"
        time.sleep(0.5)


def test_the_socket_is_the_admins_to_open(broker, os_users):
    _, _, team = os_users
    info = broker.socket.stat()
    assert stat.S_ISSOCK(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o660
    assert info.st_gid == grp.getgrnam(team).gr_gid
    directory = broker.socket.parent.stat()
    assert directory.st_uid == 0 and stat.S_IMODE(directory.st_mode) == 0o755
    status, body = broker.call("nobody", "GET", "profiles")  # not in the socket's group
    assert status == "EACCES", body


def test_each_user_is_the_owner_the_kernel_names(broker, os_users):
    alice, bob, _ = os_users
    status, body = broker.call(alice, "POST", "workspaces", {"profile": "minimal", "name": "mine", "owner": bob})
    assert status == 400 and "unknown fields ['owner']" in body["message"], body
    status, body = broker.call(alice, "POST", "workspaces", {"profile": "minimal", "privileged": True})
    assert status == 400 and "privileged" in body["message"], body

    status, launched = broker.call(alice, "POST", "workspaces", {"profile": "minimal", "name": "mine"})
    assert status == 202, launched
    workspace_id = launched["id"]
    try:
        assert launched["owner"] == alice
        assert wait_running(broker, alice, workspace_id)["status"] == "running", broker.log_tail()
        status, listed = broker.call(alice, "GET", "workspaces")
        assert status == 200 and [w["id"] for w in listed] == [workspace_id]
        status, listed = broker.call(bob, "GET", "workspaces")
        assert status == 200 and listed == []
        for method, path in (("GET", f"workspaces/{workspace_id}"), ("POST", f"workspaces/{workspace_id}/stop"),
                             ("DELETE", f"workspaces/{workspace_id}"), ("GET", f"workspaces/{workspace_id}/logs")):
            status, body = broker.call(bob, method, path)
            assert status == 404, (method, path, status, body)
        assert wait_running(broker, alice, workspace_id)["status"] == "running"  # bob's stop did nothing
        # Root is an admin: it sees everyone's workspaces and may stop them (not delete them).
        status, listed = broker.call("root", "GET", "workspaces")
        assert status == 200 and workspace_id in [w["id"] for w in listed]
        status, stopped = broker.call("root", "POST", f"workspaces/{workspace_id}/stop")
        assert status == 200 and stopped["status"] == "stopped", stopped
        status, body = broker.call("root", "DELETE", f"workspaces/{workspace_id}")
        assert status == 404, body
        status, seen = broker.call(alice, "GET", f"workspaces/{workspace_id}")
        assert status == 200 and seen["status"] == "stopped"
    finally:
        status, body = broker.call(alice, "DELETE", f"workspaces/{workspace_id}?purge=true")
        assert status == 204, body


def test_nothing_of_jupyter_server_that_runs_code_is_served(broker, os_users):
    alice, _, _ = os_users
    for path in ("/api/kernels", "/api/contents", "/api/terminals", "/api/sessions", "/lab", "/login"):
        status, body = broker.call(alice, "GET", path)
        assert status in (403, 404), (path, status, body)
    status, body = broker.call(alice, "POST", "/api/kernels", {"name": "python3"})
    assert status in (403, 404), body
