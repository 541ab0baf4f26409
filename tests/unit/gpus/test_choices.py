"""The GPU choices the server computes for the launch dialog and the notebook widget
(``gpus/choices.py``): their wording and their agreement with ``select_gpus`` on generated hosts.
Pure: no engine, no server, no files."""

from __future__ import annotations

import random

import pytest

from workspace_launcher.errors import Conflict, InvalidRequest
from workspace_launcher.gpus.choices import (
    CHOICE_KEYS,
    GpuChoices,
    Limit,
    choice_key,
    count_limit,
    gpu_choices,
    holder_text,
    owner_holds,
)
from workspace_launcher.gpus.model import VENDORS, Gpu, GpuRequest, Taken
from workspace_launcher.gpus.request import select_gpus


def gpu(index: int, vendor: str = "nvidia") -> Gpu:
    return Gpu(index, f"GPU-{index}", "NVIDIA A100" if vendor == "nvidia" else "AMD MI300X", 81920, vendor)


FOUR = [gpu(i) for i in range(4)]
MINE = {"m": "mine", "a1": "exp-1", "c3": "c3"}


def choices(inventory, taken: Taken = {}, mine=MINE, **policy) -> GpuChoices:  # noqa: B006
    return gpu_choices(inventory, taken, mine, **policy)


# -- wording (what the dialog showed when it computed these itself) -------------------------------
def test_holder_text_names_only_the_users_own_workspaces():
    assert holder_text([], MINE) == "free"
    assert holder_text(["a1"], MINE) == "held by your workspace exp-1"
    assert holder_text(["b2"], MINE) == "held by workspace b2 of another user"
    assert holder_text(["a1", "c3"], MINE) == "held by your workspace exp-1, your workspace c3"
    assert holder_text(["x"], {"x": ""}) == "held by your workspace x"  # no name: its id


def test_owner_holds_counts_one_per_gpu_and_workspace_as_a_launch_does():
    taken = {"GPU-0": ["a1", "b2"], "GPU-1": ["a1", "c3"], "GPU-2": "b2", "GPU-gone": ["m"], "GPU-3": []}
    assert owner_holds(taken, MINE) == 4
    assert owner_holds(taken, {}) == 0
    assert choices(FOUR, taken, allow_sharing=True).owner_holds == 4


def test_choice_keys():
    assert CHOICE_KEYS == ("any", *VENDORS)
    assert choice_key(None) == "any" and choice_key("amd") == "amd"


def test_a_host_without_gpus_for_the_profile():
    assert count_limit([], {}) == Limit(0, "this host has no GPUs")
    assert count_limit([], {}, vendor="amd") == Limit(0, "this host has no AMD GPUs")
    by_key = choices([]).by_key
    assert by_key["nvidia"].limit == Limit(0, "this host has no NVIDIA GPUs")
    assert by_key["any"].count_reasons == ("",)
    amd = choices(FOUR).by_key["amd"]
    assert amd.limit == Limit(0, "this host has no AMD GPUs") and amd.count_reasons == ("",)
    assert amd.eligible == ()


def test_the_limit_is_the_number_of_eligible_gpus_when_nothing_else_bounds_it():
    got = choices([gpu(0), gpu(1)])
    assert got.by_key["nvidia"].limit == Limit(2, "") == got.by_key["any"].limit
    assert got.by_key["nvidia"].count_reasons == ("", "", "")
    assert got.pick_limit == Limit(2, "")


def test_only_free_gpus_count_while_sharing_is_off():
    taken = {"GPU-0": ["x"]}
    assert choices(FOUR, taken).by_key["nvidia"].limit == Limit(
        3, "only 3 of 4 GPUs are free; the others are held by other workspaces"
    )
    assert choices(FOUR, taken, allow_sharing=True).by_key["nvidia"].limit == Limit(4, "")


def test_the_per_workspace_and_per_user_limits():
    per_workspace = "the policy allows at most 2 GPUs per workspace"
    assert choices(FOUR, max_per_workspace=2).by_key["nvidia"].limit == Limit(2, per_workspace)
    assert choices(FOUR, max_per_workspace=2).pick_limit == Limit(2, per_workspace)
    assert choices(FOUR, max_per_workspace=9).by_key["nvidia"].limit == Limit(4, "")
    mine = {"GPU-0": ["m"]}
    per_user = "the policy allows at most 2 GPUs per user and your workspaces hold 1"
    got = choices(FOUR, mine, allow_sharing=True, max_per_owner=2)
    assert got.by_key["nvidia"].limit == Limit(1, per_user)
    assert got.pick_limit == Limit(1, per_user)
    assert choices(FOUR, mine, allow_sharing=True, max_per_owner=1).by_key["nvidia"].limit.most == 0
    # Equal bounds: the per-workspace reason, as a launch checks that one first.
    both = choices(FOUR, mine, allow_sharing=True, max_per_workspace=1, max_per_owner=2)
    assert both.by_key["nvidia"].limit == Limit(1, "the policy allows at most 1 GPU per workspace")
    assert both.pick_limit == Limit(1, "the policy allows at most 1 GPU per workspace")


def test_count_reasons_go_up_to_the_eligible_gpus():
    got = choices([gpu(0), gpu(1)], max_per_workspace=1).by_key
    reason = "the policy allows at most 1 GPU per workspace"
    assert got["nvidia"].count_reasons == ("", "", reason) == got["any"].count_reasons
    assert got["amd"].count_reasons == ("",)


