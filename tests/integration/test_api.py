"""The REST API on a real Jupyter server with the extension, against the real engine."""

from __future__ import annotations

import asyncio
import io
import json
import re

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from workspace_launcher.workspaces.manager import EVENT_SCHEMA_ID, WorkspaceManager
from workspace_launcher.workspaces.validation import owner_slug

from .conftest import labelled_snapshot, make_config, remove_images
from .openapi_check import check, spec
from .test_workspaces import FAKE_GPUS

API = ("workspace-launcher", "api")


@pytest.fixture
def launcher_config(dataset_root, tmp_path, test_owner):
    config = make_config(dataset_root, tmp_path, declared_gpus=FAKE_GPUS)
    config.GpuAllocator.max_gpus_per_workspace = 2
    config.WorkspaceLauncherApp.owner = test_owner
    return config


@pytest.fixture
def jp_server_config(launcher_config):
    config = launcher_config
    config.ServerApp.jpserver_extensions = {"workspace_launcher": True, "jupyter_server_terminals": True}
    return config


@pytest.fixture
def manager(jp_serverapp) -> WorkspaceManager:
    return jp_serverapp.web_app.settings["workspace_launcher_manager"]


async def fetch_error(jp_fetch, *parts, **kwargs):
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch(*parts, **kwargs)
    return info.value.response


def our_routes(jp_serverapp) -> list[str]:
    """The extension's routes on the host's origin (workspaces' origins: test_origins.py)."""
    patterns = []
    for rule in jp_serverapp.web_app.default_router.rules:
        host_pattern = getattr(rule.matcher, "host_pattern", None)
        if host_pattern is not None and host_pattern.pattern != ".*$":
            continue
        for inner in getattr(rule.target, "rules", []):
            pattern = inner.matcher.regex.pattern
            if "workspace-launcher" in pattern:
                patterns.append(pattern)
    return patterns


#: Plausible values for the route patterns' groups; the path parameters of openapi.json among them.
GROUP_VALUES = {"workspace_id": "0123456789ab", "tag": "wltest-tag", "action": "stop", "path": "/lab"}
PATH_PARAMETERS = ("workspace_id", "tag")


def concrete(pattern: str) -> str:
    """A request path that the route pattern matches, with plausible values for its groups."""
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)\??", lambda m: GROUP_VALUES.get(m.group(1), "x"), pattern)
    return path.rstrip("$").replace("\\", "")


async def test_every_route_refuses_unauthenticated_requests(jp_serverapp, http_server_client, jp_http_port, jp_base_url):
    routes = our_routes(jp_serverapp)
    assert any("/api/workspaces" in r for r in routes) and any("/workspaces/" in r and "/api/" not in r for r in routes)
    assert any("/workspace-launcher/open/" in r for r in routes)
    client = AsyncHTTPClient()
    for pattern in routes:
        url = f"http://127.0.0.1:{jp_http_port}{concrete(pattern)}"
        for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
            body = b"{}" if method in ("POST", "PUT", "PATCH") else None
            request = HTTPRequest(url, method=method, body=body, follow_redirects=False, allow_nonstandard_methods=True)
            response = await client.fetch(request, raise_error=False)
            if "/api/" in url or method != "GET":
                assert response.code == 403, f"{method} {url} answered {response.code} without authentication"
            else:
                assert response.code in (302, 403), f"{method} {url} answered {response.code}"
                if response.code == 302:
                    assert "/login" in response.headers["Location"]
        # The proxy's WebSocket upgrade, unauthenticated.
        if "/workspaces/" in pattern and "/api/" not in pattern:
            ws_url = url.replace("http://", "ws://")
            with pytest.raises(HTTPClientError) as info:
                await websocket_connect(ws_url)
            assert info.value.code == 403


async def test_every_route_is_documented(jp_serverapp, jp_base_url):
    documented = {re.sub(r"\{[^}]+\}", "X", p) for p in spec()["paths"]}
    prefix = f"{jp_base_url}workspace-launcher/api"
    for pattern in our_routes(jp_serverapp):
        path = concrete(pattern)
        if path.startswith(prefix):
            rest = path[len(prefix):]
            for name in PATH_PARAMETERS:
                rest = rest.replace(GROUP_VALUES[name], "X")
            if rest.endswith(("/stop", "/start", "/snapshot")) or rest in documented:
                continue
            assert rest in documented, f"{rest} is routed but not in openapi.json"


