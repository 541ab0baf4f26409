"""The workspace proxy against a direct connection and jupyter-server-proxy, on one workspace.

One host Jupyter server is started as a subprocess (loopback, a known token) with two extensions:
workspace_launcher and jupyter-server-proxy. One ``minimal`` workspace is launched through that
server's REST API, and the same container is then reached three ways:

* direct:   http://<container address on the workspace network>:8888<workspace prefix>..., with
            the workspace token: the container itself, nothing in between (the goals' baseline);
* direct_port: http://127.0.0.1:<published port><prefix>..., the same through the engine's
            userland proxy (docker-proxy), as a host user without the launcher reaches it;
* proxy:    http://<id>.localhost:<host port>/workspace-launcher/workspaces/<id>/..., the
            workspace's own origin, with the session cookie the host's handshake gave (the
            proxy drops it and adds the workspace token), as the workspace's JupyterLab sends it;
* jsp:      <host>/proxy/<published port><workspace prefix>...: jupyter-server-proxy forwards
            every request header and the query string, so the host is authenticated by its login
            cookie and the workspace by ``Authorization: token <workspace token>`` (a host
            ``?token=`` would reach the workspace too and be taken there before the header).

The jupyter-server-proxy path sends the host's login cookie, as a browser does; the proxy path
its workspace session cookie and ``Sec-Fetch-Site: same-origin``, as a browser does from the
workspace's own pages.

Figures, with the paths interleaved (round robin, rotating who goes first) and every HTTP
request and WebSocket made with aiohttp over kept-alive connections:

* small GET latency: sequential ``GET <prefix>api/status`` (p50, p99), beside the host server's
  own ``api/status`` for reference, and the host server's CPU time per GET (psutil);
* download throughput: ``GET <prefix>files/<name>`` of a random file written into the workspace
  with ``docker exec`` as uid 1000, streamed to nowhere (median of the repetitions; against
  direct, the median of each repetition's ratio), the host server's RSS growth meanwhile
  (sampled with psutil in a thread; the worst repetition) and its CPU time. A second, smaller
  size (64 MiB) is one jupyter-server-proxy can carry: its client refuses bodies over 100 MiB;
* kernel execute round trip over the channels WebSocket (one kernel per path, ``1+1``, p50).

jupyter-server-proxy buffers whole responses unless the request says
``Accept: text/event-stream``, so its download is measured both ways ("jsp" and "jsp streamed").

    pip install jupyter-server-proxy   # for the benchmark only; not a dependency
    python benchmarks/proxy.py [--requests 1000] [--size-mb 200] [--downloads 5] [--executes 200] [--append]

Prints the tables and writes benchmarks/results/proxy.md and proxy.json (``--append`` adds the
run to them instead). Exits 1 if a goal is missed. The host's log and config live in a temporary
directory, removed unless the run fails or ``--keep-logs``; the workspace is deleted with purge.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import secrets
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import aiohttp
import docker

sys.path.insert(0, str(Path(__file__).parent))
from host_server import (  # noqa: E402  (the benchmarks' shared host server)
    HostServer,
    LocalhostResolver,
    RssSampler,
    cpu_seconds,
    percentile,
    workspace_session,
)

from workspace_launcher.engine import spec as specs  # noqa: E402
from workspace_launcher.engine.objects import Container  # noqa: E402
from workspace_launcher.workspaces.upstream import ROUTES, is_local_address  # noqa: E402

RESULTS = Path(__file__).parent / "results"
OWNER = "wlbench-proxy"
MIB = 2**20
GOALS = {"latency_overhead_ms": 1.0, "throughput_ratio": 0.9, "memory_mib": 50.0}
#: RSS growths both under this are a tie: allocator and page granularity, not the proxy.
MEMORY_NOISE_MIB = 1.0
#: "Better than jupyter-server-proxy" on a time or a rate means by more than this fraction.
MARGIN = 0.05


@dataclass
class Path_:
    """One way to the workspace: a URL prefix and the headers that authenticate it."""

    name: str
    label: str
    prefix: str  # http://host:port/.../ up to and including the workspace's base URL
    headers: dict[str, str]
    session: aiohttp.ClientSession | None = None
    extra_download_headers: dict[str, str] = field(default_factory=dict)

    def url(self, rest: str, scheme: str = "http") -> str:
        return (self.prefix + rest).replace("http://", f"{scheme}://", 1)


def rotated(items: list, i: int) -> list:
    k = i % len(items)
    return items[k:] + items[:k]


# -- the host server ---------------------------------------------------------------------------

# -- the measurements --------------------------------------------------------------------------
async def get_once(path: Path_, rest: str) -> float:
    start = time.perf_counter()
    async with path.session.get(path.url(rest), headers=path.headers) as r:
        await r.read()
        if r.status != 200:
            raise RuntimeError(f"{path.name}: GET {rest} answered {r.status}")
    return (time.perf_counter() - start) * 1000


async def latency(paths: list[Path_], requests: int, warmup: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {p.name: [] for p in paths}
    for i in range(warmup + requests):
        for path in rotated(paths, i):
            ms = await get_once(path, "api/status")
            if i >= warmup:
                samples[path.name].append(ms)
    return samples


async def host_cpu_per_get(path: Path_, server: HostServer, requests: int) -> float:
    """The host server's CPU time (user + system) per GET on this path, in ms (not interleaved)."""
    before = cpu_seconds(server.ps)
    for _ in range(requests):
        await get_once(path, "api/status")
    return (cpu_seconds(server.ps) - before) / requests * 1000


