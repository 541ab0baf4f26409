"""The REST API fuzzed from its shipped OpenAPI document: Schemathesis (its CLI, in a process of
its own) against a real ``jupyter server`` with the extension (another process, on a loopback
port), authenticated by the server's token, with the real engine behind it.

Every response must be a success the operation documents, or a 4xx whose body is a JSON object
with a ``message`` (``fuzz_checks.py``), and pass Schemathesis's own checks: documented status
codes, content types, schemas and headers, 405 with ``Allow`` for a method a route lacks,
invalid input rejected, calls without the token refused. Never a 5xx. Launches the fuzzer gets
right really start containers (the document's example is one; ``profile`` is steered to
``minimal`` now and then); later phases and the stateful one reuse the ids they return (the
``Location`` header) to get, stop, start, snapshot, read logs of and delete real workspaces.

Then every workspace left is deleted through the API (purge), and the engine is looked at
before anything is swept: no container may be left, and nothing the API did not say it keeps on
purpose: the model volume (``DELETE`` never takes it), the work volume of each delete made
without ``purge``, and each snapshot image a 201 reported and no ``DELETE snapshots/{tag}``
removed (``GET snapshots`` lists exactly those). A volume or image beyond those fails the test.
Those are then removed (the snapshots through the API, the model volume by the product's own
``remove_model_volume``, refused while a workspace of the owner exists), and the owner must have
nothing left at all.

Bounded for CI: deterministic generation (Hypothesis derandomized), no example database, a cap
per operation and on stateful steps, one worker; Hypothesis's and Schemathesis's files live in
the test's temporary directory, never in the repository. The server's log and the fuzzer's
report are kept in ``tests/artifacts/`` (git-ignored).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from workspace_launcher.engine import spec as specs
from workspace_launcher.workspaces.manager import WorkspaceManager
from workspace_launcher.workspaces.validation import owner_slug

from .conftest import make_config
from .fuzz_server import ServerProcess, jupyter_server
from .host_servers import remove_owned

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
#: Test cases per operation and phase; stateful scenarios are capped by ``MAX_STEPS`` each.
MAX_EXAMPLES = 15
MAX_STEPS = 6
#: How long the fuzzer's process may take before it is stopped (it needs about a minute here).
RUN_TIMEOUT = 300

SCHEMATHESIS_CONFIG = """\
base-url = "{base_url}"
workers = 1
request-timeout = 60
hooks = "tests.integration.fuzz_checks"
continue-on-failure = true
color = false

[cache]
enabled = false

# The token is the test server's own, gone with it: failures print curl lines that run as shown.
[output.sanitization]
enabled = false

[generation]
max-examples = {max_examples}
deterministic = true
database = "none"
mode = "all"

[auth.openapi.jupyterToken]
api_key = "token ${{WLFUZZ_TOKEN}}"

[checks]
# Valid-looking launches are refused for what no schema can say (an unknown profile, a name
# already in use): 400/409 are right answers there.
positive_data_acceptance.enabled = false
# One user per server: there is no second identity to try another's objects with.
object_level_authorization.enabled = false
# Its one required header is Authorization, for which it wants 401; Jupyter answers a call
# without credentials 403 (documented). `ignored_auth` checks that such calls are refused.
missing_required_header.enabled = false

[phases.stateful]
max-steps = {max_steps}

[phases.coverage]
# Methods a route lacks must be 405 with Allow. Not TRACE or QUERY: tornado refuses methods it
# does not know before anything knows the caller, and the launcher names a route's methods only
# to callers allowed to use it.
unexpected-methods = ["GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"]

[dictionaries.profiles]
values = ["minimal"]

[dictionaries.datasets]
values = ["demo-shapes", "demo"]

