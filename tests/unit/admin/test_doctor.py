"""The doctor's verdicts, from facts made up for hosts we do not have."""

from __future__ import annotations

import shutil

from workspace_launcher.admin.doctor import FAIL, OK, WARN, HostFacts, evaluate
from workspace_launcher.engine.docker import nvidia_runtime_source
from workspace_launcher.engine.objects import EngineFacts
from workspace_launcher.gpus.model import Gpu

H100 = Gpu(index=0, uuid="GPU-1", name="H100", memory_mib=81559, vendor="nvidia")
MI300 = Gpu(index=0, uuid="amd-renderD128", name="MI300X", memory_mib=0, vendor="amd", device_paths=("/dev/dri/renderD128",))
HEALTHY = dict(engine=EngineFacts(version="20.10.24", api_version="1.41"), disk_free_bytes=100 * 1024**3)


def levels(facts: HostFacts) -> dict[str, str]:
    return {c.name: c.level for c in evaluate(facts)}


def test_unreachable_engine_fails_with_the_fix():
    checks = evaluate(HostFacts(engine_error="connection refused"))
    assert checks[0].level == FAIL
    assert "dockerd" in checks[0].fix


def test_cpu_only_host_without_runtime_is_a_warning_not_a_failure():
    found = levels(HostFacts(**HEALTHY, base_images={"workspace-launcher/base:bookworm": True}))
    assert found == {"engine": OK, "nvidia runtime": WARN, "amd runtime": OK, "gpus": WARN, "base image": OK, "disk": OK,
                     "workspace route": OK}


def test_nvidia_gpus_without_runtime_fail_and_name_the_toolkit():
    checks = evaluate(HostFacts(**HEALTHY, gpus=[H100], gpu_source="nvml"))
    runtime = next(c for c in checks if c.name == "nvidia runtime")
    assert runtime.level == FAIL and "nvidia-container-toolkit" in runtime.fix
    assert next(c for c in checks if c.name == "gpus").level == OK


def test_nvidia_runtime_registered_in_the_engine():
    facts = HostFacts(**{**HEALTHY, "engine": EngineFacts(nvidia_runtime="runtime nvidia")}, gpus=[H100])
    assert levels(facts)["nvidia runtime"] == OK


def test_amd_needs_kfd():
    assert levels(HostFacts(**HEALTHY, gpus=[MI300], amd_kfd=False))["amd runtime"] == FAIL
    assert levels(HostFacts(**HEALTHY, gpus=[MI300], amd_kfd=True))["amd runtime"] == OK


def test_missing_base_image_and_low_disk():
    facts = HostFacts(base_images={"workspace-launcher/base:bookworm": False}, disk_free_bytes=2 * 1024**3)
    checks = {c.name: c for c in evaluate(facts)}
    assert checks["base image"].level == FAIL and "bootstrap-base" in checks["base image"].fix
    assert checks["disk"].level == FAIL
    assert levels(HostFacts(disk_free_bytes=10 * 1024**3))["disk"] == WARN


def route(**facts) -> tuple[str, str, str]:
    check = next(c for c in evaluate(HostFacts(**HEALTHY, **facts)) if c.name == "workspace route")
    return check.level, check.detail, check.fix


def test_route_on_the_workspace_network_publishes_nothing():
    level, detail, _ = route(network_gateway="172.18.0.1", gateway_is_local=True)
    assert level == OK and "no port is published" in detail
    assert route(upstream_route="network", network_gateway="172.18.0.1", gateway_is_local=True)[0] == OK


def test_route_forced_onto_an_unreachable_network_fails_with_the_fix():
    level, detail, fix = route(upstream_route="network", network_gateway="10.0.2.1")
    assert level == FAIL and "10.0.2.1" in detail and "'auto'" in fix


def test_route_through_published_ports():
    assert route(network_gateway="10.0.2.1")[0] == OK  # auto on a rootless engine
    level, _, fix = route(upstream_route="published-port", network_gateway="172.18.0.1", gateway_is_local=True)
    assert level == WARN and "'auto'" in fix  # works, but opens what auto would keep closed
    assert route(upstream_route="published-port")[0] == OK  # no network yet: nothing to say


def test_doctor_accepts_the_cdi_specs_that_launches_accept(tmp_path, monkeypatch):
    """One rule for both: an engine with no nvidia runtime and no hook, but the toolkit's CDI
    specs, can start GPU workspaces, and doctor says so (it used to report no runtime)."""
    monkeypatch.setattr(shutil, "which", lambda name: None)  # no toolkit hook on PATH
    patterns = (str(tmp_path / "nvidia*.yaml"),)
    assert nvidia_runtime_source({"Runtimes": {"runc": {}}}, cdi_patterns=patterns) is None
    (tmp_path / "nvidia.yaml").write_text("cdiVersion: 0.5.0\n")
    source = nvidia_runtime_source({"Runtimes": {"runc": {}}}, cdi_patterns=patterns)
    assert source == f"CDI {tmp_path / 'nvidia.yaml'}"
    facts = HostFacts(**{**HEALTHY, "engine": EngineFacts(nvidia_runtime=source)}, gpus=[H100])
    assert levels(facts)["nvidia runtime"] == OK
    assert levels(HostFacts(**HEALTHY, gpus=[H100]))["nvidia runtime"] == FAIL