def short_error(status: int, reason: str | None, body: bytes) -> str:
    text = body.decode(errors="replace").strip()
    if not text or text.lstrip().startswith("<") or "\n" in text[:120]:
        text = ""
    return f"HTTP {status} {reason or ''}".strip() + (f": {text[:80]}" if text else "")


async def download(path: Path_, rest: str, size: int, server: HostServer, interval: float,
                   streamed: bool = False) -> dict:
    headers = dict(path.headers, **(path.extra_download_headers if streamed else {}))
    received = 0
    cpu_before = cpu_seconds(server.ps)
    with RssSampler(server, interval) as rss:
        start = time.perf_counter()
        try:
            async with path.session.get(path.url(rest), headers=headers) as r:
                if r.status != 200:
                    return {"error": short_error(r.status, r.reason, await r.read()), "growth_mib": None, "mib_s": None}
                async for chunk in r.content.iter_chunked(MIB):
                    received += len(chunk)
        except aiohttp.ClientError as e:
            return {"error": f"{type(e).__name__}: {e}", "growth_mib": None, "mib_s": None}
        elapsed = time.perf_counter() - start
    host_cpu = cpu_seconds(server.ps) - cpu_before
    if received != size:
        return {"error": f"got {received} of {size} bytes", "growth_mib": rss.growth_mib, "mib_s": None}
    return {"mib_s": size / MIB / elapsed, "seconds": elapsed, "growth_mib": rss.growth_mib,
            "baseline_mib": rss.baseline / MIB, "peak_mib": rss.peak / MIB, "host_cpu_s": host_cpu}


def execute_request(session_id: str, code: str) -> tuple[str, str]:
    msg_id = uuid.uuid4().hex
    message = {
        "header": {"msg_id": msg_id, "username": "bench", "session": session_id, "msg_type": "execute_request",
                   "version": "5.3", "date": dt.datetime.now(dt.UTC).isoformat()},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True},
    }
    return msg_id, json.dumps(message)


class KernelChannel:
    """A kernel started through one path, and its channels WebSocket opened through the same path."""

    def __init__(self, path: Path_) -> None:
        self.path = path
        self.session_id = uuid.uuid4().hex

    async def open(self) -> None:
        async with self.path.session.post(self.path.url("api/kernels"), json={"name": "python3"},
                                          headers=self.path.headers) as r:
            if r.status != 201:
                raise RuntimeError(f"{self.path.name}: starting a kernel answered {r.status}: {await r.text()}")
            self.kernel_id = (await r.json())["id"]
        url = self.path.url(f"api/kernels/{self.kernel_id}/channels?session_id={self.session_id}", "ws")
        self.ws = await self.path.session.ws_connect(url, headers=self.path.headers, max_msg_size=0)

    async def execute(self, code: str = "1+1", timeout: float = 60) -> float:
        msg_id, text = execute_request(self.session_id, code)
        start = time.perf_counter()
        await self.ws.send_str(text)
        async with asyncio.timeout(timeout):
            while True:
                message = await self.ws.receive()
                if message.type is not aiohttp.WSMsgType.TEXT:
                    raise RuntimeError(f"{self.path.name}: the kernel WebSocket ended ({message.type})")
                reply = json.loads(message.data)
                if reply.get("msg_type") == "execute_reply" and reply["parent_header"].get("msg_id") == msg_id:
                    return (time.perf_counter() - start) * 1000

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        with contextlib.suppress(Exception):
            async with self.path.session.delete(self.path.url(f"api/kernels/{self.kernel_id}"),
                                                headers=self.path.headers):
                pass


