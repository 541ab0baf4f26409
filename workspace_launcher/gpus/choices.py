"""The GPU choices a user has now, as the launch dialog and the notebook widget show them. Pure.

Computed from the inventory, who holds which GPU, the user's own workspaces and the policy, with
the rules of :func:`~workspace_launcher.gpus.request.select_gpus`: every choice offered here is
one that :func:`select_gpus` accepts (unless someone takes the GPUs meanwhile), and the first
count beyond :attr:`Limit.most` is one it refuses. The front ends only render these.

Per GPU: who holds it, in words (names only for the user's own workspaces), and whether it may
be ticked now and, if not, why. Per *choice key* (the launching profile's ``gpu_vendor``, or
``"any"`` for a profile without one, which may use every GPU): the most GPUs one launch may ask
for now and why, and the same for each count the form offers. Vendor-independent: the most GPUs
the policy lets one launch tick.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from workspace_launcher.gpus.model import VENDORS, Gpu, Taken, holders
from workspace_launcher.gpus.request import gpus_word

#: The keys of the per-vendor choices: a profile's ``gpu_vendor``, or "any" for a profile
#: without one.
ANY = "any"
CHOICE_KEYS: tuple[str, ...] = (ANY, *VENDORS)


@dataclass(frozen=True)
class Limit:
    """The most GPUs one launch may have now, and why no more (``""`` when that is just how
    many GPUs there are to have)."""

    most: int
    reason: str = ""


@dataclass(frozen=True)
class VendorChoices:
    """What a profile of one choice key may ask for now."""

    key: str
    #: The uuids of the GPUs such a profile can use, lowest index first.
    eligible: tuple[str, ...]
    #: The most GPUs a launch asking for a number of GPUs may ask for now.
    limit: Limit
    #: Item n, for asking for n GPUs (0 to ``len(eligible)``): ``""`` when allowed, else why not.
    count_reasons: tuple[str, ...]
    #: GPU uuid -> ``""`` when it may be ticked now (none ticked yet), else why not.
    pick_reasons: Mapping[str, str]


@dataclass(frozen=True)
class GpuChoices:
    """The GPU choices of one user now."""

    #: How many GPUs the user's workspaces hold, as the per-user limit counts them.
    owner_holds: int
    #: GPU uuid -> who holds it, in words ("free", "held by your workspace exp-1, ...").
    status: Mapping[str, str]
    #: The most GPUs the policy lets one launch tick, whichever they are.
    pick_limit: Limit
    #: Choice key -> its choices (every key of :data:`CHOICE_KEYS`).
    by_key: Mapping[str, VendorChoices]


def choice_key(vendor: str | None) -> str:
    """The choice key of a profile's ``gpu_vendor``."""
    return vendor or ANY


def owner_holds(taken: Taken, mine: Mapping[str, str] | Sequence[str]) -> int:
    """How many GPUs the workspaces ``mine`` hold, one per GPU and workspace: the count
    ``select_gpus(owner_holds=...)`` and the per-user limit use."""
    return sum(1 for uuid in taken for holder in holders(taken, uuid) if holder in mine)


def holder_text(held: Sequence[str], mine: Mapping[str, str]) -> str:
    """Who holds a GPU, in words; ``mine`` maps the user's own workspace ids to their names
    (other users' workspaces are only shown by id)."""
    if not held:
        return "free"
    names = [f"your workspace {mine[h] or h}" if h in mine else f"workspace {h} of another user" for h in held]
    return "held by " + ", ".join(names)


def _vendor_gpus(vendor: str | None) -> str:
    return f"{vendor.upper()} GPUs" if vendor else "GPUs"


def _per_workspace(limit: int) -> str:
    return f"the policy allows at most {gpus_word(limit)} per workspace"


def _per_owner(limit: int, holds: int) -> str:
    return f"the policy allows at most {gpus_word(limit)} per user and your workspaces hold {holds}"


