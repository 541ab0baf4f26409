"""Launch validation: every bad field is a 400 naming the field, before any engine call."""

from __future__ import annotations

import dataclasses

import pytest

from tests.unit.workspaces.fakes import manager  # noqa: F401 (a fixture)
from workspace_launcher.engine import spec as specs
from workspace_launcher.errors import InvalidFields, InvalidRequest


def test_a_good_request_is_fully_resolved(manager):
    request = manager.validate_launch(owner="alice", profile="minimal", gpus=2, datasets=["coco"], cpus="1.5", memory="4g")
    assert request.profile.name == "minimal"
    assert request.gpus.count == 2
    assert [d.name for d in request.datasets] == ["coco"]
    assert request.limits.cpus == 1.5 and request.limits.memory == 4 * 1024**3
    assert request.limits.shm_size == 256 * 1024**2  # the profile's default
    assert request.name.startswith("minimal-")
    assert len(request.workspace_id) == 12


@pytest.mark.parametrize(
    "fields,field,words",
    [
        ({"profile": "nope"}, "profile", "available profiles: minimal"),
        ({"profile": None}, "profile", "required"),
        ({"gpus": -1}, "gpus", "gpus"),
        ({"gpus": 3}, "gpus", "2"),  # over the per-workspace policy
        ({"gpus": 9}, "gpus", "4"),  # more than the host has
        ({"gpus": ["GPU-404"]}, "gpus", "GPU-404"),
        ({"gpus": True}, "gpus", "gpus"),
        ({"datasets": ["imagenet"]}, "datasets", "known datasets: coco"),
        ({"name": "../x"}, "name", "lowercase"),
        ({"name": "Bad Name"}, "name", "lowercase"),
        ({"cpus": "lots"}, "cpus", "number"),
        ({"cpus": 10_000}, "cpus", "more than"),
        ({"memory": "16g"}, "memory", "admin's limit"),
        ({"memory": "1g", "shm_size": "2g"}, "shm_size", "larger than memory"),
        ({"snapshot": 5}, "snapshot", "image reference"),
        # Values the engine would refuse, or silently read as "no limit" (NanoCpus=0).
        ({"cpus": 1e-10}, "cpus", "minimum of 0.01"),
        ({"cpus": "0.009"}, "cpus", "minimum of 0.01"),
        ({"cpus": float("inf")}, "cpus", "finite"),
        ({"cpus": "nan"}, "cpus", "finite"),
        ({"cpus": 10**400}, "cpus", "more than"),
        ({"memory": "1" * 300}, "memory", "not a size"),
        ({"memory": 10**30}, "memory", "larger than the engine"),
        ({"memory": "99999999999t"}, "memory", "larger than the engine"),
        ({"memory": "1m"}, "memory", "minimum of 6 MiB"),
        ({"shm_size": "99999t"}, "shm_size", "admin's limit"),
        ({"shm_size": 2**64}, "shm_size", "larger than the engine"),
    ],
)
def test_bad_fields(manager, fields, field, words):
    request = {"profile": "minimal", **fields}
    with pytest.raises(InvalidRequest) as info:
        manager.validate_launch(owner="alice", **request)
    assert info.value.field == field
    assert words in info.value.message


def test_shm_is_capped_by_the_admin_even_without_a_memory_limit(manager):
    manager.max_shm_size = "2g"
    assert manager.validate_launch(owner="alice", profile="minimal", shm_size="2g").limits.shm_size == 2 * 1024**3
    with pytest.raises(InvalidRequest, match="admin's limit of 2g") as info:
        manager.validate_launch(owner="alice", profile="minimal", shm_size="3g")
    assert info.value.field == "shm_size"


def test_the_launch_fields_are_the_contracts():
    """One list of launch fields: openapi.json's LaunchRequest has exactly these properties."""
    import json
    from importlib.resources import files

    from workspace_launcher.workspaces.launch_request import LAUNCH_FIELDS

    schema = json.loads(files("workspace_launcher").joinpath("openapi.json").read_text())
    assert set(schema["components"]["schemas"]["LaunchRequest"]["properties"]) == set(LAUNCH_FIELDS)