async def websocket_round_trips(paths: list[Path_], executes: int, warmup: int) -> dict[str, list[float]]:
    channels = [KernelChannel(p) for p in paths]
    try:
        for channel in channels:
            await channel.open()
        samples: dict[str, list[float]] = {p.name: [] for p in paths}
        for i in range(warmup + executes):
            for channel in rotated(channels, i):
                ms = await channel.execute()
                if i >= warmup:
                    samples[channel.path.name].append(ms)
        return samples
    finally:
        for channel in channels:
            await channel.close()


# -- the workspace -----------------------------------------------------------------------------
async def launch(session: aiohttp.ClientSession, server: HostServer, profile: str, timeout: float = 300) -> dict:
    api = server.url + "workspace-launcher/api/workspaces"
    async with session.post(api, json={"profile": profile, "name": f"proxy-bench-{secrets.token_hex(3)}"}, headers=server.auth) as r:
        body = await r.json()
        if r.status != 202:
            raise RuntimeError(f"launch answered {r.status}: {body}")
    workspace_id = body["id"]
    deadline = time.monotonic() + timeout
    while True:
        async with session.get(f"{api}/{workspace_id}", headers=server.auth) as r:
            body = await r.json()
        if body.get("status") == "running":
            return body
        if body.get("status") == "failed" or time.monotonic() > deadline:
            raise RuntimeError(f"the workspace did not start: {body}")
        await asyncio.sleep(0.2)


async def delete(session: aiohttp.ClientSession, server: HostServer, workspace_id: str) -> None:
    url = f"{server.url}workspace-launcher/api/workspaces/{workspace_id}?purge=true"
    async with session.delete(url, headers=server.auth) as r:
        if r.status != 204:
            raise RuntimeError(f"delete answered {r.status}: {await r.text()}")


def remove_leftovers(client: docker.DockerClient) -> None:
    """Containers and volumes of this benchmark's owner: the fallback when the server is gone."""
    owner_filter = {"label": [f"{specs.label('owner')}={OWNER}"]}
    for container in client.containers.list(all=True, filters=owner_filter):
        container.remove(force=True)
    for volume in client.volumes.list(filters=owner_filter):
        volume.remove(force=True)


# -- the report --------------------------------------------------------------------------------
def fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def summarize_downloads(outcomes: list[dict]) -> dict:
    good = [o["mib_s"] for o in outcomes if o["mib_s"] is not None]
    growth = [o["growth_mib"] for o in outcomes if o["growth_mib"] is not None]
    cpu = [o["host_cpu_s"] for o in outcomes if o.get("host_cpu_s") is not None]
    errors = [o["error"] for o in outcomes if "error" in o]
    return {"mib_s": statistics.median(good) if good and not errors else None,
            "growth_mib": max(growth) if growth and not errors else None,
            "host_cpu_s": statistics.median(cpu) if cpu and not errors else None,
            "error": errors[0] if errors else None, "runs": outcomes}


