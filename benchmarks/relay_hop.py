"""What one relay hop costs on this machine, with no Jupyter and no Docker: a sender process, an
optional relay process, a receiver, over loopback TCP.

* direct: sender -> receiver (the baseline);
* splice: sender -> relay -> receiver, the relay moving bytes with ``proxy.splice.splice_between``
  (what the workspace proxy does with a big download);
* copy: the same relay with ``recv_into`` / ``sendall`` through a 256 KiB buffer (what a
  userspace proxy does).

Rounds interleave the three (rotating which goes first); medians. It shows how much of the
proxied download's gap to direct is the hop itself on this core count.

    python benchmarks/relay_hop.py [--mib 400] [--rounds 5]

Prints a table and writes benchmarks/results/relay_hop.md.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import socket
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from workspace_launcher.proxy.splice import splice_between  # noqa: E402

RESULTS = Path(__file__).parent / "results"
MIB = 2**20
MODES = ("direct", "splice", "copy")


def send(port: int, size: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as s:
        chunk = b"x" * MIB
        for _ in range(size // MIB):
            s.sendall(chunk)


def relay(listener: socket.socket, port: int, size: int, mode: str) -> None:
    upstream, _ = listener.accept()
    browser = socket.create_connection(("127.0.0.1", port))
    if mode == "splice":
        upstream.setblocking(False)
        browser.setblocking(False)
        asyncio.run(splice_between(upstream.fileno(), browser.fileno(), size))
    else:
        buffer, left = bytearray(256 * 1024), size
        while left:
            got = upstream.recv_into(buffer)
            browser.sendall(memoryview(buffer)[:got])
            left -= got
    browser.close()
    upstream.close()


def one(mode: str, size: int) -> float:
    """MiB/s received through ``mode``."""
    receiver = socket.create_server(("127.0.0.1", 0))
    processes = []
    target = receiver.getsockname()[1]
    if mode != "direct":
        listener = socket.create_server(("127.0.0.1", 0))
        processes.append(multiprocessing.Process(target=relay, args=(listener, target, size, mode)))
        target = listener.getsockname()[1]
    processes.append(multiprocessing.Process(target=send, args=(target, size)))
    for process in processes:
        process.start()
    connection, _ = receiver.accept()
    started, got, buffer = time.perf_counter(), 0, bytearray(MIB)
    while chunk := connection.recv_into(buffer):
        got += chunk
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join()
    connection.close()
    receiver.close()
    if got != size:
        raise RuntimeError(f"{mode}: received {got} of {size} bytes")
    return size / MIB / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    multiprocessing.set_start_method("fork")
    samples: dict[str, list[float]] = {m: [] for m in MODES}
    for i in range(args.rounds):
        for mode in MODES[i % 3:] + MODES[:i % 3]:
            samples[mode].append(one(mode, args.mib * MIB))
    direct = statistics.median(samples["direct"])
    lines = ["| path | median MiB/s | min | max | vs direct |", "|---|---:|---:|---:|---:|"]
    for mode in MODES:
        values = samples[mode]
        lines.append(f"| {mode} | {statistics.median(values):.0f} | {min(values):.0f} | {max(values):.0f} | "
                      f"{statistics.median(values) / direct:.2f}× |")
    table = "\n".join(lines)
    print(table)
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    environment = f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "relay_hop.md").write_text(
        f"# One relay hop on loopback ({stamp})\n\n{environment}; `python benchmarks/relay_hop.py "
        f"--mib {args.mib} --rounds {args.rounds}`\n\n{table}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
