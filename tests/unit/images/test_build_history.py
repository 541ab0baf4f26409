"""The last build of each context (``images/build_history.py``), and the estimates from it."""

from __future__ import annotations

from tests.unit.fakes import context  # noqa: F401 (a fixture)
from workspace_launcher.catalog.profiles import Profile
from workspace_launcher.images.build_history import BuildEstimate, BuildHistory, estimate, stated_estimate


def test_a_recorded_build_is_read_back_and_replaced_by_the_next(tmp_path):
    history = BuildHistory(tmp_path / "sub" / "builds.json")
    assert history.last("pytorch") is None
    history.record("pytorch", seconds=241.26, size_bytes=9_000_000_000)
    history.record("jupyter", seconds=60, size_bytes=456_000_000)
    assert (history.last("pytorch").seconds, history.last("pytorch").size_bytes) == (241.3, 9_000_000_000)
    history.record("pytorch", seconds=30, size_bytes=1)
    assert history.last("pytorch").seconds == 30 and history.last("jupyter").seconds == 60


def test_a_damaged_history_costs_only_the_estimates(tmp_path):
    path = tmp_path / "builds.json"
    path.write_text("{not json")
    history = BuildHistory(path)
    assert history.last("pytorch") is None
    history.record("pytorch", seconds=5, size_bytes=5)  # and it heals on the next build
    assert history.last("pytorch").seconds == 5
    path.write_text('{"pytorch": {"seconds": "soon"}}')
    assert history.last("pytorch") is None


def test_the_estimate_adds_the_layer_when_it_must_build_too(tmp_path):
    history = BuildHistory(tmp_path / "builds.json")
    history.record("jupyter", seconds=60, size_bytes=456)
    history.record("pytorch", seconds=240, size_bytes=9000)
    assert estimate(history, ["jupyter", "pytorch"], None) == BuildEstimate(300, 9000, "last build")
    assert estimate(history, ["pytorch"], None) == BuildEstimate(240, 9000, "last build")


def test_without_a_last_build_the_profiles_stated_estimate_is_said(tmp_path, context):
    profile = Profile(name="jax", display_name="JAX", context_dir=str(context),
                      build_estimate={"minutes": 12, "size": "9g"})
    stated = stated_estimate(profile)
    assert stated == BuildEstimate(720, 9 * 1024**3, "profile")
    assert estimate(BuildHistory(tmp_path / "none.json"), ["jupyter", "jax"], stated) == stated
    assert stated_estimate(Profile(name="x", display_name="X", context_dir=str(context))) is None
    assert stated.to_dict() == {"seconds": 720, "size_bytes": 9 * 1024**3, "source": "profile"}