def goal_checks(f: dict, sizes: list[int]) -> list[tuple[str, str, str, bool]]:
    """(goal, measured, target, met) for the workspace_launcher proxy."""
    d, p, j = f["direct"], f["proxy"], f["jsp"]
    big, small = (f"{sizes[0]} MiB", f"{sizes[1]} MiB") if len(sizes) > 1 else (f"{sizes[0]} MiB", None)

    def better(ours: float | None, theirs: float | None, higher: bool, tie: float = 0.0) -> bool:
        if ours is None:
            return False
        if theirs is None:  # theirs failed: ours delivered
            return True
        if tie:  # an amount: both within the measurement's noise is a tie, and a tie will do
            return max(ours, theirs) < tie or ours < theirs
        return ours > theirs * (1 + MARGIN) if higher else ours < theirs * (1 - MARGIN)

    checks = []
    overhead = p["get_p50_ms"] - d["get_p50_ms"]
    checks.append(("GET p50 overhead vs direct", f"{overhead:+.2f} ms", f"< {GOALS['latency_overhead_ms']:g} ms",
                   overhead < GOALS["latency_overhead_ms"]))
    ratio = p["downloads"][big].get("ratio_vs_direct")  # the container's own address: the strict baseline
    checks.append((f"download throughput vs direct ({big}, median of paired runs)", fmt(ratio, ".2f") + "x",
                   f">= {GOALS['throughput_ratio']:g}x", ratio is not None and ratio >= GOALS["throughput_ratio"]))
    growth = [p["downloads"][k]["growth_mib"] for k in p["downloads"]]
    worst = None if None in growth else max(growth)
    checks.append(("host RSS growth while downloading (worst)", fmt(worst, ".1f") + " MiB",
                   f"< {GOALS['memory_mib']:g} MiB", worst is not None and worst < GOALS["memory_mib"]))
    rows = [("GET p50", p["get_p50_ms"], j["get_p50_ms"], False, "ms", 0.0),
            ("GET p99", p["get_p99_ms"], j["get_p99_ms"], False, "ms", 0.0)]
    for size in (big, small):
        if size is None:
            continue
        pd, jd = p["downloads"][size], j["downloads"][size]
        rows.append((f"throughput {size}", pd["mib_s"], jd["mib_s"], True, "MiB/s", 0.0))
        rows.append((f"RSS growth {size}", pd["growth_mib"], jd["growth_mib"], False, "MiB", MEMORY_NOISE_MIB))
    rows.append(("execute p50", p["exec_p50_ms"], j["exec_p50_ms"], False, "ms", 0.0))
    for label, ours, theirs, higher, unit, tie in rows:
        theirs_text = "failed" if theirs is None else f"{theirs:.2f}"
        target = (f"lower (or both < {tie:g} {unit})" if tie
                  else f"{'higher' if higher else 'lower'} by > {MARGIN:.0%}")
        checks.append((f"better than jsp: {label}", f"{fmt(ours, '.2f')} vs {theirs_text} {unit}",
                       target, better(ours, theirs, higher, tie)))
    return checks


