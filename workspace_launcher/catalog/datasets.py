"""The admin's dataset catalog: named, read-only data that workspaces mount at /datasets/<name>."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from jupyter_core.paths import jupyter_data_dir
from traitlets import Dict, List, Unicode, default, validate
from traitlets.config import LoggingConfigurable

from workspace_launcher.engine.spec import DatasetMount
from workspace_launcher.errors import ConfigError, Conflict, InvalidRequest
from workspace_launcher.workspaces.validation import resolve_host_path, validate_name


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

    registry_file = Unicode(
        help="""JSON file of datasets registered from the command line
        ('workspace-launcher datasets create-demo' and 'datasets add'), merged with
        `datasets` (which wins on a name clash). Default:
        <jupyter data dir>/workspace_launcher/datasets.json""",
    ).tag(config=True)

    managed_root = Unicode(
        help="""Directory where 'workspace-launcher datasets create-demo' writes datasets.
        It counts as an allowed root. Default: <jupyter data dir>/workspace_launcher/datasets""",
    ).tag(config=True)

    @default("registry_file")
    def _default_registry_file(self) -> str:
        return os.path.join(jupyter_data_dir(), "workspace_launcher", "datasets.json")

    @default("managed_root")
    def _default_managed_root(self) -> str:
        return os.path.join(jupyter_data_dir(), "workspace_launcher", "datasets")

    @validate("datasets")
    def _check_datasets(self, proposal):
        for name, entry in proposal["value"].items():
            check_entry(name, entry, where="DatasetCatalog.datasets")
        return proposal["value"]

    def all(self) -> dict[str, dict]:
        """Every dataset: the registry file's, then the admin's config on top."""
        merged = dict(self._registered())
        merged.update(self.datasets)
        return merged

    def _registered(self) -> dict[str, dict]:
        path = Path(self.registry_file)
        if not path.is_file():
            return {}
        try:
            entries = json.loads(path.read_text())
        except ValueError as e:
            raise ConfigError(f"{path} is not valid JSON ({e}); fix or remove it") from e
        for name, entry in entries.items():
            check_entry(name, entry, where=str(path))
        return entries

    def register(self, name: str, *, path: str, description: str = "") -> None:
        """Add a host directory to the registry file (after the same checks as a launch)."""
        validate_name(name, field="dataset name")
        if name in self.datasets:
            raise InvalidRequest(f"dataset {name!r} is defined in the admin's config; pick another name", field="name")
        real = resolve_host_path(path, self.roots(), field="path", what=f"dataset {name!r}")
        entries = self._registered()
        entries[name] = {"path": real, "description": description}
        registry = Path(self.registry_file)
        registry.parent.mkdir(parents=True, exist_ok=True)
        tmp = registry.with_suffix(".tmp")
        tmp.write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n")
        tmp.replace(registry)

    def roots(self) -> list[str]:
        return [*self.allowed_roots, self.managed_root]

    def describe(self) -> list[dict]:
        """What users see: name, description and where it is mounted."""
        return [
            {
                "name": name,
                "description": entry.get("description", ""),
                "mount_path": f"/datasets/{name}",
            }
            for name, entry in sorted(self.all().items())
        ]

    def resolve(self, names: object) -> list[DatasetMount]:
        """Mounts for the requested dataset names, or a 400 that says what is wrong."""
        if names is None:
            return []
        if not isinstance(names, (list, tuple)):  # a JSON list; not a string, nor an object's keys
            raise InvalidRequest("datasets must be a list of dataset names", field="datasets")
        names = list(names)
        if len(set(map(str, names))) != len(names):
            raise InvalidRequest("datasets lists a dataset twice", field="datasets")
        catalog = self.all()
        mounts = []
        for name in names:
            validate_name(name, field="datasets")
            entry = catalog.get(name)
            if entry is None:
                known = ", ".join(sorted(catalog)) or "none are configured"
                raise InvalidRequest(f"unknown dataset {name!r}; known datasets: {known}", field="datasets")
            description = entry.get("description", "")
            if "volume" in entry:
                mounts.append(DatasetMount(name, entry["volume"], "volume", description))
            else:
                source = resolve_host_path(entry["path"], self.roots(), field="datasets", what=f"dataset {name!r}")
                mounts.append(DatasetMount(name, source, "bind", description))
        return mounts

    def recheck_binds(self, binds: Iterable[tuple[str, str]]) -> None:
        """Re-validate a stopped workspace's host-directory mounts before it starts again.

        The engine follows symlinks when it mounts: a dataset directory replaced by a link
        meanwhile would expose its target. Each bind must still be the real path it was at
        launch, under an allowed root; otherwise a 409 names the dataset. ``binds``: (host path,
        path in the container) of each host-directory mount."""
        for source, target in binds:
            name = target.rsplit("/", 1)[-1]
            try:
                real = resolve_host_path(source, self.roots(), field="datasets", what=f"dataset {name!r}")
            except InvalidRequest as e:
                raise Conflict(f"cannot start: {e.message}", field="datasets") from e
            if real != source:
                raise Conflict(
                    f"cannot start: dataset {name!r} at {source} now leads to {real} (a symlink "
                    "replaced it since launch); restore the directory, or delete this workspace and "
                    "launch again",
                    field="datasets",
                )


def check_entry(name: str, entry: object, *, where: str) -> None:
    """One catalog entry: a valid name and exactly one of path or volume."""
    try:
        validate_name(name, field="dataset name")
    except InvalidRequest as e:
        raise ConfigError(f"{where}: {e.message}") from e
    if not isinstance(entry, dict) or len({"path", "volume"} & set(entry)) != 1:
        raise ConfigError(
            f"{where}[{name!r}] must be a dict with exactly one of "
            "'path' (host directory) or 'volume' (engine volume name)"
        )
    unknown = set(entry) - {"path", "volume", "description"}
    if unknown:
        raise ConfigError(f"{where}[{name!r}] has unknown keys {sorted(unknown)}; allowed: path, volume, description")