def test_pick_reasons():
    inventory = [gpu(0), gpu(1, "amd"), gpu(2)]
    got = choices(inventory, {"GPU-0": ["x"], "GPU-2": ["a1"]})
    assert got.status == {"GPU-0": "held by workspace x of another user", "GPU-1": "free",
                          "GPU-2": "held by your workspace exp-1"}
    assert got.by_key["nvidia"].pick_reasons == {
        "GPU-0": "held by workspace x of another user; GPU sharing is off",
        "GPU-1": "this profile needs NVIDIA GPUs",
        "GPU-2": "held by your workspace exp-1; GPU sharing is off",
    }
    assert got.by_key["amd"].pick_reasons["GPU-1"] == ""
    assert got.by_key["amd"].pick_reasons["GPU-0"] == "this profile needs AMD GPUs"  # vendor first
    assert got.by_key["any"].pick_reasons["GPU-1"] == ""
    assert got.by_key["nvidia"].eligible == ("GPU-0", "GPU-2")
    shared = choices(inventory, {"GPU-0": ["x"]}, allow_sharing=True)
    assert shared.by_key["nvidia"].pick_reasons["GPU-0"] == ""
    full = choices(inventory, {"GPU-0": ["m"]}, allow_sharing=True, max_per_owner=1)
    assert set(full.by_key["any"].pick_reasons.values()) == {
        "the policy allows at most 1 GPU per user and your workspaces hold 1"
    }
    assert full.pick_limit.most == 0


def test_the_inventory_order_is_kept_and_eligible_gpus_go_lowest_index_first():
    inventory = [gpu(2), gpu(0), gpu(1)]
    got = choices(inventory)
    assert list(got.status) == ["GPU-2", "GPU-0", "GPU-1"]
    assert got.by_key["any"].eligible == ("GPU-0", "GPU-1", "GPU-2")


# -- agreement with select_gpus, on generated hosts -------------------------------------------
MY_WORKSPACES = {"m1": "exp-1", "m2": "exp-2"}
OTHERS = ["o1", "o2", "o3"]


def generated_case(rng: random.Random) -> tuple[list[Gpu], dict, dict]:
    size = rng.randint(0, 6)
    indexes = rng.sample(range(10), size)
    inventory = [gpu(i, rng.choice(["nvidia", "nvidia", "amd"])) for i in indexes]
    workspaces = [*MY_WORKSPACES, *OTHERS]
    taken: dict = {}
    for g in inventory:
        held = rng.sample(workspaces, rng.choice([0, 0, 0, 1, 1, 2]))
        if held or rng.random() < 0.2:
            taken[g.uuid] = held[0] if len(held) == 1 and rng.random() < 0.3 else held
    if rng.random() < 0.2:  # a GPU no longer in the inventory, still held by the user
        taken["GPU-gone"] = ["m1"]
    policy = {
        "allow_sharing": rng.random() < 0.4,
        "max_per_workspace": rng.choice([0, 0, 1, 2, 3]),
        "max_per_owner": rng.choice([0, 0, 1, 2, 3, 4]),
    }
    return inventory, taken, policy


def select(inventory, request, taken, key, policy) -> list[Gpu]:
    """select_gpus as the allocator calls it for a launch by the user of MY_WORKSPACES."""
    return select_gpus(
        inventory, request, taken, allow_sharing=policy["allow_sharing"],
        max_per_workspace=policy["max_per_workspace"] or None, vendor=None if key == "any" else key,
        max_per_owner=policy["max_per_owner"] or None, owner_holds=owner_holds(taken, MY_WORKSPACES),
    )


def count_request(n: int) -> GpuRequest:
    return GpuRequest("count", count=n) if n else GpuRequest("none")


@pytest.mark.parametrize("seed", range(40))
def test_every_count_offered_is_accepted_and_the_next_one_refused(seed):
    rng = random.Random(seed)
    for _ in range(25):
        inventory, taken, policy = generated_case(rng)
        got = gpu_choices(inventory, taken, MY_WORKSPACES, **policy)
        for key, choice in got.by_key.items():
            most, eligible = choice.limit.most, len(choice.eligible)
            assert 0 <= most <= eligible
            assert len(choice.count_reasons) == eligible + 1
            assert [r == "" for r in choice.count_reasons] == [n <= most for n in range(eligible + 1)]
            assert (choice.limit.reason == "") == (most == eligible > 0)
            for n in range(most + 1):
                assert len(select(inventory, count_request(n), taken, key, policy)) == n, (key, n, policy)
            with pytest.raises((InvalidRequest, Conflict)):  # policy, free GPUs, or the host's GPUs
                select(inventory, count_request(most + 1), taken, key, policy)


@pytest.mark.parametrize("seed", range(40))
def test_gpus_picked_as_offered_are_accepted_and_those_refused_are_refused(seed):
    rng = random.Random(1000 + seed)
    for _ in range(25):
        inventory, taken, policy = generated_case(rng)
        got = gpu_choices(inventory, taken, MY_WORKSPACES, **policy)
        for key, choice in got.by_key.items():
            picked: list[str] = []
            for g in rng.sample(inventory, len(inventory)):  # tick in any order, as the dialog allows
                reason = choice.pick_reasons[g.uuid] or (
                    got.pick_limit.reason if len(picked) >= got.pick_limit.most else ""
                )
                request = GpuRequest("ids", ids=(*picked, g.uuid))
                if reason:
                    with pytest.raises((InvalidRequest, Conflict)):
                        select(inventory, request, taken, key, policy)
                else:
                    assert len(select(inventory, request, taken, key, policy)) == len(picked) + 1
                    picked.append(g.uuid)
            # Nothing was held back that a launch would have given: the policy's bound is reached,
            # or every GPU left is refused for a reason of its own.
            left = [g for g in inventory if g.uuid not in picked]
            assert len(picked) == got.pick_limit.most or all(choice.pick_reasons[g.uuid] for g in left)