def report(args: argparse.Namespace, f: dict, labels: dict[str, str], sizes: list[int], environment: str) -> tuple[str, bool]:
    order = [k for k in ("direct", "direct_port", "proxy", "jsp") if k in f]
    lines = [
        f"# Workspace proxy vs direct vs jupyter-server-proxy ({args.profile} workspace)",
        "",
        environment,
        "",
        ("Paths interleaved (round robin, rotating which goes first). HTTP: aiohttp, one kept-alive "
         f"connection per path. GET: {args.requests} timed `GET api/status` per path after {args.warmup} warm-up; "
         f"host CPU per GET from {args.cpu_requests} more per path, not interleaved. Downloads: "
         f"{args.downloads} per path and size, each after {args.settle_s:g} s of quiet, median throughput, "
         "worst RSS growth of the host server "
         f"(sampled every {args.sample_ms:g} ms). Execute: {args.executes} `1+1` per path after "
         f"{args.warmup_executes} warm-up, one kernel per path, request to `execute_reply` over the channels WebSocket."),
        "",
        "## Small GET",
        "",
        "| path | p50 (ms) | p99 (ms) | mean (ms) | host CPU per GET (ms) |",
        "|---|---:|---:|---:|---:|",
    ]
    for key in order + ["host"]:
        row = f[key]
        lines.append(f"| {labels[key]} | {row['get_p50_ms']:.2f} | {row['get_p99_ms']:.2f} | {row['get_mean_ms']:.2f} | "
                     f"{fmt(row.get('host_cpu_per_get_ms'), '.2f')} |")
    lines += ["", "## Download (`GET files/<name>`, streamed to nowhere)", "",
              "| path | size | MiB/s | host RSS growth (MiB) | host CPU (s) | note |", "|---|---:|---:|---:|---:|---|"]
    for key in order + ["jsp_streamed"]:
        for size, row in f[key]["downloads"].items():
            host_free = key.startswith("direct")
            note = row["error"] or ("by definition: the host is not on this path" if host_free else "")
            growth = 0.0 if host_free else row["growth_mib"]
            lines.append(f"| {labels[key]} | {size} | {fmt(row['mib_s'], '.0f')} | {fmt(growth, '.1f')} | "
                         f"{fmt(row['host_cpu_s'], '.3f')} | {note} |")
    lines += ["", "## Kernel execute round trip over the WebSocket", "",
              "| path | p50 (ms) | p90 (ms) | p99 (ms) |", "|---|---:|---:|---:|"]
    for key in order:
        row = f[key]
        lines.append(f"| {labels[key]} | {row['exec_p50_ms']:.2f} | {row['exec_p90_ms']:.2f} | {row['exec_p99_ms']:.2f} |")
    checks = goal_checks(f, sizes)
    lines += ["", "## Goals (workspace_launcher proxy)", "", "| goal | measured | target | verdict |", "|---|---|---|---|"]
    for label, measured, target, ok in checks:
        lines.append(f"| {label} | {measured} | {target} | {'PASS' if ok else 'MISS'} |")
    big = f"{sizes[0]} MiB"
    if (by_port := f["proxy"]["downloads"][big].get("ratio_vs_direct_port")) is not None:
        lines += ["", (f"For reference, not judged: the proxy's {big} throughput is {fmt(by_port, '.2f')}x that of "
                       "the published loopback port, the other way to reach the container directly from the host.")]
    lines += ["", ("jsp = jupyter-server-proxy as a browser uses it (it buffers each response whole); "
                   "the `Accept: text/event-stream` row is its opt-in streaming mode, shown for reference, not judged.")]
    if any(f[k]["downloads"][f"{s} MiB"]["error"] for k in ("jsp", "jsp_streamed") for s in sizes if s > 100):
        lines += ["", ("jsp's 599 on files over 100 MiB: it fetches with a tornado `AsyncHTTPClient` left at the "
                       "default `max_body_size` (100 MiB), which refuses a longer Content-Length "
                       "(\"Content-Length too long\") in both modes.")]
    return "\n".join(lines), all(ok for *_, ok in checks)