async def test_catalog_endpoints(jp_fetch, minimal_image):
    profiles = check(await jp_fetch(*API, "profiles"), "/profiles")
    minimal = next(p for p in profiles if p["name"] == "minimal")
    assert minimal["built"] is True and minimal["image"] == minimal_image.tag
    gpus = check(await jp_fetch(*API, "gpus"), "/gpus")
    assert [g["uuid"] for g in gpus["gpus"]] == [g["uuid"] for g in FAKE_GPUS]
    assert gpus["policy"]["max_gpus_per_workspace"] == 2 and gpus["source"] == "declared"
    # The choices the server computed under that policy, for the declared GPUs (four free NVIDIA).
    per_workspace = "the policy allows at most 2 GPUs per workspace"
    assert all(g["status"] == "free" for g in gpus["gpus"])
    assert all(g["pick_reasons"] == {"any": "", "nvidia": "", "amd": "this profile needs AMD GPUs"} for g in gpus["gpus"])
    assert gpus["owner_holds"] == 0
    assert gpus["max_gpus"] == {"any": 2, "nvidia": 2, "amd": 0}
    assert gpus["max_gpus_reason"] == {"any": per_workspace, "nvidia": per_workspace, "amd": "this host has no AMD GPUs"}
    assert gpus["count_reasons"]["nvidia"] == ["", "", "", per_workspace, per_workspace] == gpus["count_reasons"]["any"]
    assert gpus["count_reasons"]["amd"] == [""]
    assert (gpus["max_picked"], gpus["max_picked_reason"]) == (2, per_workspace)
    datasets = check(await jp_fetch(*API, "datasets"), "/datasets")
    assert datasets == [{"name": "demo", "description": "demo data", "mount_path": "/datasets/demo"}]
    document = json.loads((await jp_fetch(*API, "openapi.json")).body)
    assert document["openapi"].startswith("3.")


@pytest.mark.parametrize(
    "body,status,field,words",
    [
        ({"profile": "nope"}, 400, "profile", "unknown profile"),
        ({"profile": "minimal", "gpus": -1}, 400, "gpus", "gpus"),
        ({"profile": "minimal", "gpus": 3}, 400, "gpus", "2"),
        ({"profile": "minimal", "gpus": 9}, 400, "gpus", "4"),
        ({"profile": "minimal", "name": "../x"}, 400, "name", "lowercase"),
        ({"profile": "minimal", "datasets": ["nope"]}, 400, "datasets", "unknown dataset"),
        ({"profile": "minimal", "colour": "red"}, 400, "colour", "unknown fields"),
        ({"profile": "minimal", "gpus": 1}, 409, None, "workspace-launcher doctor"),
    ],
)
async def test_bad_launches_are_refused_with_the_field_to_fix(jp_fetch, manager, body, status, field, words, docker_client, test_owner):
    response = await fetch_error(jp_fetch, *API, "workspaces", method="POST", body=json.dumps(body))
    error = check(response, "/workspaces", "POST")
    assert response.code == status
    assert words in error["message"]
    if field:
        assert error["field"] == field
    assert [w for w in await manager.list(owner=test_owner) if w.status.value != "stopped"] == []


async def test_non_json_bodies_are_400(jp_fetch):
    for body in ("not json", "[1, 2]", ""):
        response = await fetch_error(jp_fetch, *API, "workspaces", method="POST", body=body, allow_nonstandard_methods=True)
        assert response.code == 400
        assert json.loads(response.body)["message"]