[parameters]
"body.profile" = {{ dictionary = "profiles", probability = 0.15 }}
"body.datasets[*]" = {{ dictionary = "datasets", probability = 0.5 }}
"""


@pytest.fixture
def fuzz_owner(test_owner):
    return f"{test_owner}-fuzz"


@pytest.fixture
def fuzz_config(dataset_root, tmp_path, fuzz_owner):
    (tmp_path / "state").mkdir()
    config = make_config(dataset_root, tmp_path / "state")
    config.WorkspaceLauncherApp.owner = fuzz_owner
    # Only the profile whose image the suite builds: a lucky profile name never starts a build.
    config.ProfileRegistry.allowed_profiles = ["minimal"]
    config.DatasetCatalog.datasets = {
        **config.DatasetCatalog.datasets,
        "demo-shapes": {"path": str(dataset_root / "demo"), "description": "the document's example"},
    }
    config.WorkspaceManager.max_memory = "4g"
    config.WorkspaceManager.launch_timeout = 60.0
    return config


@pytest.fixture
def fuzz_server(tmp_path, fuzz_config, minimal_image):
    (tmp_path / "server").mkdir()
    with jupyter_server(tmp_path / "server", fuzz_config) as server:
        yield server


def owned(docker_client, owner: str) -> dict[str, list[str]]:
    by_owner = {"label": [f"{specs.label('owner')}={owner}"]}
    return {
        "containers": sorted(c.name for c in docker_client.containers.list(all=True, filters=by_owner)),
        "volumes": sorted(v.name for v in docker_client.volumes.list(filters=by_owner)),
        "images": sorted(t for i in docker_client.images.list(filters=by_owner) for t in (i.tags or [i.id])),
    }


def run_schemathesis(server: ServerProcess, work: Path) -> subprocess.CompletedProcess:
    """``schemathesis run`` on the shipped document, in a directory of its own."""
    work.mkdir()
    (work / "schemathesis.toml").write_text(SCHEMATHESIS_CONFIG.format(
        base_url=server.api, max_examples=MAX_EXAMPLES, max_steps=MAX_STEPS))
    document = str(files("workspace_launcher").joinpath("openapi.json"))
    env = {**os.environ, "WLFUZZ_TOKEN": server.token, "HYPOTHESIS_STORAGE_DIRECTORY": str(work / "hypothesis"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "NO_COLOR": "1", "COLUMNS": "120"}
    args = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(work / "schemathesis.toml"), "run",
            document, "--report", "ndjson", "--report-ndjson-path", str(work / "events.ndjson")]
    return subprocess.run(args, cwd=work, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)


@dataclass
class Exchange:
    method: str
    url: str
    status: int
    body: bytes  # the response's
    sent: bytes  # the request's

    @property
    def path(self) -> str:
        return urlsplit(self.url).path.partition("/workspace-launcher/api")[2]


def exchanges(events: Path) -> list[Exchange]:
    """Every request the run made that got a response, from its NDJSON event log."""
    seen = []
    for line in events.read_text().splitlines():
        for interaction in _interactions(json.loads(line)):
            request, response = interaction.get("request") or {}, interaction.get("response") or {}
            if response:
                seen.append(Exchange(request.get("method", ""), request.get("uri", ""), response.get("status_code", 0),
                                     _bytes(response.get("content")), _bytes(request.get("body"))))
    return seen


def asks_for_gpus(value) -> bool:
    """Whether a launch's ``gpus`` asks for any GPU (0, "0", "none" and [] do not)."""
    if isinstance(value, str):
        text = value.strip().lower()
        return text == "all" or (text.isdigit() and int(text) > 0)
    return bool(value) and value is not False


def _bytes(recorded) -> bytes:
    return base64.b64decode(recorded["$base64"]) if isinstance(recorded, dict) and "$base64" in recorded else b""


def purged(url: str) -> bool:
    """Whether a DELETE asked for its volumes to go, as the server reads ``purge``."""
    return parse_qs(urlsplit(url).query).get("purge", ["false"])[0].lower() in ("true", "1")


def _interactions(event):
    if isinstance(event, dict):
        for key, value in event.items():
            if key == "interactions" and isinstance(value, dict):
                yield from value.values()
            elif key == "interactions" and isinstance(value, list):
                yield from value
            else:
                yield from _interactions(value)
    elif isinstance(event, list):
        for item in event:
            yield from _interactions(item)


