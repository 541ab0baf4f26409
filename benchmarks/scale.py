"""Scale and cost on one host: many idle workspaces, status polls, proxied requests, concurrent launches.

Two host Jupyter servers run as subprocesses on loopback, for the same owner on the same engine:

* ``watching``: the release as shipped, which keeps workspace state from the engine's event
  stream (``WorkspaceManager.watch_events = True``, the reflector);
* ``polling``: the same code with ``watch_events = False``, which asks the engine on every read
  (the behaviour before the reflector): the baseline of the status and list figures.

Measured, each beside its baseline in the same run:

* 10 concurrent launches of ``minimal`` through the REST API (POST, then poll every 0.2 s until running)
  against 10 concurrent bare ``docker run``s of the same image and Jupyter command, each waited
  for with the same readiness probe, in ``--launch-rounds`` rounds that alternate which goes
  first, each side after ``--settle-s`` seconds of quiet (medians); and how far apart their
  container creations landed;
* host-server CPU per ``GET workspaces/{id}`` (psutil, user + system) on both servers, beside
  the host's cheapest authenticated request (``GET /api/status``), and dockerd's CPU meanwhile,
  each sent as a browser sends it (the token and the host's login cookie) and taken in turns
  over ``--rounds`` rounds (medians);
* ``GET workspaces`` latency (p50, p99) with ``--workspaces`` idle workspaces, on both servers;
* host CPU per small proxied GET (``<workspace>/api/status`` on the workspace's own origin, with
  the session cookie from the handshake) beyond the host's own ``GET /api/status``;
* 200 concurrent proxied GETs spread over 10 workspaces: errors and p99;
* host memory per idle workspace: the watching server's RSS growth over the launches, and the
  containers' own memory (the engine's stats).

    python benchmarks/scale.py [--workspaces 50] [--requests 1000] [--rounds 10] [--launch-rounds 4] [--settle-s 10]

Prints a table and writes benchmarks/results/scale.md and scale.json. Exits 1 if a goal is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import aiohttp
import docker
import psutil

sys.path.insert(0, str(Path(__file__).parent))
from host_server import (  # noqa: E402  (the benchmarks' shared host server)
    HostServer,
    LocalhostResolver,
    cpu_seconds,
    percentile,
    workspace_session,
)

from workspace_launcher.engine import spec as specs  # noqa: E402
from workspace_launcher.engine.objects import Container  # noqa: E402
from workspace_launcher.workspaces.readiness import answers  # noqa: E402
from workspace_launcher.workspaces.upstream import Upstream  # noqa: E402

RESULTS = Path(__file__).parent / "results"
OWNER = "wlbench-scale"
GOALS = {"get_cpu_ms": 1.0, "list_p99_ms": 50.0, "proxy_cpu_ms": 1.0, "launch_ratio": 1.1}
CONCURRENT = 10


class Server(HostServer):
    """The benchmarks' host server, for this benchmark's owner, watching the engine's events or not."""

    def __init__(self, workdir: Path, ca_bundle: str | None, *, watch: bool) -> None:
        workdir.mkdir()
        super().__init__(workdir, ca_bundle, None, "auto", owner=OWNER)
        config = workdir / "config" / "jupyter_server_config.py"
        with open(config, "a") as f:
            f.write(f"c.WorkspaceManager.watch_events = {watch!r}\n"
                    f"c.GpuAllocator.lock_path = {str(workdir.parent / 'gpus.lock')!r}\n")

    @property
    def api(self) -> str:
        return self.url + "workspace-launcher/api/"