async def test_unknown_and_malformed_ids(jp_fetch, jp_base_url, jp_http_port, jp_auth_header):
    assert (await fetch_error(jp_fetch, *API, "workspaces", "0123456789ab")).code == 404
    for bad in ("..", "%2e%2e", "127.0.0.1:22"):
        response = await fetch_error(jp_fetch, *API, "workspaces", bad)
        assert response.code in (400, 404)
    # Sent as written (jp_fetch would encode the % again): the server decodes it to <script>.
    client = AsyncHTTPClient()
    url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}workspace-launcher/api/workspaces/%3Cscript%3Ealert(1)%3C%2Fscript%3E"
    for suffix in ("", "/logs", "/stop"):
        method = "POST" if suffix == "/stop" else "GET"
        response = await client.fetch(url + suffix, method=method, body=b"" if method == "POST" else None,
                                      headers=jp_auth_header, raise_error=False)
        assert response.code == 400, response.body
        assert json.loads(response.body)["field"] == "id"
        assert b"<script" not in response.body.lower() and b"alert" not in response.body


def deeply_nested(depth: int = 20_000) -> str:  # deep, yet under the body limit
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    "parts,method,params,body,field",
    [
        (("workspaces",), "POST", None, '{"profile": ' + deeply_nested() + "}", None),
        (("workspaces", "0123456789ab", "snapshot"), "POST", None, '{"tag": ' + deeply_nested() + "}", None),
        (("workspaces",), "POST", None, json.dumps({"profile": "minimal", "memory": "9" * 300}), "memory"),
        (("workspaces",), "POST", None, '{"profile": "minimal", "memory": ' + "9" * 300 + "}", "memory"),
        (("workspaces",), "POST", None, '{"profile": "minimal", "cpus": ' + "9" * 5000 + "}", None),
        (("workspaces",), "POST", None, json.dumps({"profile": "minimal", "memory": "1m"}), "memory"),
        (("workspaces",), "POST", None, json.dumps({"profile": "minimal", "memory": 2**64}), "memory"),
        (("workspaces",), "POST", None, json.dumps({"profile": "minimal", "shm_size": "99999t"}), "shm_size"),
        (("workspaces",), "POST", None, json.dumps({"profile": "minimal", "cpus": 1e-10}), "cpus"),
        (("workspaces",), "POST", None, '{"profile": "minimal", "cpus": 1e999}', "cpus"),
        (("workspaces", "0123456789ab", "logs"), "GET", {"tail": "²"}, None, "tail"),
        (("workspaces", "0123456789ab", "logs"), "GET", {"tail": "9" * 5000}, None, "tail"),
        (("workspaces", "0123456789ab", "logs"), "GET", {"tail": "0"}, None, "tail"),
    ],
)
async def test_hostile_input_is_a_4xx_naming_the_field(jp_fetch, manager, test_owner, docker_client, parts, method, params, body, field):
    response = await fetch_error(jp_fetch, *API, *parts, method=method, params=params or {}, body=body,
                                 allow_nonstandard_methods=True)
    assert response.code == 400, response.body[:300]
    answer = json.loads(response.body)
    assert answer["message"]
    assert answer.get("field") == field
    assert await manager.list(owner=test_owner) == []
    volumes = docker_client.volumes.list(filters={"label": [f"workspace-launcher.owner={test_owner}"]})
    assert [v.name for v in volumes if v.attrs["Labels"].get("workspace-launcher.role") != "models"] == []


async def test_bodies_over_the_limit_are_413(jp_fetch, manager, test_owner):
    big = json.dumps({"profile": "minimal", "name": "x" * (64 * 1024)})
    for parts in (("workspaces",), ("workspaces", "0123456789ab", "snapshot")):
        response = await fetch_error(jp_fetch, *API, *parts, method="POST", body=big)
        assert response.code == 413
        assert "64 KiB" in json.loads(response.body)["message"]
    assert await manager.list(owner=test_owner) == []
    # Just under the limit is read (and refused for its content, not its size).
    response = await fetch_error(jp_fetch, *API, "workspaces", method="POST",
                                 body=json.dumps({"profile": "minimal", "name": "x" * 60_000}))
    assert response.code == 400 and json.loads(response.body)["field"] == "name"


