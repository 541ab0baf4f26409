"""Schemathesis hooks for ``test_fuzz.py`` (loaded by the fuzzer's process, by module path).

The check every response of the launcher's REST API must pass, whatever the request: a success
the operation documents, or a 4xx whose body is a JSON object with a non-empty ``message``.
Nothing else: no 5xx, no redirect, no HTML error page.
"""

from __future__ import annotations

import json

import schemathesis


@schemathesis.check
def documented_success_or_json_4xx(ctx, response, case) -> None:
    status = response.status_code
    if response.request.method == "OPTIONS" and case.operation.method.upper() != "OPTIONS":
        # Not an operation: Jupyter's CORS preflight, which every API route answers, body-less.
        if status in (200, 204) and not response.content:
            return
    if 200 <= status < 300:
        documented = case.operation.definition.raw.get("responses", {})
        if str(status) not in documented:
            raise AssertionError(f"{status} is not a success {case.operation.label} documents ({sorted(documented)})")
        return
    if not 400 <= status < 500:
        raise AssertionError(f"answered {status}: neither a documented success nor a 4xx: {response.text[:300]!r}")
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"a {status} whose body is not JSON: {response.text[:300]!r}") from None
    if not isinstance(body, dict) or not isinstance(body.get("message"), str) or not body["message"].strip():
        raise AssertionError(f"a {status} without a JSON `message`: {response.text[:300]!r}")
