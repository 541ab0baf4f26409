"""The engine's image build (``engine/build.py``): what a failed build tells the admin."""

from __future__ import annotations

import pytest

from workspace_launcher.engine.build import explain_build_error, explaining_lines

NON_ZERO = "The command '/bin/sh -c pip install -r /tmp/requirements.txt' returned a non-zero code: 1"


def test_a_tls_build_failure_names_the_setting():
    tail = ["Collecting numpy", "SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] ...'))"]
    explained = explain_build_error("The command returned a non-zero code: 1", tail)
    assert "ImageBuilder.extra_ca_bundle" in explained and "TLS" in explained


@pytest.mark.parametrize("line,words", [
    ("OSError: [Errno 28] No space left on device: '/opt/venv/lib'", "engine's disk is full"),
    ("WARNING: Retrying ... Failed to establish a new connection: [Errno -3] Temporary failure in name resolution",
     "could not reach the network"),
    ("E: Could not connect to deb.debian.org:80", "could not reach the network"),
])
def test_a_known_cause_gets_its_hint(line, words):
    explained = explain_build_error(NON_ZERO, ["Step 4/9 : RUN pip install", "Collecting torch", line])
    assert words in explained


def test_the_lines_that_explain_it_are_in_the_error_not_the_first_steps():
    tail = ["Step 1/4 : FROM workspace-launcher/jupyter:abc", " ---> 0123456789ab", "Step 4/4 : RUN pip install",
            "Collecting torch==9.9",
            "ERROR: Could not find a version that satisfies the requirement torch==9.9 (from versions: 2.13.0)",
            "ERROR: No matching distribution found for torch==9.9"]
    assert explaining_lines(tail) == tail[-2:]
    explained = explain_build_error(NON_ZERO, tail)
    assert explained.startswith(NON_ZERO + " (the log says: ERROR: Could not find a version")
    assert explained.endswith("No matching distribution found for torch==9.9)")
    assert "Step 1/4" not in explained
    assert explain_build_error("plain failure", ["Step 3/9 : RUN true", "ok"]) == "plain failure"
    assert len(explaining_lines([f"error {n}" for n in range(10)])) == 3