# -- main --------------------------------------------------------------------------------------
async def run(args: argparse.Namespace) -> int:
    client = docker.from_env(timeout=120)
    workdir = Path(tempfile.mkdtemp(prefix="wl-proxy-bench-"))
    ca_bundle = args.ca_bundle if os.path.isfile(args.ca_bundle) else None
    server = HostServer(workdir, ca_bundle, args.profile_proxy, args.upstream_route)
    options = {"auto_decompress": False, "cookie_jar": aiohttp.DummyCookieJar(),
               "timeout": aiohttp.ClientTimeout(total=None, sock_connect=10),
               "skip_auto_headers": ("Accept-Encoding", "User-Agent")}
    control = aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=LocalhostResolver()), **options)
    sessions: list[aiohttp.ClientSession] = []
    workspace_id = None
    load_before = os.getloadavg()
    completed = False
    try:
        await server.start(control)
        workspace = await launch(control, server, args.profile)
        workspace_id = workspace["id"]
        container = client.containers.list(filters={"label": f"{specs.MANAGED_LABEL}={workspace_id}"})[0]
        port = Container.from_attrs(container.attrs).published_port
        ws_token = Container.from_attrs(container.attrs).env["JUPYTER_TOKEN"]
        base = f"/workspace-launcher/workspaces/{workspace_id}/"  # the workspace's prefix
        own_origin = f"http://{workspace_id}.localhost:{server.port}"
        workspace_cookie = {"Cookie": f"workspace-launcher-session={await workspace_session(control, server, workspace_id)}",
                            "Sec-Fetch-Site": "same-origin"}

        # The host's login cookie, as a browser holds it: jupyter-server-proxy needs it (see the
        # docstring), and on the other host paths it spares the host re-issuing it on every answer.
        async with control.get(server.url + "api/status", params={"token": server.token}) as r:
            cookie = r.cookies.get(f"username-127-0-0-1-{server.port}")
            if cookie is None:
                raise RuntimeError("the host server set no login cookie")
        login = {"Cookie": f"{cookie.key}={cookie.value}"}
        address = Container.from_attrs(container.attrs).address
        if not address or not is_local_address(Container.from_attrs(container.attrs).gateway or ""):
            raise RuntimeError("this host is not on the workspace network; the direct baseline needs it")
        ws_auth = {"Authorization": f"token {ws_token}"}
        direct = Path_("direct", "direct to the container (its network address)",
                       f"http://{address}:{specs.JUPYTER_PORT}{base}", ws_auth)
        # Only with --upstream-route published-port: otherwise nothing is published.
        direct_port = Path_("direct_port", "direct to its published loopback port (via docker-proxy)",
                            f"http://127.0.0.1:{port}{base}", ws_auth) if port else None
        proxy = Path_("proxy", "workspace_launcher proxy (the workspace's own origin)", f"{own_origin}{base}", workspace_cookie)
        jsp_target = str(port) if port else f"{address}:{specs.JUPYTER_PORT}"
        jsp = Path_("jsp", "jupyter-server-proxy", f"{server.url}proxy/{jsp_target}{base}",
                    {"Authorization": f"token {ws_token}", **login},
                    extra_download_headers={"Accept": "text/event-stream"})
        host = Path_("host", "reference: the host server's own api/status (nothing proxied)", server.url,
                     {**server.auth, **login})
        paths = [p for p in (direct, direct_port, proxy, jsp) if p is not None]
        for path in paths + [host]:
            path.session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=1, resolver=LocalhostResolver()), **options)
            sessions.append(path.session)
        labels = {p.name: p.label for p in paths + [host]}
        labels["jsp_streamed"] = "jupyter-server-proxy, `Accept: text/event-stream`"
        print(f"host server pid {server.ps.pid} on {server.url}; workspace {workspace_id} on :{port}{base}", file=sys.stderr)
        f: dict[str, dict] = {k: {} for k in labels}

        print("small GETs...", file=sys.stderr)
        samples = await latency(paths + [host], args.requests, args.warmup)
        for name, values in samples.items():
            f[name].update(get_p50_ms=statistics.median(values), get_p99_ms=percentile(values, 0.99),
                           get_mean_ms=statistics.fmean(values))
        for path in paths + [host]:
            f[path.name]["host_cpu_per_get_ms"] = await host_cpu_per_get(path, server, args.cpu_requests)

        sizes = [args.size_mb] + ([args.small_size_mb] if args.small_size_mb else [])
        variants = [(path, False) for path in paths] + [(jsp, True)]
        for size_mb in sizes:
            print(f"downloads of {size_mb} MiB...", file=sys.stderr)
            size, name = size_mb * MIB, f"proxy-bench-{size_mb}M.bin"
            result = await asyncio.to_thread(
                container.exec_run, ["sh", "-c", f"head -c {size} /dev/urandom > /home/jovyan/work/{name}"], user="1000")
            if result.exit_code != 0:
                raise RuntimeError(f"could not write the test file: {result.output!r}")
            runs: dict[str, list[dict]] = {}
            for i in range(args.downloads):
                for path, streamed in rotated(variants, i):
                    key = "jsp_streamed" if streamed else path.name
                    # Each download finds the workspace idle: its Jupyter frees the last file's
                    # buffers (several times the file, read whole and base64-coded) after answering,
                    # which slowed whichever path came next, and not each path alike.
                    await asyncio.sleep(args.settle_s)
                    outcome = await download(path, f"files/{name}", size, server, args.sample_ms / 1000, streamed)
                    runs.setdefault(key, []).append(outcome)
                    print(f"  {key}: {json.dumps(outcome)}", file=sys.stderr)
                    await asyncio.sleep(0.5)  # let the server settle before the next baseline
            for key, outcomes in runs.items():
                f[key].setdefault("downloads", {})[f"{size_mb} MiB"] = summarize_downloads(outcomes)
            # Each repetition's proxy run against the direct run next to it: load drifts cancel out.
            for baseline in [p.name for p in paths if p.name.startswith("direct")]:
                pairs = [p["mib_s"] / d["mib_s"] for p, d in zip(runs["proxy"], runs[baseline], strict=True)
                         if p["mib_s"] and d["mib_s"]]
                f["proxy"]["downloads"][f"{size_mb} MiB"].update({
                    f"ratio_vs_{baseline}": statistics.median(pairs) if len(pairs) == args.downloads else None,
                    f"ratios_vs_{baseline}": pairs})

        print("kernel round trips...", file=sys.stderr)
        ws = await websocket_round_trips(paths, args.executes, args.warmup_executes)
        for name_, values in ws.items():
            f[name_].update(exec_p50_ms=statistics.median(values), exec_p90_ms=percentile(values, 0.9),
                            exec_p99_ms=percentile(values, 0.99))

        load_after = os.getloadavg()
        environment = (f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
                       f"{os.cpu_count()} CPUs, load average {load_before[0]:.2f} before / {load_after[0]:.2f} after, "
                       f"Python {platform.python_version()}, aiohttp {aiohttp.__version__}, "
                       f"jupyter-server-proxy {jsp_version()}, Docker {client.version()['Version']}")
        text, ok = report(args, f, labels, sizes, environment)
        print(text)
        save(args, text, {"environment": environment, "arguments": vars(args), "goals": GOALS, "figures": f,
                          "all_goals_met": ok})
        completed = True
        return 0 if ok else 1
    finally:
        for session in sessions:
            await session.close()
        if workspace_id is not None:
            try:
                await delete(control, server, workspace_id)
            except (aiohttp.ClientError, OSError, RuntimeError) as e:  # the server is gone: remove directly
                print(f"delete through the server failed ({e}); removing directly", file=sys.stderr)
                remove_leftovers(client)
        await control.close()
        server.stop()
        client.close()
        if completed and not args.keep_logs:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"the host server's log: {server.log_path}", file=sys.stderr)


