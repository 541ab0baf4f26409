#!/usr/bin/env bash
# The whole test suite, on a fresh Debian 12 machine: installs and starts what it needs (Docker
# engine, base image, virtual environment), then runs unit and integration tests.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup-host.sh"
# Browser tests drive Debian's Chromium; pinning tests run a registry on loopback; the second
# engine of the concurrency and fault tests (tests/integration/engine2.py) gets its bridges with ip.
setup_host "[test]" chromium:chromium docker-registry:docker-registry ip:iproute2
cd "$REPO_ROOT"
say "running the tests"
# Builds behind a TLS-intercepting proxy need the host's CA bundle (see ImageBuilder.extra_ca_bundle).
export WORKSPACE_LAUNCHER_TEST_CA_BUNDLE="${WORKSPACE_LAUNCHER_TEST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
if [ "$#" -eq 0 ]; then  # the whole suite: the front end's pure rules too (jest)
    say "front-end unit tests (jest)"
    (cd labextension && PATH="$VENV/bin:$PATH" jlpm install --immutable >/dev/null && PATH="$VENV/bin:$PATH" jlpm test --silent)
fi
exec "$VENV/bin/python" -m pytest "$@"
