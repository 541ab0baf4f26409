"""Launch-to-ready time on a cached image: the launcher against a bare `docker run`.

Both sides start the same image with the same Jupyter command and wait with the same readiness
probe (GET <base_url>api/status with the token, every 50 ms). The launcher side also does what a
real launch does: validate, find the cached image by content hash, take the GPU lock, read the
engine's state, create the volumes and labels, and publish on loopback.

    python benchmarks/launch.py [--runs 10] [--profile minimal]

Prints a table and writes benchmarks/results/launch.md and launch.json.
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
import time
from datetime import datetime, timezone
from pathlib import Path

import docker
from tornado.httpclient import AsyncHTTPClient
from traitlets.config import Config

from workspace_launcher.engine import spec as specs
from workspace_launcher.engine.objects import Container
from workspace_launcher.workspaces.manager import WorkspaceManager
from workspace_launcher.workspaces.readiness import answers
from workspace_launcher.workspaces.upstream import Upstream

RESULTS = Path(__file__).parent / "results"
OWNER = "wlbench"


async def probe_until_ready(port: int, base_url: str, token: str, timeout: float = 120) -> None:
    client = AsyncHTTPClient()
    deadline = time.monotonic() + timeout
    while not await answers(client, Upstream("127.0.0.1", port, base_url, token)):
        if time.monotonic() > deadline:
            raise TimeoutError("workspace did not become ready")
        await asyncio.sleep(0.05)


async def bare_run(client: docker.DockerClient, image: str) -> float:
    token = secrets.token_urlsafe(32)
    base_url = "/bench/"
    start = time.perf_counter()
    container = await asyncio.to_thread(
        client.containers.run, image, specs.jupyter_command(base_url), detach=True,
        environment={"JUPYTER_TOKEN": token}, ports={"8888/tcp": ("127.0.0.1", None)},
        labels={"workspace-launcher.bench": "bare"},
    )
    try:
        container.reload()
        port = Container.from_attrs(container.attrs).published_port
        await probe_until_ready(port, base_url, token)
        return time.perf_counter() - start
    finally:
        await asyncio.to_thread(container.remove, force=True)


async def launcher_run(manager: WorkspaceManager, profile: str) -> float:
    start = time.perf_counter()
    workspace = await manager.launch(owner=OWNER, profile=profile)
    elapsed = time.perf_counter() - start
    await manager.delete(owner=OWNER, workspace_id=workspace.id, purge=True)
    return elapsed


def summarize(samples: list[float]) -> dict:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return {"median": statistics.median(ordered), "p90": p90, "min": ordered[0], "max": ordered[-1], "runs": len(ordered)}


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--profile", default="minimal")
    parser.add_argument("--ca-bundle", default="/etc/ssl/certs/ca-certificates.crt")
    args = parser.parse_args()

    config = Config()
    if os.path.isfile(args.ca_bundle):
        config.ImageBuilder.extra_ca_bundle = args.ca_bundle
    manager = WorkspaceManager(config=config)
    built = await manager.builder.ensure(manager.profiles.get(args.profile))  # warm the cache
    client = docker.from_env()

    await launcher_run(manager, args.profile)  # warm-up: network, model volume, page cache
    await bare_run(client, built.tag)
    launcher, bare = [], []
    for _ in range(args.runs):  # interleaved, so drift hits both sides alike
        bare.append(await bare_run(client, built.tag))
        launcher.append(await launcher_run(manager, args.profile))

    rows = {"bare docker run + probe": summarize(bare), "workspace_launcher launch": summarize(launcher)}
    overhead = rows["workspace_launcher launch"]["median"] / rows["bare docker run + probe"]["median"] - 1
    lines = [
        f"# Launch-to-ready on a cached image ({args.profile}, {args.runs} runs each)",
        "",
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} CPUs, "
        f"Docker {client.version()['Version']}, image {built.tag}",
        "",
        "| path | median (s) | p90 (s) | min (s) | max (s) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, row in rows.items():
        lines.append(f"| {name} | {row['median']:.3f} | {row['p90']:.3f} | {row['min']:.3f} | {row['max']:.3f} |")
    lines += ["", f"Launcher overhead over the bare run (median): {overhead * 100:+.1f}% (goal: under +20%)"]
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "launch.md").write_text(text + "\n")
    (RESULTS / "launch.json").write_text(json.dumps({"rows": rows, "overhead": overhead, "image": built.tag}, indent=2) + "\n")
    client.close()
    manager.engine.close()
    return 0 if overhead < 0.20 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
