"""admin/cli_layout.py: messages and tables fitted to a width without ever cutting an id."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.table import Column, Table
from rich.text import Text

from workspace_launcher.admin.cli_layout import UNBOUNDED, fit_columns, output_width, records, table_overhead, wrap

URL = "http://127.0.0.1:8888/user/alice/workspace-launcher/open/0123456789ab"
DIGEST = "sha256:" + "0123456789abcdef" * 4
HEADERS = ("id", "name", "owner", "profile", "status", "gpus", "datasets", "created")
ROWS = [["0123456789ab", "from-cli", "alice-cli", "minimal", "running", "0", "demo, wltest-shapes",
         "2024-05-01T12:00:00+00:00"],
        ["ba9876543210", "a-much-longer-workspace-name", "bob", "pytorch-cuda12", "building", "2", "",
         "2024-05-01T12:05:00+00:00"]]
WHOLE = [True] + [False] * 7


def test_the_width_is_columns_then_the_terminals_and_unbounded_for_a_pipe():
    assert output_width(is_terminal=True, columns="40", measured=120) == 40
    assert output_width(is_terminal=False, columns="200", measured=80) == 200
    assert output_width(is_terminal=True, columns=None, measured=120) == 120
    assert output_width(is_terminal=True, columns="wide", measured=120) == 120
    assert output_width(is_terminal=False, columns=None, measured=80) == UNBOUNDED


@pytest.mark.parametrize("width", [20, 40, 80])
def test_a_message_wraps_at_spaces_indented_and_keeps_a_url_whole(width):
    message = f"0123456789ab from-cli is running; open it at {URL} (or from JupyterLab's GPU Workspaces panel)"
    lines = wrap(message, width, indent=2).splitlines()
    assert len(lines) > 1
    assert " ".join(" ".join(lines).split()) == message  # every word, in order, none cut
    assert any(URL in line for line in lines)
    for line in lines[1:]:
        assert line.startswith("  ") and not line.startswith("   ")
    assert all(len(line) <= width or line.strip() == URL for line in lines)


def test_a_message_at_a_wide_terminal_is_one_line_and_its_own_breaks_stay():
    assert wrap(f"error: no workspace 0123456789ab; see {URL}", 200) == f"error: no workspace 0123456789ab; see {URL}"
    assert wrap("first line\n  second line", 200) == "first line\n  second line"
    assert wrap("a-hyphenated-name-is-one-word here", 12, indent=4) == "a-hyphenated-name-is-one-word\n    here"


def _render(widths: list[int], width: int) -> str:
    """The table cli_support.print_listing prints, rendered by rich at ``width``."""
    table = Table(*(Column(h, width=w, overflow="fold") for h, w in zip(HEADERS, widths)))
    for row in ROWS:
        table.add_row(*(Text(cell) for cell in row))
    buffer = io.StringIO()
    Console(file=buffer, width=width).print(table)
    return buffer.getvalue()


@pytest.mark.parametrize("width", [90, 100, 120])
def test_columns_that_must_stay_whole_do_and_the_others_wrap_to_fit(width):
    widths = fit_columns(HEADERS, ROWS, whole=WHOLE, width=width)
    assert widths is not None and widths[0] == 12
    assert sum(widths) + table_overhead(len(HEADERS)) <= width
    rendered = _render(widths, width)
    assert all(len(line) <= width for line in rendered.splitlines())
    ids = [line.split("│")[1].strip() for line in rendered.splitlines() if line.startswith("│")]
    assert [i for i in ids if i] == ["0123456789ab", "ba9876543210"]  # on one line each, whole


def test_a_wide_terminal_gets_the_natural_table():
    widths = fit_columns(HEADERS, ROWS, whole=WHOLE, width=200)
    assert widths == [12, 28, 9, 14, 8, 4, 19, 25]
    assert "│ 0123456789ab │ from-cli " in _render(widths, 200)


def test_a_terminal_too_narrow_for_the_table_gets_records_with_ids_whole():
    assert fit_columns(HEADERS, ROWS, whole=WHOLE, width=40) is None
    text = records(HEADERS, ROWS, width=40)
    blocks = text.split("\n\n")
    assert len(blocks) == 2
    assert blocks[0].splitlines()[0] == "id        0123456789ab"
    assert "datasets  demo, wltest-shapes" in blocks[0]
    assert blocks[1].splitlines()[6] == "datasets"  # an empty value: the label alone
    assert all(len(line) <= 40 for line in text.splitlines())


def test_an_id_longer_than_the_terminal_is_printed_whole_on_its_own_line():
    assert fit_columns(("profile", "digest"), [["minimal", DIGEST]], whole=[False, True], width=60) is None
    lines = records(("profile", "digest"), [["minimal", DIGEST]], width=40).splitlines()
    assert lines == ["profile  minimal", "digest", f"         {DIGEST}"]
    widths = fit_columns(("profile", "digest"), [["minimal", DIGEST]], whole=[False, True], width=200)
    assert widths == [7, len(DIGEST)]


def test_a_whole_column_may_break_between_words_never_inside_one():
    rows = [["wltest-cli", "from-cli (0123456789ab)", "2024-05-01T12:00:00+00:00"]]
    headers, whole = ("tag", "of workspace", "created"), [True, True, False]
    widths = fit_columns(headers, rows, whole=whole, width=45)
    assert widths is not None and widths[1] == len("(0123456789ab)")
