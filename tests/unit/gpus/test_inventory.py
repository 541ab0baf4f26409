"""The host's GPU inventory (``gpus/inventory.py``): declared GPUs and their validation, and
discovery cached between reads."""

from __future__ import annotations

import pytest
from traitlets import TraitError

from tests.unit.gpus.fakes import DECLARED, FOUR
from workspace_launcher.errors import ConfigError
from workspace_launcher.gpus import discovery as gpus_discovery
from workspace_launcher.gpus.inventory import GpuInventory
from workspace_launcher.gpus.model import Gpu


# -- GpuInventory -----------------------------------------------------------------------------
def test_inventory_declared() -> None:
    inventory = GpuInventory(declared_gpus=list(reversed(DECLARED)))
    assert inventory.gpus() == FOUR
    assert inventory.source == "declared"
    amd = {"index": 0, "uuid": "amd-0", "name": "MI300X", "memory_mib": 1, "vendor": "amd",
           "device_paths": ["/dev/dri/renderD128"]}
    assert GpuInventory(declared_gpus=[amd]).gpus()[0].device_paths == ("/dev/dri/renderD128",)


@pytest.mark.parametrize(
    ("item", "says"),
    [
        ({"uuid": "GPU-1"}, "'index' must be an int >= 0"),
        ({"index": True, "uuid": "GPU-1"}, "'index' must be an int >= 0"),
        ({"index": 0}, "'uuid' must be the GPU's uuid"),
        ({"index": 0, "uuid": "GPU-1", "memory_mib": "80GB"}, "'memory_mib' must be an int"),
        ({"index": 0, "uuid": "GPU-1", "vendor": "intel"}, "'vendor' must be one of nvidia, amd"),
        ({"index": 0, "uuid": "a", "vendor": "amd"}, "AMD GPU needs 'device_paths'"),
        ({"index": 0, "uuid": "a", "device_paths": "/dev/x"}, "'device_paths' must be a list"),
        ({"index": 0, "uuid": "GPU-1", "memory": 5}, "unknown keys ['memory']"),
    ],
)
def test_inventory_declared_invalid(item: object, says: str) -> None:
    with pytest.raises(ConfigError, match=r"GpuInventory\.declared_gpus\[0\]") as info:
        GpuInventory(declared_gpus=[item])
    assert says in info.value.message


def test_inventory_declared_not_a_dict() -> None:
    with pytest.raises(TraitError, match="expected a dict"):
        GpuInventory(declared_gpus=["GPU-1"])


def test_inventory_declared_duplicates() -> None:
    with pytest.raises(ConfigError, match="uuid GPU-1 is declared twice"):
        GpuInventory(declared_gpus=[{"index": 0, "uuid": "GPU-1"}, {"index": 1, "uuid": "GPU-1"}])
    with pytest.raises(ConfigError, match="index 0 is declared twice"):
        GpuInventory(declared_gpus=[{"index": 0, "uuid": "GPU-1"}, {"index": 0, "uuid": "GPU-2"}])


def test_inventory_discovery_is_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fake_discover() -> tuple[list[Gpu], str]:
        calls.append(1)
        return FOUR[:1], "nvidia-smi"

    monkeypatch.setattr(gpus_discovery, "discover_gpus_with_source", fake_discover)
    inventory = GpuInventory()
    assert inventory.gpus() == FOUR[:1] and inventory.source == "nvidia-smi"
    inventory.gpus()
    assert len(calls) == 1
    inventory.refresh()
    inventory.gpus()
    assert len(calls) == 2
    inventory.cache_seconds = 0
    inventory.gpus()
    assert len(calls) == 3