def save(args: argparse.Namespace, text: str, run: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    md, js = RESULTS / "proxy.md", RESULTS / "proxy.json"
    runs = []
    if args.append and js.exists():
        runs = json.loads(js.read_text()).get("runs", [])
    runs.append(run)
    if args.append and md.exists():
        text = md.read_text().rstrip("\n") + "\n\n---\n\n" + text
    md.write_text(text + "\n")
    js.write_text(json.dumps({"runs": runs}, indent=2) + "\n")


def jsp_version() -> str:
    try:
        return version("jupyter-server-proxy")
    except PackageNotFoundError:
        return "not installed"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000, help="timed GETs of api/status per path")
    parser.add_argument("--warmup", type=int, default=100, help="untimed GETs per path first")
    parser.add_argument("--cpu-requests", type=int, default=300, help="GETs per path for the host CPU per GET")
    parser.add_argument("--size-mb", type=int, default=200, help="size of the downloaded file, MiB")
    parser.add_argument("--small-size-mb", type=int, default=64,
                        help="a second download size, under the 100 MiB that jupyter-server-proxy's client "
                             "accepts (0: none)")
    parser.add_argument("--downloads", type=int, default=5, help="downloads per path and size (medians)")
    parser.add_argument("--settle-s", type=float, default=1.0,
                        help="seconds of quiet before each download, so each finds the workspace idle")
    parser.add_argument("--sample-ms", type=float, default=20, help="RSS sampling interval during downloads")
    parser.add_argument("--executes", type=int, default=200, help="timed kernel executes per path")
    parser.add_argument("--warmup-executes", type=int, default=20, help="untimed kernel executes per path first")
    parser.add_argument("--profile", default="minimal", help="the workspace profile to launch")
    parser.add_argument("--ca-bundle", default="/etc/ssl/certs/ca-certificates.crt",
                        help="extra CA bundle for image builds, if the image must be built")
    parser.add_argument("--profile-proxy", metavar="FILE",
                        help="run the host server under `py-spy record` and write a speedscope profile to FILE")
    parser.add_argument("--upstream-route", default="auto", choices=ROUTES,
                        help="the host server's WorkspaceManager.upstream_route (published-port adds the published port as a second baseline)")
    parser.add_argument("--append", action="store_true",
                        help="add this run to benchmarks/results/proxy.md and proxy.json instead of replacing them")
    parser.add_argument("--keep-logs", action="store_true", help="keep the host server's log (always kept when the run fails)")
    args = parser.parse_args()
    if jsp_version() == "not installed":
        parser.error("jupyter-server-proxy is not installed: pip install jupyter-server-proxy (for the benchmark only)")
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
