"""Validate REST responses against the shipped OpenAPI document."""

from __future__ import annotations

import json
import re
from functools import cache
from importlib.resources import files

import jsonschema


@cache
def spec() -> dict:
    return json.loads(files("workspace_launcher").joinpath("openapi.json").read_text())


def operation(path: str, method: str) -> tuple[str, dict]:
    """The documented operation for a concrete API path (relative to .../api)."""
    for template, item in spec()["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path) and method.lower() in item:
            return template, item[method.lower()]
    raise AssertionError(f"{method} {path} is not documented in openapi.json")


def check(response, path: str, method: str = "GET") -> object:
    """Assert the status is documented for the operation and the body matches its schema."""
    _, op = operation(path, method)
    documented = op["responses"].get(str(response.code))
    assert documented is not None, f"{method} {path} answered {response.code}, which is not documented"
    body = json.loads(response.body) if response.body else None
    content = documented.get("content", {}).get("application/json")
    if content is not None:
        schema = {**content["schema"], "components": spec()["components"]}
        jsonschema.validate(body, schema, cls=jsonschema.Draft202012Validator)
    return body
