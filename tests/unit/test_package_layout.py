"""The package's shape, as docs/architecture.md states it: only ``engine/`` imports the Docker SDK,
every folder says what it owns, and modules import each other without cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "workspace_launcher"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(path: Path, *, top_level_only: bool = False) -> set[str]:
    """Absolute names of the modules ``path`` imports (with ``from X import y``: X and X.y)."""
    tree = ast.parse(path.read_text(), str(path))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import (the package imports absolutely)"
            found.add(node.module or "")
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_only_the_engine_package_imports_docker():
    offenders = {
        name: sorted(i for i in imports(path) if i == "docker" or i.startswith("docker."))
        for name, path in MODULES.items()
        if not name.startswith("workspace_launcher.engine")
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_boundary_check_sees_a_docker_import(tmp_path):
    """The check above is not vacuous: it finds each form of import."""
    for line in ("import docker", "from docker.errors import APIError", "import docker.types as t"):
        (tmp_path / "m.py").write_text(line + "\n")
        assert any(i == "docker" or i.startswith("docker.") for i in imports(tmp_path / "m.py")), line


@pytest.mark.parametrize("package", sorted({n for n, p in MODULES.items() if p.name == "__init__.py"}))
def test_every_folder_says_what_it_owns(package):
    doc = ast.get_docstring(ast.parse(MODULES[package].read_text()))
    assert doc and len(doc) > 60, f"{package}/__init__.py needs a docstring: what it owns and may import"


def test_no_import_cycles_at_module_level():
    graph = {name: {i for i in imports(path, top_level_only=True) if i in MODULES and i != name}
             for name, path in MODULES.items()}
    # A package's __init__ is imported on the way to its submodules: not a dependency of its own.
    visiting: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        assert name not in visiting, "import cycle: " + " -> ".join(visiting[visiting.index(name):] + [name])
        visiting.append(name)
        for target in sorted(graph[name]):
            visit(target)
        visiting.pop()
        done.add(name)

    for name in graph:
        visit(name)
