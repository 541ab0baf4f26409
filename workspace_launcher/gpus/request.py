"""What a launch may ask for and which GPUs it gets: parsing and the selection policy. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from workspace_launcher.errors import ConfigError, Conflict, InvalidRequest
from workspace_launcher.gpus.model import VENDORS, Gpu, GpuRequest, Taken, holders

_GPUS_HELP = (
    "gpus must be a number of GPUs (e.g. 1), 'all', 'none' (or 0), or a list of GPU uuids "
    "(e.g. ['GPU-5d2c6e1a-...']) as listed by 'nvidia-smi -L'"
)


def _invalid(detail: str) -> InvalidRequest:
    return InvalidRequest(f"{detail}; {_GPUS_HELP}", field="gpus")


def parse_gpu_request(value: object) -> GpuRequest:
    """A :class:`GpuRequest` from user input.

    Accepted: ``0``/``"0"``/``"none"``/``[]`` (no GPU), a positive int or digit string (that
    many GPUs, whichever are free), ``"all"``, or a list of GPU uuid strings. Lists of indexes
    are refused on purpose: indexes differ between ``nvidia-smi``, CUDA and containers, and
    uuids do not. A :class:`GpuRequest` is returned as is.
    """
    if isinstance(value, GpuRequest):
        return value
    if isinstance(value, bool) or value is None:
        raise _invalid(f"gpus {value!r} is not valid")
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("all", "none"):
            return GpuRequest(kind=text)
        if not text.isascii() or not text.isdigit():
            raise _invalid(f"gpus {value!r} is not valid")
        value = int(text)
    if isinstance(value, int):
        if value < 0:
            raise _invalid(f"gpus {value} is negative")
        return GpuRequest(kind="count", count=value) if value else GpuRequest(kind="none")
    if isinstance(value, (list, tuple)):
        ids: list[str] = []
        for item in value:
            if not isinstance(item, str) or not item.strip():
                raise _invalid(f"gpus list item {item!r} is not a GPU uuid")
            if item.strip() in ids:
                raise _invalid(f"GPU {item.strip()!r} is listed twice")
            ids.append(item.strip())
        return GpuRequest(kind="ids", ids=tuple(ids)) if ids else GpuRequest(kind="none")
    raise _invalid(f"gpus {value!r} (a {type(value).__name__}) is not valid")


def gpus_word(n: int) -> str:
    """The words for n GPUs: "1 GPU", "2 GPUs"."""
    return f"{n} GPU" if n == 1 else f"{n} GPUs"


def select_gpus(
    inventory: Sequence[Gpu],
    request: GpuRequest,
    taken: Taken,
    *,
    allow_sharing: bool = False,
    max_per_workspace: int | None = None,
    vendor: str | None = None,
    max_per_owner: int | None = None,
    owner_holds: int = 0,
) -> list[Gpu]:
    """The GPUs to give a new workspace, lowest index first. Pure.

    ``taken`` maps a GPU uuid to the ids of the workspaces holding it. With ``allow_sharing``
    held GPUs stay eligible and a count request gets the least-used ones. ``vendor`` limits the
    choice to that vendor's GPUs (a profile built for ROCm cannot use CUDA GPUs). Limits of
    ``None`` or 0 mean none; ``owner_holds`` is how many GPUs the requesting user already holds.

    Raises :class:`InvalidRequest` for a request this host or policy can never satisfy and
    :class:`Conflict` for one that fails only because of what others hold now.

    What the front ends offer is computed with the same rules by
    :func:`workspace_launcher.gpus.choices.gpu_choices`; change both together.
    """
    if request.kind == "none":
        return []
    if vendor is not None and vendor not in VENDORS:
        raise ConfigError(f"GPU vendor {vendor!r} is unknown; use one of {', '.join(VENDORS)}")
    eligible = sorted((g for g in inventory if vendor in (None, g.vendor)), key=lambda g: g.index)
    what = _vendors_gpus(vendor)
    chosen = _requested(inventory, eligible, request, vendor, what)
    # Policy limits are checked before holdings: a request they refuse is refused whoever holds what.
    _check_limits(len(chosen), max_per_workspace=max_per_workspace, max_per_owner=max_per_owner,
                  owner_holds=owner_holds)
    if allow_sharing:
        return _least_used(eligible, len(chosen), taken) if request.kind == "count" else chosen
    if request.kind == "count":
        return _free(eligible, len(chosen), taken, what)
    _refuse_held(chosen, taken)
    return chosen


def _vendors_gpus(vendor: str | None) -> str:
    """How messages name the GPUs a launch may get: "GPUs", "AMD GPUs", "Nvidia GPUs"."""
    return f"{vendor.upper() if vendor == 'amd' else vendor.capitalize()} GPUs" if vendor else "GPUs"


def _requested(inventory: Sequence[Gpu], eligible: list[Gpu], request: GpuRequest, vendor: str | None,
               what: str) -> list[Gpu]:
    """The GPUs a request names (``ids``) or the lowest-index eligible ones (``count``, ``all``),
    whoever holds them; :class:`InvalidRequest` for what this host can never give."""
    if request.kind == "ids":
        return _named(inventory, eligible, request.ids, vendor, what)
    if not eligible:
        raise InvalidRequest(f"this host has no {what}; launch with gpus=0 or pick a profile for this "
                             "host's GPUs", field="gpus")
    wanted = len(eligible) if request.kind == "all" else request.count
    if wanted > len(eligible):
        raise InvalidRequest(f"asked for {gpus_word(wanted)} but this host has {len(eligible)} {what}; "
                             f"ask for at most {len(eligible)}", field="gpus")
    return eligible[:wanted]


def _named(inventory: Sequence[Gpu], eligible: list[Gpu], ids: Sequence[str], vendor: str | None,
           what: str) -> list[Gpu]:
    """The GPUs of ``ids``, in that order, each one of this host's and of ``vendor``."""
    by_uuid = {g.uuid: g for g in inventory}
    for uuid in ids:
        if uuid not in by_uuid:
            known = ", ".join(g.uuid for g in eligible) or "none"
            raise InvalidRequest(f"this host has no GPU {uuid!r}; its {what} are: {known}", field="gpus")
        if vendor is not None and by_uuid[uuid].vendor != vendor:
            raise InvalidRequest(f"GPU {uuid!r} is {by_uuid[uuid].vendor} but this profile needs {what}; "
                                 "pick another GPU or another profile", field="gpus")
    return [by_uuid[u] for u in ids]


