"""GPU reservations under concurrency, through two real host servers and their REST API.

Two ``jupyter server`` processes (each with its own port, token and owner) share the second
engine (whose GPU containers really start, see ``engine2``) and one reservation lock file; four
GPUs are declared. Eight launches of one GPU each are sent at the same instant, four to each
server. Exactly four start, on four distinct GPUs. The other four are refused at once, 409,
naming the four workspaces that hold the GPUs (the image is built, so a POST reserves under the
lock before it answers; nothing is launched for them). A watcher reading the engine all along sees no GPU in two holding containers at any moment
(by labels and by device requests); each environment names exactly its GPU. With the lock made a
no-op, or with each server on a lock file of its own, 7 or 8 launches start and GPUs are
doubled: this test fails.

Then the lifecycle across servers: a stop frees the GPU, a launch on the other server takes it,
the start of the stopped one is refused (409) naming the new holder, and once that one is
deleted the start takes the same GPU back, with an environment naming exactly it.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from .engine2 import holding_gpus, process_env
from .host_servers import GPU_UUIDS, nothing_left_behind, remove_model_volumes

pytestmark = pytest.mark.integration

LAUNCHES = 8
HELD_BY = re.compile(r"held by workspaces ([0-9a-f, ]+);")


@pytest.fixture
def clean(request, e2_client, e2_hosts):
    with nothing_left_behind(request, e2_client, [server.owner for server in e2_hosts]):
        yield


class HoldWatcher:
    """Reads, every few tens of milliseconds, which containers of the engine hold which GPU
    (by device request and by label); remembers every moment a GPU had two holders."""

    def __init__(self, engine) -> None:
        self.client = engine.client()
        self.doubles: list[dict] = []
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Exception):  # a container removed while being listed
                by_request = holding_gpus(self.client)
                by_label: dict[str, list[str]] = {}
                for container in self.client.containers.list(filters={"label": "workspace-launcher.id"}, all=True):
                    if container.attrs["State"]["Status"] in ("created", "running", "restarting", "paused"):
                        for uuid in filter(None, container.labels.get("workspace-launcher.gpus", "").split(",")):
                            by_label.setdefault(uuid, []).append(container.name)
                for view in (by_request, by_label):
                    if any(len(holders) > 1 for holders in view.values()):
                        self.doubles.append(view)
                self.samples += 1
            time.sleep(0.03)

    def __enter__(self) -> HoldWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.client.close()


def holders_named(message: str) -> set[str]:
    match = HELD_BY.search(message)
    assert match, f"the refusal does not say who holds the GPUs: {message!r}"
    return {h.strip() for h in match.group(1).split(",") if h.strip()}


def test_eight_launches_at_once_on_four_gpus_across_two_servers(e2_hosts, engine2, e2_client, clean):
    servers = a, b = e2_hosts
    e2 = e2_client
    by_id = {}  # workspace id -> the server that launched it
    try:
        with HoldWatcher(engine2) as watcher:
            # -- eight launches at the same instant, four through each server ----------------
            barrier = threading.Barrier(LAUNCHES)

            def post(i: int):
                server = servers[i % 2]
                barrier.wait()
                return server, server.launch(profile="minimal", gpus=1)

            with ThreadPoolExecutor(LAUNCHES) as pool:
                answers = list(pool.map(post, range(LAUNCHES)))
            assert sorted(r.status_code for _, r in answers) == [202] * 4 + [409] * 4, \
                [(r.status_code, r.text) for _, r in answers]
            refusals = [r.json()["message"] for _, r in answers if r.status_code == 409]
            for server, answer in answers:
                if answer.status_code == 202:
                    by_id[answer.json()["id"]] = server
            settled = {i: server.wait_settled(i) for i, server in by_id.items()}

            running = {i: w for i, w in settled.items() if w["status"] == "running"}
            failed = {i: w for i, w in settled.items() if w["status"] != "running"}
            assert failed == {}, failed

            # -- exactly four start, on four distinct GPUs; four are refused, naming the holders --
            assert len(running) == 4, ({i: (w["status"], w["gpus"], w["error"]) for i, w in settled.items()},
                                       f"held twice: {watcher.doubles[:2]}")
            assert sorted(w["gpus"][0] for w in running.values()) == GPU_UUIDS
            assert all(len(w["gpus"]) == 1 for w in running.values())
            assert len(refusals) == LAUNCHES - 4
            for message in refusals:
                assert "asked for 1 GPU but 0 of 4 GPUs are free" in message, message
                assert holders_named(message) == set(running), message
            # A refused launch made nothing: the engine holds the four winners' containers and work volumes only.
            owners = [f"workspace-launcher.owner={server.owner}" for server in servers]
            made = {c.labels["workspace-launcher.id"] for o in owners for c in e2.containers.list(all=True, filters={"label": o})}
            assert made == set(running)
            work = {v.name for o in owners for v in e2.volumes.list(filters={"label": [o, "workspace-launcher.role=work"]})}
            assert work == {f"workspace-launcher-work-{i}" for i in running}

            # -- the engine's view: labels, device requests and the process environment -------
            started = {call["id"] for call in engine2.hook_calls()}
            for workspace_id, workspace in running.items():
                attrs = e2.api.inspect_container(f"workspace-launcher-{workspace_id}")
                gpu = workspace["gpus"][0]
                assert attrs["Config"]["Labels"]["workspace-launcher.gpus"] == gpu
                assert attrs["HostConfig"]["DeviceRequests"] == [
                    {"Driver": "nvidia", "Count": 0, "DeviceIDs": [gpu], "Capabilities": [["gpu"]], "Options": {}}
                ]
                assert process_env(e2, attrs["Id"])["NVIDIA_VISIBLE_DEVICES"] == gpu
                assert attrs["Id"] in started  # the engine ran the GPU hook for it
            # Both servers read the same holders from the engine.
            expected = {w["gpus"][0]: [i] for i, w in running.items()}
            assert a.gpu_holders() == b.gpu_holders() == expected

            # -- stop frees the GPU; the other server's launch takes it; start is refused ------
            stopped_id = next(iter(running))
            home = by_id[stopped_id]
            other = b if home is a else a
            gpu = running[stopped_id]["gpus"][0]
            answer = home.api("POST", f"workspaces/{stopped_id}/stop")
            assert answer.status_code == 200 and answer.json()["status"] == "stopped", answer.text
            assert e2.api.inspect_container(f"workspace-launcher-{stopped_id}")["State"]["Status"] == "exited"
            assert gpu not in holding_gpus(e2)
            assert other.gpu_holders()[gpu] == [] and home.gpu_holders()[gpu] == []

            answer = other.launch(profile="minimal", gpus=1)
            assert answer.status_code == 202, answer.text
            taker_id = answer.json()["id"]
            by_id[taker_id] = other
            taker = other.wait_settled(taker_id)
            assert taker["status"] == "running" and taker["gpus"] == [gpu], taker

            refused = home.api("POST", f"workspaces/{stopped_id}/start")
            assert refused.status_code == 409, refused.text
            assert f"{gpu} by {taker_id}" in refused.json()["message"]
            assert e2.api.inspect_container(f"workspace-launcher-{stopped_id}")["State"]["Status"] == "exited"

            # -- once the GPU is free again, start takes the same GPU back ------------------
            other.delete(taker_id)
            by_id.pop(taker_id)
            restarted = home.api("POST", f"workspaces/{stopped_id}/start")
            assert restarted.status_code == 200, restarted.text
            assert restarted.json()["status"] == "running" and restarted.json()["gpus"] == [gpu]
            container = f"workspace-launcher-{stopped_id}"
            assert process_env(e2, container)["NVIDIA_VISIBLE_DEVICES"] == gpu
            container_id = e2.api.inspect_container(container)["Id"]
            assert [c["id"] for c in engine2.hook_calls()].count(container_id) == 2  # started twice
            assert sorted(holding_gpus(e2)) == GPU_UUIDS
            assert all(len(h) == 1 for h in holding_gpus(e2).values())
        assert watcher.samples > 10
        assert watcher.doubles == [], f"a GPU was held twice: {watcher.doubles[:3]}"
    finally:
        for workspace_id, server in by_id.items():
            server.delete(workspace_id)
        remove_model_volumes(e2, [s.owner for s in servers])
