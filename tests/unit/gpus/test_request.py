"""Parsing a launch's GPU request and the selection policy (``gpus/request.py``): pure, no
host GPUs needed."""

from __future__ import annotations

import pytest

from tests.unit.gpus.fakes import FOUR, MIXED, UUIDS, uuids
from workspace_launcher.errors import ConfigError, Conflict, InvalidRequest
from workspace_launcher.gpus.model import GpuRequest
from workspace_launcher.gpus.request import busy_gpus, parse_gpu_request, select_gpus


# -- parse_gpu_request ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, GpuRequest("none")),
        ("0", GpuRequest("none")),
        ("none", GpuRequest("none")),
        (" None ", GpuRequest("none")),
        ([], GpuRequest("none")),
        (2, GpuRequest("count", count=2)),
        ("3", GpuRequest("count", count=3)),
        ("all", GpuRequest("all")),
        ("ALL", GpuRequest("all")),
        ([UUIDS[1], UUIDS[0]], GpuRequest("ids", ids=(UUIDS[1], UUIDS[0]))),
        ((UUIDS[2],), GpuRequest("ids", ids=(UUIDS[2],))),
        (GpuRequest("count", count=1), GpuRequest("count", count=1)),
    ],
)
def test_parse_gpu_request_valid(value: object, expected: GpuRequest) -> None:
    assert parse_gpu_request(value) == expected


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (True, "True"),
        (False, "False"),
        (None, "None"),
        (-1, "negative"),
        ("-1", "'-1'"),
        (1.0, "float"),
        (1.5, "float"),
        ("", "''"),
        ("  ", "'  '"),
        ("some", "'some'"),
        ("２", "'２'"),  # a non-ASCII digit
        ([UUIDS[0], UUIDS[0]], "listed twice"),
        ([0, 1], "not a GPU uuid"),
        ([UUIDS[0], ""], "not a GPU uuid"),
        ([UUIDS[0], None], "not a GPU uuid"),
        ({"count": 1}, "dict"),
    ],
)
def test_parse_gpu_request_invalid(value: object, says: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_gpu_request(value)
    assert info.value.field == "gpus"
    assert says in info.value.message
    # Every refusal says what a valid value looks like.
    assert "'all'" in info.value.message and "list of GPU uuids" in info.value.message


# -- select_gpus ------------------------------------------------------------------------------
def test_select_none_and_count_lowest_index_first() -> None:
    assert select_gpus(FOUR, GpuRequest("none"), {}) == []
    assert uuids(select_gpus(FOUR, GpuRequest("count", count=2), {})) == UUIDS[:2]
    taken = {UUIDS[0]: ["ws-a"], UUIDS[2]: "ws-b"}  # a bare string is one holder
    assert uuids(select_gpus(FOUR, GpuRequest("count", count=2), taken)) == [UUIDS[1], UUIDS[3]]
    # An entry with no holders is free.
    assert uuids(select_gpus(FOUR, GpuRequest("count", count=1), {UUIDS[0]: []})) == UUIDS[:1]


def test_select_count_more_than_host_has() -> None:
    with pytest.raises(InvalidRequest, match="asked for 5 GPUs but this host has 4 GPUs") as info:
        select_gpus(FOUR, GpuRequest("count", count=5), {})
    assert info.value.field == "gpus"
    with pytest.raises(InvalidRequest, match="this host has no GPUs; launch with gpus=0"):
        select_gpus([], GpuRequest("count", count=1), {})


def test_select_count_not_enough_free_names_holders() -> None:
    taken = {UUIDS[0]: ["ws-b"], UUIDS[1]: ["ws-a"]}
    with pytest.raises(Conflict) as info:
        select_gpus(FOUR, GpuRequest("count", count=3), taken)
    assert "2 of 4 GPUs are free" in info.value.message
    assert "held by workspaces ws-a, ws-b" in info.value.message
    assert "stop one of them or ask for fewer" in info.value.message


def test_select_all() -> None:
    assert select_gpus(FOUR, GpuRequest("all"), {}) == FOUR
    with pytest.raises(Conflict, match=rf"GPU 2 \({UUIDS[2]}\) by workspace ws-x"):
        select_gpus(FOUR, GpuRequest("all"), {UUIDS[2]: ["ws-x"]})
    assert select_gpus(FOUR, GpuRequest("all"), {UUIDS[2]: ["ws-x"]}, allow_sharing=True) == FOUR


def test_select_ids() -> None:
    assert uuids(select_gpus(FOUR, GpuRequest("ids", ids=(UUIDS[3], UUIDS[1])), {})) == [UUIDS[3], UUIDS[1]]
    with pytest.raises(InvalidRequest) as info:
        select_gpus(FOUR, GpuRequest("ids", ids=("GPU-nope",)), {})
    assert "no GPU 'GPU-nope'" in info.value.message and all(u in info.value.message for u in UUIDS)
    with pytest.raises(Conflict) as conflict:
        select_gpus(FOUR, GpuRequest("ids", ids=(UUIDS[0], UUIDS[1])), {UUIDS[1]: ["ws-holder"]})
    assert "ws-holder" in conflict.value.message and UUIDS[1] in conflict.value.message
    shared = select_gpus(FOUR, GpuRequest("ids", ids=(UUIDS[1],)), {UUIDS[1]: ["w"]}, allow_sharing=True)
    assert uuids(shared) == [UUIDS[1]]


def test_select_sharing_picks_least_used() -> None:
    taken = {UUIDS[0]: ["a", "b"], UUIDS[1]: ["c"], UUIDS[2]: ["d", "e", "f"], UUIDS[3]: ["g"]}
    picked = select_gpus(FOUR, GpuRequest("count", count=2), taken, allow_sharing=True)
    assert uuids(picked) == [UUIDS[1], UUIDS[3]]
    picked = select_gpus(FOUR, GpuRequest("count", count=3), taken, allow_sharing=True)
    assert uuids(picked) == [UUIDS[0], UUIDS[1], UUIDS[3]]
    # Sharing never makes a host bigger than it is.
    with pytest.raises(InvalidRequest, match="this host has 4"):
        select_gpus(FOUR, GpuRequest("count", count=5), taken, allow_sharing=True)


def test_select_policy_limits() -> None:
    with pytest.raises(InvalidRequest, match=r"at most 2 per workspace \(GpuAllocator.max_gpus_per_workspace\)"):
        select_gpus(FOUR, GpuRequest("count", count=3), {}, max_per_workspace=2)
    with pytest.raises(InvalidRequest, match="max_gpus_per_workspace"):
        select_gpus(FOUR, GpuRequest("all"), {}, max_per_workspace=2)
    assert len(select_gpus(FOUR, GpuRequest("count", count=2), {}, max_per_workspace=2)) == 2
    with pytest.raises(InvalidRequest, match=r"at most 2 per user \(GpuAllocator.max_gpus_per_owner\)"):
        select_gpus(FOUR, GpuRequest("count", count=3), {}, max_per_owner=2)
    with pytest.raises(Conflict, match="you already hold 1 GPU .* or ask for at most 1"):
        select_gpus(FOUR, GpuRequest("count", count=2), {}, max_per_owner=2, owner_holds=1)
    with pytest.raises(Conflict, match="stop a workspace first"):
        select_gpus(FOUR, GpuRequest("count", count=1), {}, max_per_owner=2, owner_holds=2)
    assert len(select_gpus(FOUR, GpuRequest("count", count=1), {}, max_per_owner=2, owner_holds=1)) == 1


def test_select_vendor_filter() -> None:
    assert uuids(select_gpus(MIXED, GpuRequest("count", count=1), {}, vendor="amd")) == ["amd-a0"]
    assert uuids(select_gpus(MIXED, GpuRequest("all"), {}, vendor="nvidia")) == ["GPU-n0", "GPU-n1"]
    with pytest.raises(InvalidRequest, match="asked for 3 GPUs but this host has 2 AMD GPUs"):
        select_gpus(MIXED, GpuRequest("count", count=3), {}, vendor="amd")
    with pytest.raises(InvalidRequest, match="GPU 'GPU-n0' is nvidia but this profile needs AMD GPUs"):
        select_gpus(MIXED, GpuRequest("ids", ids=("GPU-n0",)), {}, vendor="amd")
    with pytest.raises(Conflict, match="1 of 2 AMD GPUs are free"):
        select_gpus(MIXED, GpuRequest("count", count=2), {"amd-a1": ["w1"]}, vendor="amd")
    with pytest.raises(InvalidRequest, match="this host has no AMD GPUs"):
        select_gpus(FOUR, GpuRequest("count", count=1), {}, vendor="amd")
    with pytest.raises(ConfigError, match="unknown"):
        select_gpus(FOUR, GpuRequest("count", count=1), {}, vendor="intel")


# -- busy_gpus ----------------------------------------------------------------------------------
def test_busy_gpus_names_who_took_a_stopped_workspaces_gpus():
    taken = {"GPU-1": ["aaaaaaaaaaaa"], "GPU-2": [], "GPU-3": "bbbbbbbbbbbb"}
    assert busy_gpus(["GPU-1", "GPU-2", "GPU-3", "GPU-4"], taken) == {"GPU-1": ["aaaaaaaaaaaa"], "GPU-3": ["bbbbbbbbbbbb"]}
    assert busy_gpus([], taken) == {}
