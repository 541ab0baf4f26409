"""The environment a workspace starts with: reproducibility switches and admin-allowed variables.

Pure functions: what a launch asks for, checked against the admin's policy.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping

from workspace_launcher.errors import InvalidRequest

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
#: Never settable by a user: the launcher's own, the GPU runtime's, and the loader's.
RESERVED = ("JUPYTER_*", "WORKSPACE_*", "NVIDIA_*", "CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "LD_*", "PATH", "HOME")


def deterministic_environment(seed: int) -> dict[str, str]:
    """Variables that make PyTorch, TensorFlow and Python reproducible (the notebooks read
    WORKSPACE_DETERMINISTIC and SEED to switch on the framework's deterministic algorithms)."""
    return {
        "WORKSPACE_DETERMINISTIC": "1",
        "SEED": str(seed),
        "PYTHONHASHSEED": str(seed),
        # cuBLAS needs a fixed workspace to be deterministic (CUDA >= 10.2).
        "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
        "TF_DETERMINISTIC_OPS": "1",
        "TF_CUDNN_DETERMINISTIC": "1",
    }


def launch_environment(*, deterministic: object, seed: object, env: object, allowed: Iterable[str]) -> dict[str, str]:
    """The extra environment of a launch, or a 400 naming the variable and the policy."""
    if not isinstance(deterministic, bool):
        raise InvalidRequest("deterministic must be true or false", field="deterministic")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise InvalidRequest("seed must be an integer from 0 to 4294967295", field="seed")
    if env is None:
        env = {}
    if not isinstance(env, Mapping):
        raise InvalidRequest('env must be an object of variable names to values, e.g. {"WANDB_MODE": "offline"}', field="env")
    allowed = list(allowed)
    result: dict[str, str] = {}
    for name, value in env.items():
        if not isinstance(name, str) or not _ENV_NAME.fullmatch(name):
            raise InvalidRequest(f"env: {name!r} is not a valid variable name", field="env")
        if not isinstance(value, str) or "\0" in value or len(value) > 4096:
            raise InvalidRequest(f"env: {name} must be a string of at most 4096 characters", field="env")
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in RESERVED):
            raise InvalidRequest(f"env: {name} is set by the launcher and cannot be overridden", field="env")
        if not any(fnmatch.fnmatchcase(name, pattern) for pattern in allowed):
            policy = ", ".join(allowed) or "none"
            raise InvalidRequest(
                f"env: {name} is not allowed by the admin's policy (allowed: {policy}); ask the "
                "admin to add it to WorkspaceManager.allowed_env",
                field="env",
            )
        result[name] = value
    if deterministic:
        result.update(deterministic_environment(seed))
    return result