async def test_an_unknown_or_foreign_snapshot_is_refused_at_request_time(jp_fetch, manager, test_owner, docker_client, minimal_image):
    """Nothing is accepted and built in the background: the image holds another user's home."""
    foreign = "workspace-launcher/snapshot-someone-else:wltest-foreign"
    docker_client.images.build(
        fileobj=io.BytesIO(f"FROM {minimal_image.tag}\nLABEL workspace-launcher.role=snapshot "
                           "workspace-launcher.owner=someone-else\n".encode()),
        tag=foreign, rm=True,
    )
    try:
        for reference in ("workspace-launcher/snapshot-nobody:never", foreign, minimal_image.tag):
            response = await fetch_error(jp_fetch, *API, "workspaces", method="POST",
                                         body=json.dumps({"profile": "minimal", "snapshot": reference}))
            assert response.code == 404, reference
            assert json.loads(response.body)["field"] == "snapshot"
        assert await manager.list(owner=test_owner) == []
        assert docker_client.containers.list(all=True, filters={"label": [f"workspace-launcher.owner={test_owner}"]}) == []
    finally:
        docker_client.images.remove(foreign, force=True)


async def test_snapshots_are_listed_to_their_owner_only_and_deleted_by_tag(jp_fetch, test_owner, docker_client, minimal_image):
    mine = f"workspace-launcher/snapshot-{owner_slug(test_owner)}:wltest-listed"
    foreign = "workspace-launcher/snapshot-someone-else:wltest-foreign"
    labelled_snapshot(docker_client, minimal_image.tag, mine, test_owner)
    labelled_snapshot(docker_client, minimal_image.tag, foreign, "someone-else")
    try:
        listed = check(await jp_fetch(*API, "snapshots"), "/snapshots")
        assert [s["image"] for s in listed] == [mine]
        assert listed[0] | {"size_bytes": 0} == {
            "tag": "wltest-listed", "image": mine, "workspace_id": "0123456789ab", "workspace_name": "exp-1",
            "profile": "minimal", "created": "2026-12-03T06:00:00+00:00", "size_bytes": 0,
        }
        for tag, code in (("Not-A-Tag", 400), ("wltest-foreign", 404), ("wltest-never", 404)):
            response = await fetch_error(jp_fetch, *API, "snapshots", tag, method="DELETE")
            assert response.code == code, tag
            check(response, "/snapshots/{tag}", "DELETE")
        assert docker_client.images.get(foreign)  # another owner's is never touched
        response = await jp_fetch(*API, "snapshots", "wltest-listed", method="DELETE")
        assert response.code == 204
        assert check(await jp_fetch(*API, "snapshots"), "/snapshots") == []
        assert not docker_client.images.list(name=mine.split(":")[0])
    finally:
        remove_images(docker_client, mine, foreign)


async def subscribe(jp_ws_fetch):
    return await jp_ws_fetch("api", "events", "subscribe")


async def next_events(ws, workspace_id: str, until: set[str], timeout: float = 120) -> list[dict]:
    events = []
    async def read():
        while True:
            message = json.loads(await ws.read_message())
            if message.get("schema_id") == EVENT_SCHEMA_ID and message["workspace_id"] == workspace_id:
                events.append(message)
                if message["status"] in until:
                    return
    await asyncio.wait_for(read(), timeout)
    return events


