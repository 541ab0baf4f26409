"""Build hooks: the JupyterLab front end is built with the package (metadata is in setup.cfg).

``build_py`` and ``sdist`` run ``jlpm install`` and ``jlpm build:prod`` in ``labextension/``
when its sources are newer than the built output in ``labextension/prebuilt/``, then
install that output as data files under ``share/jupyter/labextensions/<npm name>/``, where
JupyterLab finds prebuilt extensions. The data files are computed after the build, because the
output does not exist before it on a clean checkout. Set ``WORKSPACE_LAUNCHER_SKIP_LABEXTENSION=1``
to skip the front end (a Python-only build).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = Path(__file__).parent.resolve()
LAB_SOURCE = HERE / "labextension"
LAB_OUTPUT = LAB_SOURCE / "prebuilt"
NPM_NAME = json.loads((LAB_SOURCE / "package.json").read_text())["name"]
LAB_TARGET = f"share/jupyter/labextensions/{NPM_NAME}"
SOURCE_GLOBS = ("package.json", "yarn.lock", ".yarnrc.yml", "tsconfig.json", "src/**/*", "style/**/*")


def _newest_source() -> float:
    return max(p.stat().st_mtime for pattern in SOURCE_GLOBS for p in LAB_SOURCE.glob(pattern) if p.is_file())


def _needs_build() -> bool:
    stamp = LAB_OUTPUT / "package.json"  # written last by the builder
    return not stamp.exists() or stamp.stat().st_mtime < _newest_source()


def _build_env() -> dict[str, str]:
    """PATH with this interpreter's scripts first, so package.json scripts find jlpm and
    jupyter-builder (pip's isolated build environment puts them there too)."""
    env = dict(os.environ)
    extra = [sysconfig.get_path("scripts"), str(Path(sys.executable).parent)]
    env["PATH"] = os.pathsep.join([*extra, env.get("PATH", "")])
    return env


def _jlpm(env: dict[str, str]) -> list[str]:
    found = shutil.which("jlpm", path=env["PATH"])
    return [found] if found else [sys.executable, "-c", "from jupyter_builder.jlpm import main; main()"]


def build_labextension() -> None:
    """Build the front end when its sources are newer than the built output."""
    if os.environ.get("WORKSPACE_LAUNCHER_SKIP_LABEXTENSION"):
        return
    if not _needs_build():
        return
    env = _build_env()
    if shutil.which("node", path=env["PATH"]) is None:
        if (LAB_OUTPUT / "package.json").exists():
            print("warning: node not found; installing the existing, older front-end build", file=sys.stderr)
            return
        raise RuntimeError(
            "building the JupyterLab front end needs Node.js 20 or later on PATH (https://nodejs.org); "
            "or set WORKSPACE_LAUNCHER_SKIP_LABEXTENSION=1 to build without the front end"
        )
    jlpm = _jlpm(env)
    for args in (["install"], ["build:prod"]):
        print(f"running jlpm {' '.join(args)} in {LAB_SOURCE}", file=sys.stderr)
        subprocess.run([*jlpm, *args], cwd=LAB_SOURCE, env=env, check=True)


def labextension_data_files() -> list[tuple[str, list[str]]]:
    """``(target dir, [files])`` for the built extension and its install.json."""
    if not (LAB_OUTPUT / "package.json").exists():
        return []
    by_dir: dict[str, list[str]] = {}
    for path in sorted(LAB_OUTPUT.rglob("*")):
        if path.is_file():
            relative = path.relative_to(LAB_OUTPUT).parent.as_posix()
            target = LAB_TARGET if relative == "." else f"{LAB_TARGET}/{relative}"
            by_dir.setdefault(target, []).append(path.relative_to(HERE).as_posix())
    by_dir.setdefault(LAB_TARGET, []).append((LAB_SOURCE / "install.json").relative_to(HERE).as_posix())
    return sorted(by_dir.items())


def _add_data_files(distribution) -> None:
    """Add the front end to the data files of setup.cfg (in place: install_data shares the list)."""
    if distribution.data_files is None:
        distribution.data_files = []
    ours = set(dict(labextension_data_files()))
    distribution.data_files[:] = [
        entry for entry in distribution.data_files if not (isinstance(entry, tuple) and entry[0] in ours)
    ] + labextension_data_files()


class BuildPyWithLabextension(build_py):
    def run(self) -> None:
        build_labextension()
        _add_data_files(self.distribution)
        super().run()

    def build_module(self, module, module_file, package):
        # build_py copies modules without their mode; a build context's scripts keep their exec
        # bit, which its content hash covers (else an installed copy hashes unlike the sources).
        outfile, copied = super().build_module(module, module_file, package)
        if str(package).startswith("workspace_launcher._images"):
            shutil.copymode(module_file, outfile)
        return outfile, copied


class SdistWithLabextension(sdist):
    def run(self) -> None:
        build_labextension()
        super().run()


def _data_dirs(root: Path, package: str) -> list[str]:
    """``package`` and each directory under ``root`` as a dotted name: setuptools ships their
    files as package data without warning that a data directory is not a package."""
    found = [package]
    for path in sorted(p for p in root.rglob("*") if p.is_dir() and p.name != "__pycache__"):
        found.append(".".join([package, *path.relative_to(root).parts]))
    return found


def packages() -> list[str]:
    return [
        *_data_dirs(HERE / "workspace_launcher", "workspace_launcher"),
        *_data_dirs(HERE / "images", "workspace_launcher._images"),
    ]


setup(
    packages=packages(),
    cmdclass={"build_py": BuildPyWithLabextension, "sdist": SdistWithLabextension},
)