async def get_json(session: aiohttp.ClientSession, url: str, headers: dict) -> tuple[int, object]:
    async with session.get(url, headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def launch_many(session: aiohttp.ClientSession, server: Server, count: int) -> tuple[float, list[str]]:
    """POST ``count`` launches at once, poll until all run; (seconds, ids)."""
    start = time.perf_counter()

    async def one() -> str:
        body = {"profile": "minimal", "name": f"scale-{secrets.token_hex(4)}"}
        async with session.post(server.api + "workspaces", json=body, headers=server.auth) as r:
            answer = await r.json()
            if r.status != 202:
                raise RuntimeError(f"launch answered {r.status}: {answer}")
        workspace_id = answer["id"]
        while True:
            _, got = await get_json(session, f"{server.api}workspaces/{workspace_id}", server.auth)
            if got.get("status") == "running":
                return workspace_id
            if got.get("status") == "failed":
                raise RuntimeError(f"launch failed: {got.get('error')}")
            # A front end follows the event stream; polling faster only loads the cores the
            # workspaces' Jupyters start on (both sides' readiness probes run at 50 ms).
            await asyncio.sleep(0.2)

    ids = await asyncio.gather(*(one() for _ in range(count)))
    return time.perf_counter() - start, list(ids)


async def bare_runs(client: docker.DockerClient, image: str, count: int) -> tuple[float, list[str]]:
    """``count`` concurrent ``docker run``s of the image's Jupyter, each probed until it answers."""
    from tornado.httpclient import AsyncHTTPClient

    start = time.perf_counter()

    async def one() -> str:
        token, base_url = secrets.token_urlsafe(32), "/bench/"
        container = await asyncio.to_thread(
            client.containers.run, image, specs.jupyter_command(base_url), detach=True,
            environment={"JUPYTER_TOKEN": token}, ports={"8888/tcp": ("127.0.0.1", None)},
            labels={"workspace-launcher.bench": "scale-bare"}, user="1000",
        )
        await asyncio.to_thread(container.reload)
        upstream = Upstream("127.0.0.1", Container.from_attrs(container.attrs).published_port, base_url, token)
        probe = AsyncHTTPClient()
        while not await answers(probe, upstream):
            await asyncio.sleep(0.05)
        return container.id

    ids = await asyncio.gather(*(one() for _ in range(count)))
    return time.perf_counter() - start, list(ids)


async def delete_all(session: aiohttp.ClientSession, server: Server, ids: list[str]) -> None:
    """Delete (and purge) the workspaces, through the REST API, all at once."""
    async def one(workspace_id: str) -> None:
        async with session.delete(f"{server.api}workspaces/{workspace_id}?purge=true", headers=server.auth) as r:
            if r.status >= 400:
                raise RuntimeError(f"deleting {workspace_id} answered {r.status}: {await r.text()}")

    await asyncio.gather(*(one(i) for i in ids))


def aiohttp_client() -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=0, resolver=LocalhostResolver())
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())


def creation_spread(client: docker.DockerClient, container_ids: list[str]) -> float:
    """Seconds between the first and the last container creation (the engine's timestamps)."""
    stamps = []
    for container_id in container_ids:
        created = client.api.inspect_container(container_id)["Created"]
        stamps.append(datetime.fromisoformat(created[:26].rstrip("Z")).timestamp())
    return max(stamps) - min(stamps)


def dockerd() -> psutil.Process | None:
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.info["name"] == "dockerd" and "-H" not in (process.info["cmdline"] or []):
            return process
    return None


async def cpu_per_request(session, server: Server, url: str, headers: dict, requests: int,
                          engine: psutil.Process | None) -> tuple[float, float]:
    """(host ms, engine ms) of CPU per sequential GET of ``url``."""
    host0, engine0 = cpu_seconds(server.ps), cpu_seconds(engine) if engine else 0.0
    for _ in range(requests):
        async with session.get(url, headers=headers) as r:
            await r.read()
            if r.status != 200:
                raise RuntimeError(f"GET {url} answered {r.status}")
    host = (cpu_seconds(server.ps) - host0) / requests * 1000
    engine_ms = ((cpu_seconds(engine) - engine0) / requests * 1000) if engine else float("nan")
    return host, engine_ms


