"""The admin's dataset catalog: named, read-only data that workspaces mount at /datasets/<name>."""

from __future__ import annotations

from collections.abc import Iterable

from traitlets import Dict, List, Unicode, validate
from traitlets.config import LoggingConfigurable

from .backends.spec import DatasetMount
from .errors import ConfigError, InvalidRequest
from .validation import resolve_host_path, validate_name


class DatasetCatalog(LoggingConfigurable):
    """Which datasets exist, where their data lives, and which host directories may be shared."""

    datasets = Dict(
        help="""Datasets users may mount, by name. Each value is a dict with exactly one of
        "path" (an absolute host directory, which must lie under one of allowed_roots after
        symlinks are resolved) or "volume" (the name of an existing engine volume), and an
        optional "description". Every dataset is mounted read-only at /datasets/<name>.
        Example: c.DatasetCatalog.datasets = {"coco": {"path": "/srv/datasets/coco",
        "description": "COCO 2017 train/val"}}""",
    ).tag(config=True)

    allowed_roots = List(
        Unicode(),
        help="""Host directories under which dataset paths may lie. A dataset path outside
        them is refused at launch, so a catalog entry (or a symlink inside one) can never
        expose the rest of the host. Default: none, so only volume datasets work until the
        admin names a root. Example: ["/srv/datasets"]""",
    ).tag(config=True)

    @validate("datasets")
    def _check_datasets(self, proposal):
        for name, entry in proposal["value"].items():
            try:
                validate_name(name, field="dataset name")
            except InvalidRequest as e:
                raise ConfigError(f"DatasetCatalog.datasets: {e.message}") from e
            if not isinstance(entry, dict) or len({"path", "volume"} & set(entry)) != 1:
                raise ConfigError(
                    f"DatasetCatalog.datasets[{name!r}] must be a dict with exactly one of "
                    "'path' (host directory) or 'volume' (engine volume name)"
                )
            unknown = set(entry) - {"path", "volume", "description"}
            if unknown:
                raise ConfigError(
                    f"DatasetCatalog.datasets[{name!r}] has unknown keys {sorted(unknown)}; "
                    "allowed: path, volume, description"
                )
        return proposal["value"]

    def describe(self) -> list[dict]:
        """What users see: name, description and where it is mounted."""
        return [
            {
                "name": name,
                "description": entry.get("description", ""),
                "mount_path": f"/datasets/{name}",
            }
            for name, entry in sorted(self.datasets.items())
        ]

    def resolve(self, names: object) -> list[DatasetMount]:
        """Mounts for the requested dataset names, or a 400 that says what is wrong."""
        if names is None:
            return []
        if isinstance(names, str) or not isinstance(names, Iterable):
            raise InvalidRequest("datasets must be a list of dataset names", field="datasets")
        names = list(names)
        if len(set(map(str, names))) != len(names):
            raise InvalidRequest("datasets lists a dataset twice", field="datasets")
        mounts = []
        for name in names:
            validate_name(name, field="dataset")
            entry = self.datasets.get(name)
            if entry is None:
                known = ", ".join(sorted(self.datasets)) or "none are configured"
                raise InvalidRequest(f"unknown dataset {name!r}; known datasets: {known}", field="datasets")
            description = entry.get("description", "")
            if "volume" in entry:
                mounts.append(DatasetMount(name, entry["volume"], "volume", description))
            else:
                source = resolve_host_path(
                    entry["path"], self.allowed_roots, field="datasets", what=f"dataset {name!r}"
                )
                mounts.append(DatasetMount(name, source, "bind", description))
        return mounts
