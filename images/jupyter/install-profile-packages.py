#!/usr/bin/env python3
"""Install a profile's Python packages on top of the shared Jupyter layer, for a two-stage build.

It is part of the Jupyter layer (/usr/local/bin/install-profile-packages), so every profile
uses the same one. In the build stage (FROM the Jupyter layer), as the image's user, with the
profile's requirements.txt and constraints.txt copied to /tmp/profile/:

    install-profile-packages install [REQUIREMENT ...]
    python -c "import ..."                      # the profile's own check, optional
    install-profile-packages collect

install: pip-installs the context's requirements.txt (and the REQUIREMENTs) into /opt/venv,
constrained by its constraints.txt (the profile's lock) and by the exact versions the Jupyter
layer already has (a profile never changes the layer's packages). The builder's wheelhouse
(/tmp/wheels, maybe empty) is offered with --find-links; $EXTRA_INDEX_URL, when not empty, is
added as an extra index after a 15-second reachability check, so an unreachable index fails the
build at once with the fix instead of stalling in pip's retries.

collect: moves what the install added or changed in /opt/venv to /tmp/venv-delta (renames, no
copy, so the build stage's layer holds it once) and lists what it removed (an upgraded
package's old files) in /tmp/venv-delta/.removed-by-profile. The final stage then does

    COPY --from=build --chown=1000:100 /tmp/venv-delta/ /opt/venv/

and runs `install-profile-packages apply`, which deletes the listed paths and the list: it gets
the profile's packages only, not a second copy of the whole virtualenv, and never the wheelhouse.
"""

import errno
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

VENV = "/opt/venv"
DELTA = "/tmp/venv-delta"
REMOVED = ".removed-by-profile"
STATE = "/tmp/venv-before.json"
HERE = "/tmp/profile"  # where the profile's Dockerfile copies requirements.txt and constraints.txt


def walk(root):
    """Relative paths of everything under root (symlinks are not followed)."""
    paths = set()
    for top, dirs, files in os.walk(root):
        rel = os.path.relpath(top, root)
        for name in dirs + files:
            paths.add(os.path.normpath(os.path.join(rel, name)))
    return paths


def check_index(url):
    try:
        urllib.request.urlopen(url, timeout=15).close()
    except urllib.error.HTTPError:
        pass  # the server answered: it is reachable
    except OSError as e:
        sys.exit(
            f"ERROR: the extra package index {url} cannot be reached from this build ({e}).\n"
            "Let the build reach it (proxy, firewall), or blank the profile's EXTRA_INDEX_URL build\n"
            "arg and provide the wheels another way, e.g. in jupyter_server_config.py:\n"
            "  c.ImageBuilder.build_args = {'<profile>': {'EXTRA_INDEX_URL': ''}}\n"
            "  c.ImageBuilder.wheelhouse = '/path/to/wheels'"
        )


def snapshot():
    """Record what the virtualenv holds now, and when."""
    stamp = time.time_ns()
    with open(STATE, "w") as f:
        json.dump({"stamp_ns": stamp, "paths": sorted(walk(VENV))}, f)
    time.sleep(1)  # everything written from now on has a change time after the stamp


def install(requirements):
    snapshot()
    frozen = subprocess.run([sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
                            check=True, capture_output=True, text=True).stdout
    layer = "/tmp/jupyter-layer-constraints.txt"
    with open(layer, "w") as f:
        f.write(frozen)
    args = ["--find-links", "/tmp/wheels", "-c", layer, "-c", os.path.join(HERE, "constraints.txt"),
            "-r", os.path.join(HERE, "requirements.txt"), *requirements]
    index = os.environ.get("EXTRA_INDEX_URL", "").strip()
    if index:
        check_index(index)
        args = ["--extra-index-url", index, *args]
    print("pip install " + " ".join(args), flush=True)
    code = subprocess.call([sys.executable, "-m", "pip", "install", *args])
    os.unlink(layer)
    if code:
        sys.exit(code)


def move(src, dst):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    try:
        os.rename(src, dst)
    except OSError as e:
        if e.errno != errno.EXDEV:
            raise
        shutil.move(src, dst)


def collect():
    with open(STATE) as f:
        state = json.load(f)
    before, stamp = set(state["paths"]), state["stamp_ns"]
    after = walk(VENV)
    moved = 0
    for top, dirs, files in os.walk(VENV):
        rel_top = os.path.relpath(top, VENV)
        for name in list(dirs):
            rel = os.path.normpath(os.path.join(rel_top, name))
            path = os.path.join(VENV, rel)
            if rel not in before:  # a new directory (or link to one): moved whole
                dirs.remove(name)
                move(path, os.path.join(DELTA, rel))
                moved += 1
            elif os.path.islink(path):
                dirs.remove(name)
                if os.lstat(path).st_ctime_ns > stamp:
                    move(path, os.path.join(DELTA, rel))
                    moved += 1
        for name in files:
            rel = os.path.normpath(os.path.join(rel_top, name))
            path = os.path.join(VENV, rel)
            if rel not in before or os.lstat(path).st_ctime_ns > stamp:
                move(path, os.path.join(DELTA, rel))
                moved += 1
    removed = sorted(before - after)
    os.makedirs(DELTA, exist_ok=True)
    with open(os.path.join(DELTA, REMOVED), "w") as f:
        f.write("".join(p + "\n" for p in removed))
    os.unlink(STATE)
    size = sum(os.lstat(os.path.join(t, n)).st_size for t, _, fs in os.walk(DELTA) for n in fs)
    print(f"profile packages: {moved} new or changed entries ({size / 2**20:.0f} MiB) to copy, "
          f"{len(removed)} paths to remove", flush=True)


def apply():
    """Final stage: delete what the profile's install replaced in the layer's virtualenv."""
    listing = os.path.join(VENV, REMOVED)
    if os.path.exists(listing):
        with open(listing) as f:
            for line in f.read().splitlines():
                path = os.path.join(VENV, line)
                if line and os.path.normpath(path).startswith(VENV + os.sep):
                    shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) and not os.path.islink(path) else _unlink(path)
        os.remove(listing)


def _unlink(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def main(argv):
    if argv == ["apply"]:
        apply()
    elif argv[:1] == ["install"]:
        install(argv[1:])
    elif argv == ["collect"]:
        collect()
    else:
        sys.exit("usage: install-profile-packages install [REQUIREMENT ...] | collect | apply")


if __name__ == "__main__":
    main(sys.argv[1:])