def _check_limits(n: int, *, max_per_workspace: int | None, max_per_owner: int | None, owner_holds: int) -> None:
    """Refuse ``n`` GPUs over a policy limit: :class:`InvalidRequest` for more than a limit
    allows at all, :class:`Conflict` for more than the user's GPUs held now leave."""
    for limit, per, trait in ((max_per_workspace, "workspace", "workspace"), (max_per_owner, "user", "owner")):
        if limit and n > limit:
            raise InvalidRequest(f"asked for {gpus_word(n)} but the policy allows at most {limit} per {per} "
                                 f"(GpuAllocator.max_gpus_per_{trait}); ask for fewer", field="gpus")
    if max_per_owner and owner_holds + n > max_per_owner:
        left = max(max_per_owner - owner_holds, 0)
        raise Conflict(
            f"you already hold {gpus_word(owner_holds)} and the policy allows at most "
            f"{max_per_owner} per user (GpuAllocator.max_gpus_per_owner); stop a workspace"
            + (f" or ask for at most {left}" if left else " first")
        )


def _least_used(eligible: list[Gpu], n: int, taken: Taken) -> list[Gpu]:
    """With sharing on: the ``n`` GPUs with the fewest holders (then lowest index), by index."""
    chosen = sorted(eligible, key=lambda g: (len(holders(taken, g.uuid)), g.index))[:n]
    return sorted(chosen, key=lambda g: g.index)


def _free(eligible: list[Gpu], n: int, taken: Taken, what: str) -> list[Gpu]:
    """The ``n`` lowest-index GPUs nobody holds, or a :class:`Conflict` naming the holders."""
    free = [g for g in eligible if not holders(taken, g.uuid)]
    if len(free) >= n:
        return free[:n]
    holding = sorted({h for g in eligible for h in holders(taken, g.uuid)})
    raise Conflict(
        f"asked for {gpus_word(n)} but {len(free)} of {len(eligible)} {what} are free; the "
        f"others are held by workspaces {', '.join(holding)}; stop one of them or ask for fewer"
    )


def _refuse_held(chosen: list[Gpu], taken: Taken) -> None:
    """A :class:`Conflict` naming each GPU of ``chosen`` that a workspace holds, if any does."""
    busy = [(g, holders(taken, g.uuid)) for g in chosen if holders(taken, g.uuid)]
    if busy:
        detail = "; ".join(f"GPU {g.index} ({g.uuid}) by workspace {', '.join(h)}" for g, h in busy)
        raise Conflict(f"GPUs already in use: {detail}; stop those workspaces or ask for free GPUs")


def busy_gpus(uuids: Sequence[str], taken: Taken) -> dict[str, list[str]]:
    """Which of ``uuids`` are held by some workspace now (uuid -> holders), e.g. to refuse
    restarting a stopped workspace whose GPUs were given to someone else meanwhile."""
    return {uuid: held for uuid in uuids if (held := holders(taken, uuid))}