def count_limit(
    eligible: Sequence[Gpu],
    taken: Taken,
    *,
    vendor: str | None = None,
    allow_sharing: bool = False,
    max_per_workspace: int | None = None,
    max_per_owner: int | None = None,
    owner_holds: int = 0,
) -> Limit:
    """The most GPUs a launch asking for a number of them may ask for now, among ``eligible``
    (the GPUs of its vendor), and the reason for the bound that applies last: free GPUs (when
    sharing is off), then the per-workspace limit, then the per-user one."""
    if not eligible:
        return Limit(0, f"this host has no {_vendor_gpus(vendor)}")
    limit = Limit(len(eligible))
    if not allow_sharing:
        free = sum(1 for g in eligible if not holders(taken, g.uuid))
        if free < limit.most:
            limit = Limit(free, f"only {free} of {gpus_word(len(eligible))} are free; "
                                "the others are held by other workspaces")
    return _policy_bound(limit, max_per_workspace=max_per_workspace, max_per_owner=max_per_owner,
                         owner_holds=owner_holds)


def _policy_bound(limit: Limit, *, max_per_workspace: int | None, max_per_owner: int | None,
                  owner_holds: int) -> Limit:
    """``limit`` lowered by the per-workspace limit, then by what the per-user one leaves."""
    if max_per_workspace and max_per_workspace < limit.most:
        limit = Limit(max_per_workspace, _per_workspace(max_per_workspace))
    if max_per_owner:
        left = max(max_per_owner - owner_holds, 0)
        if left < limit.most:
            limit = Limit(left, _per_owner(max_per_owner, owner_holds))
    return limit


def pick_limit(
    inventory: Sequence[Gpu],
    *,
    max_per_workspace: int | None = None,
    max_per_owner: int | None = None,
    owner_holds: int = 0,
) -> Limit:
    """The most GPUs the policy lets one launch tick, and why: the reason shown on an unticked
    GPU once that many are ticked (the per-workspace limit first, as a launch checks it)."""
    limit = Limit(len(inventory))
    return _policy_bound(limit, max_per_workspace=max_per_workspace, max_per_owner=max_per_owner,
                         owner_holds=owner_holds)


def pick_reason(
    gpu: Gpu,
    taken: Taken,
    mine: Mapping[str, str],
    *,
    vendor: str | None = None,
    allow_sharing: bool = False,
    max_per_owner: int | None = None,
    owner_holds: int = 0,
) -> str:
    """Why ``gpu`` may not be ticked now by a profile of ``vendor`` (none ticked yet), or
    ``""``: another vendor's GPU, a held GPU while sharing is off, or the per-user limit."""
    if vendor and gpu.vendor != vendor:
        return f"this profile needs {_vendor_gpus(vendor)}"
    held = holders(taken, gpu.uuid)
    if not allow_sharing and held:
        return f"{holder_text(held, mine)}; GPU sharing is off"
    if max_per_owner and owner_holds + 1 > max_per_owner:
        return _per_owner(max_per_owner, owner_holds)
    return ""


def gpu_choices(
    inventory: Sequence[Gpu],
    taken: Taken,
    mine: Mapping[str, str],
    *,
    allow_sharing: bool = False,
    max_per_workspace: int | None = None,
    max_per_owner: int | None = None,
) -> GpuChoices:
    """The GPU choices of a user now.

    ``taken`` maps a GPU uuid to the ids of the workspaces holding it; ``mine`` maps the ids of
    the user's own workspaces to their names. Limits of ``None`` or 0 mean none, as for
    :func:`select_gpus`.
    """
    holds = owner_holds(taken, mine)
    policy = {"allow_sharing": allow_sharing, "max_per_owner": max_per_owner, "owner_holds": holds}
    ordered = sorted(inventory, key=lambda g: g.index)
    by_key = {}
    for key in CHOICE_KEYS:
        vendor = None if key == ANY else key
        eligible = [g for g in ordered if vendor in (None, g.vendor)]
        limit = count_limit(eligible, taken, vendor=vendor, max_per_workspace=max_per_workspace, **policy)
        by_key[key] = VendorChoices(
            key=key,
            eligible=tuple(g.uuid for g in eligible),
            limit=limit,
            count_reasons=tuple("" if n <= limit.most else limit.reason for n in range(len(eligible) + 1)),
            pick_reasons={g.uuid: pick_reason(g, taken, mine, vendor=vendor, **policy) for g in inventory},
        )
    return GpuChoices(
        owner_holds=holds,
        status={g.uuid: holder_text(holders(taken, g.uuid), mine) for g in inventory},
        pick_limit=pick_limit(inventory, max_per_workspace=max_per_workspace, max_per_owner=max_per_owner,
                              owner_holds=holds),
        by_key=by_key,
    )
