#!/usr/bin/env bash
# Refresh the README's screenshots (docs/screenshots/) from a run of the browser tests. Test runs
# alone never touch them; run this on purpose, then review and commit the pictures.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup-host.sh"
setup_host "[test]" chromium:chromium
cd "$REPO_ROOT"
export WORKSPACE_LAUNCHER_TEST_CA_BUNDLE="${WORKSPACE_LAUNCHER_TEST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
WORKSPACE_LAUNCHER_REFRESH_SCREENSHOTS=1 exec "$VENV/bin/python" -m pytest tests/browser "$@"
