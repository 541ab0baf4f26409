#!/usr/bin/env bash
# Prepares this host for workspace_launcher, idempotently: system packages, a Docker engine
# (started only when none answers; a running one is left alone), the project's virtual
# environment in .venv, and the OS base image (made with debootstrap when missing).
# Sourced by scripts/run.sh and scripts/test.sh.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${WORKSPACE_LAUNCHER_VENV:-$REPO_ROOT/.venv}"
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/workspace-launcher-dockerd.log}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

ensure_packages() {
    # Arguments: extra "command:package" pairs the caller needs (e.g. the test tools).
    local missing=() pair
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    command -v git >/dev/null || missing+=(git)
    command -v node >/dev/null || missing+=(nodejs npm)  # builds the JupyterLab extension
    python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        say "installing ${missing[*]}"
        as_root apt-get update -q
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
    fi
}

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }

ensure_engine() {
    if engine_answers; then
        say "Docker engine already running; leaving it alone"
        return
    fi
    say "starting the Docker engine (log: $DOCKERD_LOG)"
    as_root sh -c "setsid nohup dockerd >'$DOCKERD_LOG' 2>&1 </dev/null &"
    for _ in $(seq 1 60); do
        engine_answers && return
        sleep 1
    done
    echo "the Docker engine did not come up; see $DOCKERD_LOG" >&2
    tail -20 "$DOCKERD_LOG" >&2 || true
    exit 1
}

ensure_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating $VENV"
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install -q --upgrade pip setuptools wheel
    fi
    say "installing workspace_launcher into $VENV"
    # setuptools reuses build/: a module deleted from the sources would otherwise be installed again.
    rm -rf "$REPO_ROOT/build"
    # A failed install stops here (pipefail) instead of leaving a stale package in place.
    "$VENV/bin/pip" install -q --upgrade "$REPO_ROOT$1" 2>&1 | { grep -v "^WARNING: Location" >&2 || true; }
    "$VENV/bin/python" -c 'import workspace_launcher' || { echo "install failed" >&2; exit 1; }
}

ensure_base_image() {
    say "making the OS base image if missing (debootstrap, no registry needed)"
    as_root "$VENV/bin/workspace-launcher" images bootstrap-base --if-missing
}

setup_host() {
    # $1: pip extras to install (e.g. "[test]"); further arguments go to ensure_packages.
    local extras="${1:-}"
    shift || true
    ensure_packages "$@"
    ensure_engine
    ensure_venv "$extras"
    ensure_base_image
}
