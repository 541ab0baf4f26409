"""The REST views (``api/views.py``): the ``GET gpus`` answer, with the server-computed choices,
checked against its schema in the OpenAPI document. Pure: the manager is a stand-in."""

from __future__ import annotations

import asyncio
import json
from importlib.resources import files
from types import SimpleNamespace

import jsonschema

from workspace_launcher.api.views import gpus_view
from workspace_launcher.gpus.model import Gpu


def gpu(index: int, vendor: str = "nvidia") -> Gpu:
    return Gpu(index, f"GPU-{index}", "NVIDIA A100" if vendor == "nvidia" else "AMD MI300X", 81920, vendor)


def fake_manager(inventory, taken, names, **policy):
    async def gpu_holders(*, owner):
        assert owner == "alice"
        return taken, names

    return SimpleNamespace(
        gpu_holders=gpu_holders,
        inventory=SimpleNamespace(gpus=lambda: list(inventory), source="declared"),
        allocator=SimpleNamespace(**policy),
    )


def openapi_schema(name: str) -> dict:
    document = json.loads(files("workspace_launcher").joinpath("openapi.json").read_text())
    return {"$ref": f"#/components/schemas/{name}", "components": document["components"]}


def test_the_gpus_answer_carries_the_choices_and_matches_its_schema():
    inventory = [gpu(0), gpu(1), gpu(2, "amd")]
    taken = {"GPU-0": ["w-mine"], "GPU-1": ["w-other"]}
    manager = fake_manager(inventory, taken, {"w-mine": "exp-1"}, allow_sharing=False,
                           max_gpus_per_workspace=1, max_gpus_per_owner=0)
    answer = asyncio.run(gpus_view(manager, owner="alice"))
    jsonschema.validate(answer, openapi_schema("GpuInventory"), cls=jsonschema.Draft202012Validator)

    assert answer["policy"] == {"allow_sharing": False, "max_gpus_per_workspace": 1, "max_gpus_per_owner": 0}
    assert answer["source"] == "declared"
    first, second, amd = answer["gpus"]
    assert first["held_by"] == [{"id": "w-mine", "name": "exp-1", "mine": True}]
    assert second["held_by"] == [{"id": "w-other", "name": None, "mine": False}]
    assert [g["status"] for g in answer["gpus"]] == [
        "held by your workspace exp-1", "held by workspace w-other of another user", "free",
    ]
    assert first["pick_reasons"] == {
        "any": "held by your workspace exp-1; GPU sharing is off",
        "nvidia": "held by your workspace exp-1; GPU sharing is off",
        "amd": "this profile needs AMD GPUs",
    }
    assert amd["pick_reasons"] == {"any": "", "nvidia": "this profile needs NVIDIA GPUs", "amd": ""}
    assert answer["owner_holds"] == 1
    assert answer["max_gpus"] == {"any": 1, "nvidia": 0, "amd": 1}
    # One GPU is free for "any": the free GPUs bound it, and the per-workspace limit (1) is no lower.
    only_one = "only 1 of 3 GPUs are free; the others are held by other workspaces"
    none_free = "only 0 of 2 GPUs are free; the others are held by other workspaces"
    assert answer["max_gpus_reason"] == {"any": only_one, "nvidia": none_free, "amd": ""}
    assert answer["count_reasons"] == {
        "any": ["", "", only_one, only_one],
        "nvidia": ["", none_free, none_free],
        "amd": ["", ""],
    }
    assert answer["max_picked"] == 1
    assert answer["max_picked_reason"] == "the policy allows at most 1 GPU per workspace"


def test_the_gpus_answer_of_a_host_without_gpus():
    manager = fake_manager([], {}, {}, allow_sharing=True, max_gpus_per_workspace=0, max_gpus_per_owner=0)
    answer = asyncio.run(gpus_view(manager, owner="alice"))
    jsonschema.validate(answer, openapi_schema("GpuInventory"), cls=jsonschema.Draft202012Validator)
    assert answer["gpus"] == [] and answer["max_gpus"] == {"any": 0, "nvidia": 0, "amd": 0}
    assert answer["max_gpus_reason"]["any"] == "this host has no GPUs"
    assert answer["count_reasons"] == {"any": [""], "nvidia": [""], "amd": [""]}
    assert (answer["max_picked"], answer["max_picked_reason"]) == (0, "")