def test_an_unknown_field_is_refused_by_name(manager):
    with pytest.raises(InvalidRequest) as refused:
        manager.validate_launch(owner="alice", profile="minimal", gpu=1)
    assert refused.value.field == "gpu" and "allowed" in refused.value.message


def test_open_demo_opens_the_profiles_own_demo(manager):
    manager.profiles.extra_profiles = {
        "torchy": {"context_dir": manager.profiles.get("minimal").context_dir, "framework": "pytorch",
                   "demo": "detect/train.ipynb"},
    }
    request = manager.validate_launch(owner="alice", profile="torchy", open_demo=True)
    assert request.demo_notebook == "detect/train.ipynb"
    assert manager.validate_launch(owner="alice", profile="torchy").demo_notebook == ""


def test_open_demo_for_a_profile_without_a_demo_is_refused_naming_those_with_one(manager):
    with pytest.raises(InvalidRequest) as raised:
        manager.validate_launch(owner="alice", profile="minimal", open_demo=True)
    assert raised.value.field == "open_demo"
    message = str(raised.value)
    assert "'minimal' (numpy) has no demo notebook" in message
    assert "pytorch, pytorch-cu126" in message and "tensorflow" not in message
    assert manager.validate_launch(owner="alice", profile="minimal", open_demo=False).demo_notebook == ""


def test_every_wrong_field_is_named_at_once(manager):
    """A form can show each error next to its field: one answer names them all, in field order."""
    with pytest.raises(InvalidFields) as info:
        manager.validate_launch(owner="alice", profile="minimal", gpus=9, datasets=["imagenet"], name="Bad Name",
                                memory="lots", open_demo=True)
    errors = info.value.errors
    assert [e.field for e in errors] == ["gpus", "datasets", "name", "memory", "open_demo"]
    assert "imagenet" in errors[1].message and "lowercase" in errors[2].message
    assert info.value.field == "gpus" and info.value.message == "; ".join(e.message for e in errors)


def test_a_wrong_profile_skips_the_checks_that_need_it(manager):
    with pytest.raises(InvalidFields) as info:
        manager.validate_launch(owner="alice", profile="nope", gpus=9, name="Bad Name", memory="lots")
    # gpus=9 is over the host only for a profile's vendor, memory only against its limits: not judged.
    assert [e.field for e in info.value.errors] == ["profile", "name"]


def test_a_single_wrong_field_is_a_plain_invalid_request(manager):
    with pytest.raises(InvalidRequest) as info:
        manager.validate_launch(owner="alice", profile="minimal", name="Bad Name")
    assert not isinstance(info.value, InvalidFields) and info.value.field == "name"


def test_the_creation_time_is_the_requests_before_and_after_the_build(manager):
    asked = manager.validate_launch(owner="alice", profile="minimal")
    assert asked.created.endswith("+00:00")
    # As if the build took an hour: the container made after it keeps the time of the request.
    request = dataclasses.replace(asked, created="2026-12-03T06:00:00+00:00")
    pending = manager.launches.register(request)
    spec = manager.launches.spec(request, "img", [], publish_port=False)
    assert pending.created == spec.created == specs.workspace_labels(spec)[specs.label("created")] == request.created


def test_each_resource_limit_is_judged_on_its_own(manager):
    with pytest.raises(InvalidFields) as info:
        manager.validate_launch(owner="alice", profile="minimal", cpus="many", memory="lots", shm_size="99999t")
    assert [e.field for e in info.value.errors] == ["cpus", "memory"]  # shm waits for a valid memory
    with pytest.raises(InvalidFields) as info:
        manager.validate_launch(owner="alice", profile="minimal", cpus="many", shm_size="99999t")
    assert [e.field for e in info.value.errors] == ["cpus", "shm_size"]