async def interleaved_cpu(session, probes: dict[str, tuple[Server, str, dict]], requests: int, rounds: int,
                          engine: psutil.Process | None) -> dict[str, tuple[float, float]]:
    """Median (host ms, engine ms) per GET of each probe, over ``rounds`` rounds that take the
    probes in turn (rotating which goes first): the idle workspaces' timers and the VM's
    neighbours land on every probe alike instead of on whichever ran when they fired."""
    for server, url, headers in probes.values():  # warm
        await cpu_per_request(session, server, url, headers, 20, None)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in probes}
    names = list(probes)
    for i in range(rounds):
        for name in names[i % len(names):] + names[:i % len(names)]:
            server, url, headers = probes[name]
            samples[name].append(await cpu_per_request(session, server, url, headers, max(1, requests // rounds), engine))
    return {name: (statistics.median(h for h, _ in got), statistics.median(e for _, e in got))
            for name, got in samples.items()}


async def browser_headers(session, server: Server) -> dict:
    """The token and the login cookie the host sets on the first authenticated answer, as a
    browser sends both on every later request (holding the cookie spares the host re-issuing it)."""
    async with session.get(server.url + "api/status", headers=server.auth) as r:
        cookie = r.cookies.get(f"username-127-0-0-1-{server.port}")
        if cookie is None:
            raise RuntimeError("the host server set no login cookie")
    return {**server.auth, "Cookie": f"{cookie.key}={cookie.value}"}


async def latencies(session, url: str, headers: dict, requests: int) -> list[float]:
    samples = []
    for _ in range(requests):
        start = time.perf_counter()
        async with session.get(url, headers=headers) as r:
            await r.read()
            if r.status != 200:
                raise RuntimeError(f"GET {url} answered {r.status}")
        samples.append((time.perf_counter() - start) * 1000)
    return samples


async def concurrent_proxied(session, server: Server, workspace_ids: list[str], total: int) -> dict:
    cookies = {i: await workspace_session(session, server, i) for i in workspace_ids}

    async def one(k: int) -> tuple[bool, float]:
        workspace_id = workspace_ids[k % len(workspace_ids)]
        url = f"http://{workspace_id}.localhost:{server.port}/workspace-launcher/workspaces/{workspace_id}/api/status"
        start = time.perf_counter()
        try:
            async with session.get(url, headers={"Cookie": f"workspace-launcher-session={cookies[workspace_id]}",
                                                 "Sec-Fetch-Site": "same-origin"}) as r:
                await r.read()
                ok = r.status == 200
        except aiohttp.ClientError:
            ok = False
        return ok, (time.perf_counter() - start) * 1000

    outcomes = await asyncio.gather(*(one(k) for k in range(total)))
    times = [ms for _, ms in outcomes]
    return {"requests": total, "errors": sum(1 for ok, _ in outcomes if not ok),
            "p50_ms": percentile(times, 0.5), "p99_ms": percentile(times, 0.99)}


def container_memory_mib(client: docker.DockerClient, container_ids: list[str]) -> float:
    used = []
    for container_id in container_ids:
        stats = client.api.stats(container_id, stream=False)
        memory = stats.get("memory_stats", {})
        used.append((memory.get("usage", 0) - memory.get("stats", {}).get("cache", 0)) / 2**20)
    return statistics.mean(used)


def cleanup(client: docker.DockerClient) -> None:
    for container in client.containers.list(all=True, filters={"label": "workspace-launcher.bench=scale-bare"}):
        container.remove(force=True)
    owner_filter = {"label": [f"{specs.label('owner')}={OWNER}"]}
    for container in client.containers.list(all=True, filters=owner_filter):
        container.remove(force=True)
    for volume in client.volumes.list(filters=owner_filter):
        volume.remove(force=True)


async def run(args: argparse.Namespace) -> dict:
    client = docker.from_env(timeout=300)
    engine = dockerd()
    ca = "/etc/ssl/certs/ca-certificates.crt" if os.path.isfile("/etc/ssl/certs/ca-certificates.crt") else None
    workdir = Path(tempfile.mkdtemp(prefix="wl-scale-"))
    watching = Server(workdir / "watching", ca, watch=True)
    polling = Server(workdir / "polling", ca, watch=False)
    session = aiohttp_client()
    figures: dict = {}
    try:
        for server in (watching, polling):
            await server.start(session)
        # The image, built if needed, and one launch to warm every cache on both sides.
        _, (warm,) = await launch_many(session, watching, 1)
        image = client.api.inspect_container(client.containers.get(f"workspace-launcher-{warm}").id)["Config"]["Image"]
        bare_warm = await bare_runs(client, image, 1)
        for container_id in bare_warm[1]:
            client.api.remove_container(container_id, force=True)

        # 10 concurrent launches against 10 concurrent bare runs, in --launch-rounds rounds that
        # alternate which goes first (the second of a pair finds the page cache the first warmed);
        # medians. The last round's launches stay, as the first of the idle workspaces.
        rss_before = watching.rss()
        rounds: list[dict] = []
        for i in range(args.launch_rounds):
            last = i == args.launch_rounds - 1
            turn: dict = {}
            for side in (("bare", "launcher") if i % 2 == 0 else ("launcher", "bare")):
                # The engine goes on tearing the last side's ten containers down (and their
                # volumes) after the removals return: each side starts on a quiet engine.
                await asyncio.sleep(args.settle_s)
                if side == "bare":
                    turn["bare_s"], bare_ids = await bare_runs(client, image, CONCURRENT)
                    turn["bare_create_spread_s"] = creation_spread(client, bare_ids)
                    for container_id in bare_ids:
                        client.api.remove_container(container_id, force=True)
                else:
                    if last:
                        rss_before = watching.rss()
                    turn["launcher_s"], ids = await launch_many(session, watching, CONCURRENT)
                    turn["launcher_create_spread_s"] = creation_spread(client, [f"workspace-launcher-{i}" for i in ids])
                    if not last:
                        await delete_all(session, watching, ids)
            rounds.append(turn)
        figures["launch"] = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
        figures["launch"]["ratio"] = statistics.median(r["launcher_s"] / r["bare_s"] for r in rounds)
        figures["launch"]["rounds"] = rounds
        while len(ids) + 1 < args.workspaces:
            _, more = await launch_many(session, watching, min(CONCURRENT, args.workspaces - 1 - len(ids)))
            ids.extend(more)
        ids.append(warm)
        await asyncio.sleep(3)  # let the launches' last events settle
        figures["memory"] = {"host_rss_per_workspace_mib": (watching.rss() - rss_before) / 2**20 / (len(ids) - 1),
                             "container_mib": container_memory_mib(client, [f"workspace-launcher-{i}" for i in ids[:10]]),
                             "workspaces": len(ids)}

        # Status polls, proxied small GETs and the host's cheapest authenticated request, taken
        # in turns; then lists, on both servers.
        one = ids[len(ids) // 2]
        login = {server: await browser_headers(session, server) for server in (watching, polling)}
        cookie = await workspace_session(session, watching, one)
        proxied_url = f"http://{one}.localhost:{watching.port}/workspace-launcher/workspaces/{one}/api/status"
        probes = {
            "cheapest": (watching, watching.url + "api/status", login[watching]),
            "watching": (watching, f"{watching.api}workspaces/{one}", login[watching]),
            "polling": (polling, f"{polling.api}workspaces/{one}", login[polling]),
            "proxied": (watching, proxied_url,
                        {"Cookie": f"workspace-launcher-session={cookie}", "Sec-Fetch-Site": "same-origin"}),
        }
        cpu = await interleaved_cpu(session, probes, args.requests, args.rounds, engine)
        cheapest = cpu["cheapest"][0]
        polls = {}
        for server, name in ((watching, "watching"), (polling, "polling")):
            listing = await latencies(session, f"{server.api}workspaces", login[server], args.requests // 2)
            polls[name] = {"get_cpu_ms": cpu[name][0], "get_engine_cpu_ms": cpu[name][1],
                           "list_p50_ms": percentile(listing, 0.5), "list_p99_ms": percentile(listing, 0.99)}
        figures["polls"] = polls
        figures["cheapest_cpu_ms"] = cheapest
        figures["proxy"] = {"cpu_ms": cpu["proxied"][0], "beyond_cheapest_ms": cpu["proxied"][0] - cheapest}
        figures["concurrent"] = await concurrent_proxied(session, watching, ids[:10], 200)

        await delete_all(session, watching, ids)
    finally:
        await session.close()
        for server in (watching, polling):
            server.stop()
        cleanup(client)
        client.close()
    return figures


def report(f: dict, args: argparse.Namespace) -> tuple[str, bool]:
    polls, launch = f["polls"], f["launch"]
    rows = [
        ("GET workspaces/{id}: host CPU", f"{polls['watching']['get_cpu_ms']:.2f} ms",
         f"{polls['polling']['get_cpu_ms']:.2f} ms (engine polled)", f"≤ {GOALS['get_cpu_ms']:g} ms",
         polls["watching"]["get_cpu_ms"] <= GOALS["get_cpu_ms"]),
        ("GET workspaces/{id}: dockerd CPU", f"{polls['watching']['get_engine_cpu_ms']:.2f} ms",
         f"{polls['polling']['get_engine_cpu_ms']:.2f} ms", "", True),
        ("host's own GET /api/status: CPU", f"{f['cheapest_cpu_ms']:.2f} ms", "", "reference", True),
        (f"GET workspaces, {f['memory']['workspaces']} idle: p50 / p99",
         f"{polls['watching']['list_p50_ms']:.1f} / {polls['watching']['list_p99_ms']:.1f} ms",
         f"{polls['polling']['list_p50_ms']:.1f} / {polls['polling']['list_p99_ms']:.1f} ms",
         f"p99 < {GOALS['list_p99_ms']:g} ms", polls["watching"]["list_p99_ms"] < GOALS["list_p99_ms"]),
        ("small proxied GET: host CPU beyond /api/status", f"{f['proxy']['beyond_cheapest_ms']:.2f} ms",
         f"({f['proxy']['cpu_ms']:.2f} ms in all)", f"≤ {GOALS['proxy_cpu_ms']:g} ms",
         f["proxy"]["beyond_cheapest_ms"] <= GOALS["proxy_cpu_ms"]),
        (f"{CONCURRENT} concurrent launches", f"{launch['launcher_s']:.2f} s", f"{launch['bare_s']:.2f} s (bare docker run)",
         f"≤ {GOALS['launch_ratio']:g}× ({launch['ratio']:.2f}×)", launch["ratio"] <= GOALS["launch_ratio"]),
        ("  creations spread over", f"{launch['launcher_create_spread_s']:.2f} s", f"{launch['bare_create_spread_s']:.2f} s", "", True),
        ("200 concurrent proxied GETs over 10 workspaces", f"{f['concurrent']['errors']} errors, p99 {f['concurrent']['p99_ms']:.0f} ms",
         "", "0 errors", f["concurrent"]["errors"] == 0),
        ("memory per idle workspace", f"host {f['memory']['host_rss_per_workspace_mib']:.2f} MiB",
         f"container {f['memory']['container_mib']:.0f} MiB", "recorded", True),
    ]
    widths = [max(len(str(r[i])) for r in rows) for i in range(4)]
    head = ("figure", "watching (shipped)", "baseline (same run)", "goal")
    widths = [max(w, len(h)) for w, h in zip(widths, head)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(head, widths)) + " | met |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|-----|"]
    for *cells, met in rows:
        lines.append("| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + f" | {'yes' if met else 'NO'} |")
    return "\n".join(lines), all(r[-1] for r in rows)


def launch_rounds(f: dict) -> str:
    """The concurrent launch rounds one by one, under the table."""
    lines = ["| round | first | bare runs (s) | launches (s) | ratio |", "|---:|---|---:|---:|---:|"]
    for i, r in enumerate(f["launch"]["rounds"], 1):
        first = "bare" if i % 2 else "launcher"
        lines.append(f"| {i} | {first} | {r['bare_s']:.2f} | {r['launcher_s']:.2f} | {r['launcher_s'] / r['bare_s']:.2f}× |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspaces", type=int, default=50)
    parser.add_argument("--requests", type=int, default=1000, help="GETs per CPU figure (and half as many lists)")
    parser.add_argument("--rounds", type=int, default=10, help="turns the CPU figures' GETs are split into")
    parser.add_argument("--settle-s", type=float, default=10.0,
                        help="seconds of quiet before each side of a launch round")
    parser.add_argument("--launch-rounds", type=int, default=4,
                        help="rounds of 10 concurrent launches against 10 bare runs, alternating which goes first")
    args = parser.parse_args()
    figures = asyncio.run(run(args))
    table, met = report(figures, args)
    environment = (f"{platform.node()}: {os.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
                   f"Python {platform.python_version()}, Docker {docker.from_env().version()['Version']}")
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    print(table)
    print(launch_rounds(figures))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scale.md").write_text(
        f"# Scale and cost on one host ({stamp})\n\n{environment}; `python benchmarks/scale.py "
        f"--workspaces {args.workspaces} --requests {args.requests} --rounds {args.rounds} "
        f"--launch-rounds {args.launch_rounds} --settle-s {args.settle_s:g}`\n\n{table}\n\n{launch_rounds(figures)}\n")
    (RESULTS / "scale.json").write_text(json.dumps({"when": stamp, "environment": environment,
                                                    "args": vars(args), "figures": figures}, indent=2) + "\n")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