async def test_launch_lifecycle_over_rest_with_events(jp_fetch, jp_ws_fetch, jp_base_url, manager, minimal_image, docker_client):
    ws = await subscribe(jp_ws_fetch)
    response = await jp_fetch(*API, "workspaces", method="POST", body=json.dumps({"profile": "minimal", "datasets": ["demo"], "name": "rest-1"}))
    workspace = check(response, "/workspaces", "POST")
    assert response.code == 202 and workspace["status"] == "pending"
    assert response.headers["Location"] == f"{jp_base_url}workspace-launcher/api/workspaces/{workspace['id']}"
    events = await next_events(ws, workspace["id"], {"running", "failed"})
    statuses = [e["status"] for e in events]
    assert statuses[0] == "pending" and statuses[-1] == "running", statuses
    assert statuses.index("starting") > statuses.index("pending")
    assert [e["progress"] for e in events] == sorted(e["progress"] for e in events)

    got = check(await jp_fetch(*API, "workspaces", workspace["id"]), f"/workspaces/{workspace['id']}")
    assert got["status"] == "running" and got["progress"] == 100
    assert got["url"] == f"{jp_base_url}workspace-launcher/open/{workspace['id']}"  # through the handshake
    listed = check(await jp_fetch(*API, "workspaces"), "/workspaces")
    assert [w["id"] for w in listed] == [workspace["id"]]
    gpus = check(await jp_fetch(*API, "gpus"), "/gpus")
    assert all(g["held_by"] == [] for g in gpus["gpus"])

    logs = check(await jp_fetch(*API, "workspaces", workspace["id"], "logs", params={"tail": "20"}), f"/workspaces/{workspace['id']}/logs")
    assert "Jupyter" in logs["logs"]
    assert (await fetch_error(jp_fetch, *API, "workspaces", workspace["id"], "logs", params={"tail": "-3"})).code == 400

    stopped = check(await jp_fetch(*API, "workspaces", workspace["id"], "stop", method="POST", body=""), f"/workspaces/{workspace['id']}/stop", "POST")
    assert stopped["status"] == "stopped"
    events = await next_events(ws, workspace["id"], {"stopped"})
    assert events[-1]["status"] == "stopped"
    started = check(await jp_fetch(*API, "workspaces", workspace["id"], "start", method="POST", body=""), f"/workspaces/{workspace['id']}/start", "POST")
    assert started["status"] == "running"

    response = await jp_fetch(*API, "workspaces", workspace["id"], "snapshot", method="POST", body=json.dumps({"tag": "wltest-rest"}))
    snapshot = check(response, f"/workspaces/{workspace['id']}/snapshot", "POST")
    assert response.code == 201 and snapshot["image"].endswith(":wltest-rest")
    bad_tag = await fetch_error(jp_fetch, *API, "workspaces", workspace["id"], "snapshot", method="POST", body=json.dumps({"tag": "../x"}))
    assert bad_tag.code == 400

    response = await jp_fetch(*API, "workspaces", workspace["id"], method="DELETE", params={"purge": "true"})
    assert response.code == 204
    assert (await fetch_error(jp_fetch, *API, "workspaces", workspace["id"])).code == 404
    events = await next_events(ws, workspace["id"], {"deleted"})
    assert events[-1]["status"] == "deleted"
    docker_client.images.remove(snapshot["image"])
    ws.close()


async def test_another_owners_workspace_is_invisible(jp_fetch, launcher_config, minimal_image, test_owner):
    other = WorkspaceManager(config=launcher_config)
    workspace = await other.launch(owner=f"{test_owner}-someone-else", profile="minimal")
    try:
        assert (await fetch_error(jp_fetch, *API, "workspaces", workspace.id)).code == 404
        assert (await fetch_error(jp_fetch, *API, "workspaces", workspace.id, "stop", method="POST", body="")).code == 404
        assert (await fetch_error(jp_fetch, *API, "workspaces", workspace.id, method="DELETE")).code == 404
        listed = json.loads((await jp_fetch(*API, "workspaces")).body)
        assert workspace.id not in [w["id"] for w in listed]
    finally:
        await other.delete(owner=f"{test_owner}-someone-else", workspace_id=workspace.id, purge=True)


@pytest.fixture
def failing_config(jp_server_config, never_answering_profile):
    jp_server_config.WorkspaceManager.launch_timeout = 3.0
    jp_server_config.ProfileRegistry.extra_profiles = dict([never_answering_profile])
    return jp_server_config


async def test_a_failing_launch_ends_in_failed_with_the_log_tail(failing_config, never_answering_profile, jp_fetch, jp_ws_fetch):
    ws = await subscribe(jp_ws_fetch)
    body = {"profile": never_answering_profile[0], "name": "doomed"}
    response = await jp_fetch(*API, "workspaces", method="POST", body=json.dumps(body))
    workspace_id = json.loads(response.body)["id"]
    events = await next_events(ws, workspace_id, {"running", "failed"})
    assert events[-1]["status"] == "failed"
    assert "did not answer" in events[-1]["message"]
    failed = check(await jp_fetch(*API, "workspaces", workspace_id), f"/workspaces/{workspace_id}")
    assert failed["status"] == "failed" and failed["error"]
    assert "wltest: this Jupyter never answers" in failed["log_tail"]
    response = await jp_fetch(*API, "workspaces", workspace_id, method="DELETE")
    assert response.code == 204
    ws.close()