def keep_artifacts(tmp_path: Path) -> None:
    """The server's log and the fuzzer's report, for a failure in CI."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for source, name in ((tmp_path / "server" / "server.log", "fuzz-server.log"),
                         (tmp_path / "schemathesis" / "output.txt", "fuzz-schemathesis.txt"),
                         (tmp_path / "schemathesis" / "events.ndjson", "fuzz-events.ndjson")):
        if source.exists():
            shutil.copyfile(source, ARTIFACTS / name)


def snapshots_left(seen) -> set[str]:
    """The snapshot images the answers say exist at the end, in the order they were given: a 201
    of a snapshot makes one (a later one may reuse a deleted tag), a 204 of its tag's DELETE
    removes it."""
    images: dict[str, str] = {}
    for e in seen:
        if e.method == "POST" and e.path.endswith("/snapshot") and e.status == 201:
            image = json.loads(e.body)["image"]
            images[image.rpartition(":")[2]] = image
        elif e.method == "DELETE" and e.path.startswith("/snapshots/") and e.status == 204:
            images.pop(e.path.rsplit("/", 1)[1], None)
    return set(images.values())


def test_fuzzed_api_answers_documented_successes_or_json_4xx_and_leaves_nothing(
        fuzz_server, fuzz_config, fuzz_owner, docker_client, tmp_path):
    started = time.monotonic()
    try:
        result = run_schemathesis(fuzz_server, tmp_path / "schemathesis")
        (tmp_path / "schemathesis" / "output.txt").write_text(result.stdout + result.stderr)
        elapsed = time.monotonic() - started
        assert result.returncode == 0, (
            f"schemathesis found failures (exit {result.returncode}); each is shown with its request as curl "
            f"(the whole report: tests/artifacts/fuzz-schemathesis.txt):\n{result.stdout[-12000:]}{result.stderr[-3000:]}")
        seen = exchanges(tmp_path / "schemathesis" / "events.ndjson")
        statuses = Counter(e.status for e in seen)
        assert len(seen) >= 200 and not [s for s in statuses if s >= 500], statuses
        accepted = [e for e in seen if e.method == "POST" and e.path == "/workspaces" and e.status == 202]
        launched = [json.loads(e.body)["id"] for e in accepted]
        assert launched, "no launch got through: the fuzz never reached the launch path"
        if fuzz_server.call("GET", "/gpus").json()["gpus"] == []:  # a host without GPUs takes no GPU launch
            asked = [json.loads(e.sent).get("gpus", 0) for e in accepted]
            assert not [g for g in asked if asks_for_gpus(g)], asked
        snapshots = snapshots_left(seen)
        # A delete without purge keeps the work volume, on purpose (and the API has no route to it).
        kept = {specs.work_volume_name(e.path.rsplit("/", 1)[1]) for e in seen
                if e.method == "DELETE" and e.path.startswith("/workspaces/") and e.status == 204 and not purged(e.url)}

        assert not (ROOT / ".hypothesis").exists() and not (ROOT / "schemathesis-report").exists()

        # Every workspace the fuzzer left is deleted through the API; then the engine is looked at.
        listed = fuzz_server.call("GET", "/workspaces")
        assert listed.status_code == 200, listed.text
        for workspace in listed.json():
            deleted = fuzz_server.call("DELETE", f"/workspaces/{workspace['id']}", params={"purge": "true"})
            assert deleted.status_code in (204, 404), (workspace["id"], deleted.status_code, deleted.text)
        assert fuzz_server.call("GET", "/workspaces").json() == []
        left = owned(docker_client, fuzz_owner)
        assert left["containers"] == [], left
        model_volume = specs.model_volume_name(owner_slug(fuzz_owner))
        assert set(left["volumes"]) <= {model_volume} | kept, (sorted(set(left["volumes"]) - {model_volume} - kept), left)
        # Snapshots are images the API makes on purpose: each one it reported and did not delete
        # is there and listed, and nothing else of the owner is (a failed commit leaves nothing).
        tagged = {t for t in left["images"] if not t.startswith("sha256:")}
        assert tagged == snapshots, (sorted(tagged ^ snapshots), left)
        listed_snapshots = fuzz_server.call("GET", "/snapshots").json()
        assert {s["image"] for s in listed_snapshots} == snapshots
        for snapshot in listed_snapshots:
            assert fuzz_server.call("DELETE", f"/snapshots/{snapshot['tag']}").status_code == 204, snapshot
        role = specs.label("role")
        for image in docker_client.images.list(filters={"label": [f"{specs.label('owner')}={fuzz_owner}"]}):
            assert image.labels.get(role) == "snapshot", (image.tags, image.labels)  # untagged: an older one retagged
        # What the API keeps on purpose and cannot remove goes by the engine; the model volume by
        # the product's own removal, which is refused while any workspace of the owner exists.
        for image in docker_client.images.list(filters={"label": [f"{specs.label('owner')}={fuzz_owner}"]}):
            docker_client.images.remove(image.id, force=True)
        for name in set(left["volumes"]) & kept:
            docker_client.volumes.get(name).remove()
        if model_volume in left["volumes"]:
            manager = WorkspaceManager(config=fuzz_config)
            try:
                assert asyncio.run(manager.remove_model_volume(owner=fuzz_owner)) == model_volume
            finally:
                manager.engine.close()
        assert owned(docker_client, fuzz_owner) == {"containers": [], "volumes": [], "images": []}
        print(f"\n{len(seen)} responses in {elapsed:.0f} s ({len(launched)} launches, {len(snapshots)} snapshots, "
              f"{len(kept)} deletes keeping volumes), by status {dict(sorted(statuses.items()))}; {time.monotonic() - started:.0f} s in all")
    finally:
        keep_artifacts(tmp_path)
        remove_owned(docker_client, [fuzz_owner])
