"""The package's shape, as docs/architecture.md states it: only ``engine/`` imports the Docker SDK,
every folder says what it owns, and modules import each other without cycles; and the unit tests
mirror the package: one test module per module, shared fakes in one place per folder."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "workspace_launcher"
UNIT_TESTS = Path(__file__).resolve().parent


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


# -- the unit tests mirror the package ----------------------------------------------------------
# Every folder of tests/unit is a package that mirrors a package folder of workspace_launcher, and
# tests/unit/<folder>/test_<module>.py tests workspace_launcher/<folder>/<module>.py (at the top:
# workspace_launcher/<module>.py). Documented exceptions: a test module of one aspect of a module,
# test_<module>_<aspect>.py (admin/test_doctor_firewall.py for admin/doctor.py), and, at the top
# only, the tests of the whole package.
WHOLE_PACKAGE_TESTS = {"test_package_layout.py", "test_contract.py"}  # this file; contract.ts vs openapi.json
# Besides its test modules a folder holds its package marker and its one place for shared fakes.
NOT_TESTS = {"__init__.py", "fakes.py"}


def modules_named(stem: str) -> list[str]:
    """The modules ``test_<stem>.py`` may name: ``<stem>``, or ``<module>`` for a ``<module>_<aspect>`` stem."""
    words = stem.split("_")
    return [m for m in ("_".join(words[:n]) for n in range(len(words), 0, -1)) if m and m != "__init__"]


def names_a_module(stem: str, folder: Path) -> bool:
    return any((folder / f"{m}.py").is_file() for m in modules_named(stem))


def homes(stem: str, folder: Path) -> list[str]:
    """Sub-folders of ``folder`` that hold a package or module ``test_<stem>.py`` names: where a flat test belongs."""
    found: set[str] = set()
    for m in modules_named(stem):
        if (folder / m / "__init__.py").is_file():
            found.add(m)
        found.update(p.parent.relative_to(folder).as_posix() for p in folder.glob(f"*/**/{m}.py"))
    return sorted(found)


def mirror_offenders(tests: Path, package: Path) -> tuple[list[tuple[str, str]], int]:
    """(Where and why ``tests`` fails to mirror ``package``, the number of test modules inspected)."""
    offenders: list[tuple[str, str]] = []
    inspected = 0
    folders = [tests, *sorted(p for p in tests.rglob("*") if p.is_dir())]
    for folder in folders:
        rel = folder.relative_to(tests)
        if any(part == "__pycache__" or part.startswith(".") for part in rel.parts):
            continue
        mirror = package.joinpath(*rel.parts)
        shown = "/".join((package.name, *rel.parts)) + "/"
        if rel.parts and not (mirror / "__init__.py").is_file():
            offenders.append((rel.as_posix() + "/", f"mirrors no package folder ({shown})"))
        if rel.parts and not (folder / "__init__.py").is_file():
            offenders.append((rel.as_posix() + "/", "has no __init__.py (tests/unit is a package, so is each folder)"))
        for path in sorted(folder.glob("*.py")):
            where = (rel / path.name).as_posix()
            if path.name in NOT_TESTS:
                continue
            if not path.name.startswith("test_"):
                offenders.append((where, "neither test_<module>.py nor fakes.py (the folder's one place for shared fakes)"))
                continue
            inspected += 1
            stem = path.stem[len("test_"):]
            if not rel.parts and path.name in WHOLE_PACKAGE_TESTS:
                continue
            if not names_a_module(stem, mirror):
                flat = [(rel / home).as_posix() + "/" for home in homes(stem, mirror)]
                hint = (f"a flat test: move it into {' or '.join(flat)}, named after the module it tests" if flat
                        else "name it test_<module>.py or test_<module>_<aspect>.py after the module it tests")
                offenders.append((where, f"names no module of {shown}: {hint}"))
    return offenders, inspected


def test_unit_tests_mirror_the_package():
    offenders, inspected = mirror_offenders(UNIT_TESTS, PACKAGE)
    assert offenders == []
    assert inspected > 20  # not vacuous: it found the test modules


def test_the_mirror_check_sees_flat_misnamed_and_stray_tests(tmp_path):
    """The check above is not vacuous: it refuses each way of breaking the mirror, and allows the exceptions."""
    package, tests = tmp_path / "pkg", tmp_path / "unit"
    for name in ["__init__.py", "errors.py", "proxy/__init__.py", "proxy/rules.py", "admin/__init__.py",
                 "admin/doctor.py", "admin/cli_support.py"]:
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text("")
    allowed = ["__init__.py", "fakes.py", "test_package_layout.py", "test_contract.py", "test_errors.py",
               "proxy/__init__.py", "proxy/fakes.py", "proxy/test_rules.py", "proxy/test_rules_redirects.py",
               "admin/__init__.py", "admin/test_doctor.py", "admin/test_doctor_firewall.py", "admin/test_cli_support.py"]
    refused = ["test_rules.py", "test_proxy_rules.py", "test_admin.py", "proxy/test_rule.py", "proxy/test_origins.py",
               "proxy/helpers.py", "proxy/rules_test.py", "admin/test_cli.py", "admin/test_contract.py",
               "gadgets/test_x.py", "admin/nested/test_y.py"]
    for name in allowed + refused + ["gadgets/__init__.py"]:
        (tests / name).parent.mkdir(parents=True, exist_ok=True)
        (tests / name).write_text("")
    offenders, inspected = mirror_offenders(tests, package)
    assert sorted({where for where, _ in offenders}) == sorted(refused + ["gadgets/", "admin/nested/"])
    assert inspected == sum(Path(n).name.startswith("test_") for n in allowed + refused)
    why = dict(offenders)
    assert "a flat test: move it into proxy/" in why["test_rules.py"]
    assert "a flat test: move it into admin/" in why["test_admin.py"]
    assert "test_<module>.py" in why["proxy/test_rule.py"]
    assert "fakes.py" in why["proxy/helpers.py"]
    assert [w for w, _ in offenders].count("admin/nested/") == 2  # mirrors no package, and no __init__.py
