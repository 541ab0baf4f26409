#!/usr/bin/env bash
# Runs the product on a fresh Debian 12 machine: installs and starts what it needs, then starts
# JupyterLab with the workspace_launcher server extension. Extra arguments go to `jupyter lab`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup-host.sh"
setup_host ""
cd "$REPO_ROOT"
args=(--no-browser)
[ "$(id -u)" -eq 0 ] && args+=(--allow-root)
# Trust the host's CA store during image builds (TLS-intercepting proxies); override in config.
[ -f /etc/ssl/certs/ca-certificates.crt ] && args+=(--ImageBuilder.extra_ca_bundle=/etc/ssl/certs/ca-certificates.crt)
say "starting JupyterLab with workspace_launcher"
exec "$VENV/bin/jupyter" lab "${args[@]}" "$@"
