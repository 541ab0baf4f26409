"""The widget's words for a profile (``notebook/widget.py``): built, or what a launch builds."""

from __future__ import annotations

from workspace_launcher.notebook.widget import profile_label


def test_a_profile_says_whether_and_what_a_launch_builds_first():
    base = {"display_name": "PyTorch 2.13", "built": False, "build_estimate": None}
    assert profile_label({**base, "built": True}) == "PyTorch 2.13 (built)"
    assert profile_label(base) == "PyTorch 2.13 (will build)"
    estimate = {"seconds": 250, "size_bytes": 2_100_000_000, "source": "last build"}
    assert profile_label({**base, "build_estimate": estimate}) == "PyTorch 2.13 (will build: about 4 min, 2.1 GB (from its last build))"


def test_the_widget_imports_nothing_of_the_server():
    """notebook/ is a client of the REST API, like the lab extension (its package docstring)."""
    import ast
    from pathlib import Path

    import workspace_launcher.notebook as notebook

    for path in Path(notebook.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("workspace_launcher."):
                assert node.module.startswith("workspace_launcher.notebook"), f"{path.name} imports {node.module}"
