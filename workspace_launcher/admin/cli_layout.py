"""How the CLI fits its output to a width, pure: messages wrapped at spaces, tables whose id
columns keep every id whole, and a one-field-a-line layout for terminals too narrow for a table.

An id (a workspace id, an image reference or digest, a GPU uuid, a URL) is copied from the
terminal, so no function here ever cuts a word: a word longer than the line stays whole on a line
of its own, and the terminal soft-wraps it, which copies back as one piece.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from rich.cells import cell_len

#: The width of output that goes to no terminal (a pipe, a file) when COLUMNS names none: wide
#: enough that nothing is ever wrapped, so piped output stays one line per line, complete.
UNBOUNDED = 100_000
#: A column that may wrap is not made narrower than this (or than its header's longest word).
MIN_COLUMN = 6


def output_width(*, is_terminal: bool, columns: str | None, measured: int) -> int:
    """The width to lay output out for: COLUMNS when it names one, the terminal's, else unbounded."""
    if columns is not None and columns.isdigit() and int(columns) > 0:
        return int(columns)
    return measured if is_terminal else UNBOUNDED


def wrap(text: str, width: int, *, indent: int = 2) -> str:
    """``text`` broken at spaces to ``width``, continuation lines indented by ``indent`` spaces;
    its own line breaks are kept, and no word (an id, a URL) is ever split."""
    wrapper = textwrap.TextWrapper(width=max(width, indent + 1), subsequent_indent=" " * indent,
                                   break_long_words=False, break_on_hyphens=False)
    return "\n".join(wrapper.fill(line) if line.strip() else line for line in text.splitlines())


def longest_word(text: str) -> int:
    return max((cell_len(word) for word in text.split()), default=0)


def table_overhead(columns: int) -> int:
    """What a rich ``Table`` (default box, edges, one space of padding each side) adds to its
    columns' content: two padding cells per column, a rule between columns, two edges."""
    return 3 * columns + 1


def column_floors(headers: Sequence[str], rows: Sequence[Sequence[str]], whole: Sequence[bool]) -> list[int]:
    """How narrow each column may get: a ``whole`` column no narrower than its longest word (so
    an id is never cut, while "name (id)" may still break at its space); others down to
    :data:`MIN_COLUMN` or their header's longest word, or their full width if that is less."""
    floors = []
    for index, header in enumerate(headers):
        cells = [r[index] for r in rows]
        natural = max([cell_len(header), *(cell_len(c) for c in cells)])
        if whole[index]:
            floors.append(max([longest_word(header), *(longest_word(c) for c in cells)]))
        else:
            floors.append(min(natural, max(MIN_COLUMN, longest_word(header))))
    return floors


def fit_columns(headers: Sequence[str], rows: Sequence[Sequence[str]], *, whole: Sequence[bool],
                width: int) -> list[int] | None:
    """The content width of each column of a table that fits ``width``, or None when even the
    narrowest table (:func:`column_floors`) would not: then the caller prints :func:`records`.

    The widest column that may still shrink gives up a cell at a time, so short columns stay
    whole and the long ones wrap."""
    natural = [max([cell_len(h), *(cell_len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    floors = column_floors(headers, rows, whole)
    available = width - table_overhead(len(headers))
    if sum(floors) > available:
        return None
    widths = list(natural)
    for _ in range(sum(widths) - available):
        index = max((i for i, w in enumerate(widths) if w > floors[i]), key=lambda i: widths[i])
        widths[index] -= 1
    return widths


def records(headers: Sequence[str], rows: Sequence[Sequence[str]], *, width: int) -> str:
    """Each row as a block of "header  value" lines, blocks apart by a blank line: the layout of a
    terminal too narrow for the table. Values wrap at spaces under themselves; ids stay whole."""
    label = max(cell_len(h) for h in headers) + 2
    blocks = []
    for row in rows:
        lines = []
        for header, value in zip(headers, row):
            text = wrap(header.ljust(label) + value, width, indent=label) if value else header
            lines.append(text)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
