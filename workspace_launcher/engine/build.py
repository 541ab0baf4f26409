"""One ``docker build`` on the engine: its log streamed line by line, a timeout that cancels it,
an error that carries the log tail, and no untagged leftovers when it fails."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Iterable

import requests
from docker import APIClient
from docker.errors import APIError

from workspace_launcher.errors import ImageBuildError

log = logging.getLogger(__name__)

#: Lines of the build log kept for the error a failed build raises.
LOG_TAIL_LINES = 50
#: The classic builder's "---> <id>" lines: the intermediate images this build made.
_STEP_ID = re.compile(r"^\s*---> ([0-9a-f]{12})\s*$")


#: What pip, curl, apt and Python print when a server certificate is not trusted.
TLS_FAILURE_SIGNS = ("CERTIFICATE_VERIFY_FAILED", "certificate verify failed", "SSL certificate problem")
#: ... when the engine's disk is full.
NO_SPACE_SIGNS = ("No space left on device", "no space left on device")
#: ... when a build cannot reach the network (DNS, routes, a firewall, no proxy).
NO_NETWORK_SIGNS = ("Temporary failure in name resolution", "Could not resolve host", "Name or service not known",
                    "Network is unreachable", "Failed to establish a new connection", "Could not connect to",
                    "Connection timed out", "Temporary failure resolving")

#: A known cause of a failed build -> what to do about it.
BUILD_HINTS = (
    (TLS_FAILURE_SIGNS,
     "a TLS certificate was not trusted: behind a TLS-intercepting proxy, set ImageBuilder.extra_ca_bundle to its "
     "CA bundle (or keep ImageBuilder.trust_host_ca on with that CA in the host's store)"),
    (NO_SPACE_SIGNS,
     "the engine's disk is full: remove images you no longer need ('workspace-launcher images list', "
     "'docker image prune') or give the engine's data-root more room, then launch again"),
    (NO_NETWORK_SIGNS,
     "the build could not reach the network (PyPI, Debian): check the engine host's DNS and proxy "
     "settings, or, offline, give ImageBuilder.wheelhouse the wheels the profile needs"),
)
#: Log lines that say why a step failed (pip's, apt's and Python's errors), not what ran.
_EXPLAINING = re.compile(r"\b(ERROR|Error|error|E:|FATAL|fatal|Traceback|No matching distribution|"
                         r"No space left|not found|denied|Could not)\b")
#: At most this many of them go into the error's message.
EXPLAINING_LINES = 3


def explaining_lines(tail: Iterable[str]) -> list[str]:
    """The last few log lines that say what went wrong (not the steps that ran)."""
    found = [line.strip() for line in tail
             if line.strip() and not line.startswith("Step ") and _EXPLAINING.search(line)]
    return found[-EXPLAINING_LINES:]


def explain_build_error(error: str, tail: Iterable[str]) -> str:
    """The engine's build error, with the log lines that explain it and, for a known cause
    (an untrusted certificate, a full disk, no network), what to do."""
    tail = list(tail)
    said = [line for line in explaining_lines(tail) if line not in error]
    explained = error + (f" (the log says: {' | '.join(said)})" if said else "")
    for signs, hint in BUILD_HINTS:
        if any(sign in line for line in [error, *tail] for sign in signs):
            return f"{explained}; {hint}"
    return explained


def run_build(api: APIClient, context_dir: str, *, tag: str, args: dict, labels: dict, what: str,
              emit: Callable[[str], None], timeout: float) -> str:
    """Build ``context_dir`` as ``tag`` and return the image id (blocking: run it in a thread).

    Raises ImageBuildError with the log tail when the build fails or outlasts ``timeout``.
    """
    tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
    step_ids: list[str] = []
    error = None
    started = time.monotonic()
    log.info("building %s as %s", what, tag)

    def line_out(line: str) -> None:
        tail.append(line)
        log.debug("build %s: %s", tag, line)
        emit(line)
        if m := _STEP_ID.match(line):
            step_ids.append(m.group(1))

    partial = ""
    try:
        stream = api.build(
            path=context_dir, tag=tag, buildargs=args, labels=labels, rm=True, forcerm=True,
            decode=True, timeout=timeout,
        )
        for item in stream:
            text = item.get("stream") or item.get("status") or ""
            *lines, partial = (partial + text).split("\n")
            for line in lines:
                line_out(line.rstrip("\r"))
            if "error" in item or "errorDetail" in item:  # the stream ends after it
                error = error or item.get("error") or (item.get("errorDetail") or {}).get("message")
            elif time.monotonic() - started > timeout:
                error = f"timed out after {timeout:.0f}s (ImageBuilder.build_timeout)"
                stream.close()  # dropping the connection makes the engine cancel the build
                break
    except APIError as e:
        error = e.explanation or str(e)
    except requests.RequestException as e:
        error = f"the engine stopped answering ({e}); ImageBuilder.build_timeout may be too short"
    if partial:
        line_out(partial)
    remove_dangling(api, step_ids)
    if error:
        error = explain_build_error(error, tail)
        tail.append(f"ERROR: {error}")
        log.warning("building %s failed after %.1fs: %s", what, time.monotonic() - started, error)
        raise ImageBuildError(f"building {what} failed: {error}", log_tail="\n".join(tail))
    image_id = api.inspect_image(tag)["Id"]
    log.info("built %s as %s (%s) in %.1fs", what, tag, image_id[:19], time.monotonic() - started)
    return image_id


def remove_dangling(api: APIClient, step_ids: list[str]) -> None:
    """Remove untagged leftovers of one build (failed steps, unused build stages)."""
    if not step_ids:
        return
    ours = set(step_ids)
    try:
        dangling = api.images(filters={"dangling": True}, quiet=True)
    except APIError:
        return
    for image_id in dangling:
        if image_id.removeprefix("sha256:")[:12] in ours:
            try:  # prunes the untagged parents that nothing else uses
                api.remove_image(image_id)
            except APIError as e:
                log.debug("could not remove intermediate image %s: %s", image_id, e)


def loop_emitter(on_log: Callable[[str], None] | None) -> Callable[[str], None]:
    """A thread-safe callable that hands each line to ``on_log`` on the running loop."""
    if on_log is None:
        return lambda line: None
    loop = asyncio.get_running_loop()

    def deliver(line: str) -> None:
        try:
            on_log(line)
        except Exception:  # a broken listener must not break the build
            log.exception("build log listener failed")

    return lambda line: loop.call_soon_threadsafe(deliver, line)
