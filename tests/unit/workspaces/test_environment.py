"""Launch environment: reproducibility switches and the admin's allow-list."""

from __future__ import annotations

import pytest

from workspace_launcher.errors import InvalidRequest
from workspace_launcher.workspaces.environment import deterministic_environment, launch_environment


def test_deterministic_sets_the_frameworks_switches_and_the_seed():
    env = launch_environment(deterministic=True, seed=42, env=None, allowed=[])
    assert env["TF_DETERMINISTIC_OPS"] == "1"
    assert env["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert env["SEED"] == env["PYTHONHASHSEED"] == "42"
    assert env["WORKSPACE_DETERMINISTIC"] == "1"
    assert launch_environment(deterministic=False, seed=0, env={}, allowed=[]) == {}
    assert set(deterministic_environment(0)) <= set(launch_environment(deterministic=True, seed=0, env={}, allowed=[]))


def test_allowed_variables_pass_by_name_or_pattern():
    env = launch_environment(deterministic=False, seed=0, env={"WANDB_MODE": "offline", "HF_HOME": "/models/hf"}, allowed=["WANDB_*", "HF_HOME"])
    assert env == {"WANDB_MODE": "offline", "HF_HOME": "/models/hf"}


@pytest.mark.parametrize(
    "env,words",
    [
        ({"SECRET": "x"}, "not allowed by the admin's policy (allowed: WANDB_*)"),
        ({"JUPYTER_TOKEN": ""}, "set by the launcher"),
        ({"NVIDIA_VISIBLE_DEVICES": "all"}, "set by the launcher"),
        ({"CUDA_VISIBLE_DEVICES": "0,1"}, "set by the launcher"),
        ({"LD_PRELOAD": "/x.so"}, "set by the launcher"),
        ({"1BAD": "x"}, "not a valid variable name"),
        ({"WANDB_X": 5}, "must be a string"),
        (["WANDB_X=1"], "must be an object"),
    ],
)
def test_refusals_name_the_variable_and_the_fix(env, words):
    with pytest.raises(InvalidRequest) as info:
        launch_environment(deterministic=False, seed=0, env=env, allowed=["WANDB_*", "*_VISIBLE_DEVICES", "*"][:1])
    assert words in info.value.message and info.value.field == "env"


def test_reserved_names_cannot_be_allowed_even_by_a_wildcard():
    with pytest.raises(InvalidRequest, match="set by the launcher"):
        launch_environment(deterministic=False, seed=0, env={"JUPYTER_TOKEN": ""}, allowed=["*"])


@pytest.mark.parametrize("seed", [-1, 2**32, "3", True, 1.5])
def test_bad_seeds(seed):
    with pytest.raises(InvalidRequest, match="seed"):
        launch_environment(deterministic=True, seed=seed, env=None, allowed=[])
