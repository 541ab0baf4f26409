"""The engine's image build (``engine/build.py``): what a failed build tells the admin."""

from __future__ import annotations

from workspace_launcher.engine.build import explain_build_error


def test_a_tls_build_failure_names_the_setting():
    tail = ["Collecting numpy", "SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] ...'))"]
    explained = explain_build_error("The command returned a non-zero code: 1", tail)
    assert "ImageBuilder.extra_ca_bundle" in explained and "TLS" in explained
    assert explain_build_error("no space left on device", ["Step 3/9"]) == "no space left on device"
