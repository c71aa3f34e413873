"""Tables that stay readable at any width: columns where they fit, stacked blocks where not.

:func:`table_or_blocks` draws rows as a rich table when the terminal is at least ``WIDE``
columns and every column gets its minimum (leaving out optional ones if it must); otherwise,
and for more than ``PLAIN_ROWS`` rows at any width, as one block per row: the row's head
columns on a first line, then each other column on lines of its own, wrapped at spaces.

An identifier a person copies (a scan id, a request code, an app id, a URL) is never cut or
wrapped inside: in a table its column is at least as wide as the identifier; in a block it
stands alone on its line, however long. Blocks are plain lines drawn without rich's table
measurement, so thousands of rows render in well under a second.

Every string is made inert and put on one line (``text.one_line``) and reaches rich as plain
text, never as markup: a display name cannot style the output or forge a line.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from maa_guard.reporters.text import one_line

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderableType
    from rich.segment import Segment
    from rich.style import Style
    from rich.table import Table
    from rich.text import Text

WIDE = 100  # narrower terminals get blocks
PLAIN_ROWS = 500  # more rows than this get blocks at any width: no rich measurement
TERMINAL_ROWS = 200  # rows a report shows on a terminal before it summarises the rest
TEXT_FLOOR = 12  # a wrapping column is not squeezed below this (or its longest word)
INDENT = "  "
HANGING = "    "  # continuation lines of a labelled value


class Role(enum.Enum):
    HEAD = "head"  # blocks: joined on the row's first line; tables: never wrapped
    TEXT = "text"  # blocks: a line of its own, wrapped at spaces; tables: wraps
    ID = "id"  # blocks: alone on a line; tables: never wrapped; never cut anywhere


@dataclass(frozen=True, slots=True)
class Column:
    header: str
    role: Role = Role.TEXT
    labelled: bool = False  # blocks: the value follows "header: "
    no_wrap: bool = False  # tables: a short text kept on one line (a date, a count)
    justify: Literal["left", "right"] = "left"
    in_table: bool = True  # False: only blocks show it (a table says it another way)
    in_blocks: bool = True  # False: only tables show it (a block says it another way)
    optional: bool = False  # a table too narrow for it leaves it out (blocks keep it)


@dataclass(frozen=True, slots=True)
class Cell:
    """A cell's ``text``, then an identifier and lines of detail.

    In a table: ``text (ident)`` and each of ``lines`` below it; in a block: the text, the
    identifier alone on the next line, then each of ``lines``. ``style`` colours the text."""

    text: str = ""
    style: str = ""
    ident: str = ""
    lines: tuple[str, ...] = ()
    bracket: bool = True  # tables: ``text (ident)``; False: ``text ident`` (a method and a URL)


CellValue = str | Cell
Segments = list[tuple[str, str]]  # (text, style) pieces of one output line


def table_or_blocks(
    columns: Sequence[Column],
    rows: Iterable[Sequence[CellValue]],
    width: int,
    *,
    title: str = "",
    title_style: str = "bold",
    row_lines: bool = False,
    blocks: bool | None = None,
) -> RenderableType:
    """``rows`` as a table or as blocks. ``blocks``: True draws blocks; None decides by the
    width and the number of rows; False draws a table at any width. Rows that do not fit a
    table are blocks whatever ``blocks`` says.

    ``title`` (ours, not tenant text) goes on a line of its own above either; ``row_lines``
    puts a blank line between table rows (blocks always have one)."""
    cells = _cells(columns, rows)
    heading = [[(line, title_style)] for line in wrap(title, width, "", "")] if title else []
    columns, widths = _plan(columns, cells, width, blocks)
    if widths is None:
        spacer: list[Segments] = [[]] if heading else []
        return Lines(heading + spacer + _blocks(columns, cells, width))
    from rich.console import Group

    table = _table(columns, cells, widths, row_lines)
    return Group(Lines(heading), table) if heading else table


def fits_as_table(
    columns: Sequence[Column], rows: Iterable[Sequence[CellValue]], width: int
) -> bool:
    """Whether :func:`table_or_blocks` draws these rows as a table: a report of several tables
    asks it of each and draws all as blocks when one would not fit, so that the report has
    one layout."""
    return _plan(columns, _cells(columns, rows), width, None)[1] is not None


def _plan(
    columns: Sequence[Column], cells: Sequence[Sequence[Cell]], width: int, blocks: bool | None
) -> tuple[Sequence[Column], list[int] | None]:
    """The columns and their widths as a table, leaving optional columns out until the rest
    fit; no widths: blocks."""
    if blocks is None:
        blocks = width < WIDE or len(cells) > PLAIN_ROWS
    if blocks:
        return columns, None
    widths = _fitted_widths(columns, cells, width)
    optional = [i for i, column in enumerate(columns) if column.optional and column.in_table]
    while widths is None and optional:  # leave out the last optional column
        left_out = optional.pop()
        columns = [*columns]
        columns[left_out] = replace(columns[left_out], in_table=False)
        widths = _fitted_widths(columns, cells, width)
    return columns, widths


def fields(
    pairs: Sequence[tuple[str, CellValue]], width: int, label_style: str = "dim"
) -> RenderableType:
    """Labelled values: a two-column grid where every identifier fits whole beside its label,
    else one ``label: value`` line each, an identifier alone on the line after its label.

    A value that is a plain string is text; a :class:`Cell` may carry an identifier."""
    columns = [Column(label, labelled=True) for label, _ in pairs]
    values = [_cell(value, column) for (_, value), column in zip(pairs, columns, strict=True)]
    label_width = max((_length(label) for label, _ in pairs), default=0)
    room = width - label_width - 2
    longest = max((_length(_bracketed(cell)) for cell in values), default=0)
    if room < max(longest, TEXT_FLOOR):
        return Lines(_blocks(columns, [values], width))
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style=label_style, no_wrap=True)
    grid.add_column(overflow="fold", min_width=min(longest, room))
    for (label, _), cell in zip(pairs, values, strict=True):
        grid.add_row(Text(label), _table_text(cell))
    return grid


def hidden_line(hidden: int, noun: str, how: str) -> str:
    """``… 25800 more apps not shown: write them all with -o impact.csv``."""
    return f"… {hidden} more {noun} not shown: {how}"


class Lines:
    """Lines drawn as they are: rich neither wraps nor styles them further.

    Print with ``crop=False`` so that a line longer than the terminal (an identifier that does
    not fit) is kept whole and left to the terminal to wrap."""

    def __init__(self, lines: list[Segments]) -> None:
        self.lines = lines

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Segment]:
        """Runs of one style as one segment each (newlines are unstyled): thousands of lines
        reach rich as a few segments, not one per piece."""
        from rich.segment import Segment

        styles: dict[str, Style | None] = {"": None}
        run: list[str] = []
        current = ""
        for line in self.lines:
            for text, name in (*line, ("\n", "")):
                if name != current:
                    if run:
                        yield Segment("".join(run), styles[current])
                    run, current = [], name
                    if name not in styles:
                        styles[name] = console.get_style(name)
                run.append(text)
        if run:
            yield Segment("".join(run), styles[current])


# ---- cells ----------------------------------------------------------------------------------


def _cells(columns: Sequence[Column], rows: Iterable[Sequence[CellValue]]) -> list[list[Cell]]:
    return [
        [_cell(value, column) for value, column in zip(row, columns, strict=True)] for row in rows
    ]


def _cell(value: CellValue, column: Column) -> Cell:
    if isinstance(value, Cell):
        return Cell(
            one_line(value.text),
            value.style,
            one_line(value.ident),
            tuple(one_line(line) for line in value.lines),
            value.bracket,
        )
    if column.role is Role.ID:
        return Cell(ident=one_line(value))
    return Cell(one_line(value))


def _table_lines(cell: Cell) -> list[str]:
    first = " ".join(part for part in (cell.text, _bracketed(cell)) if part)
    return [first, *cell.lines] if first else list(cell.lines)


def _bracketed(cell: Cell) -> str:
    if not cell.ident:
        return ""
    return f"({cell.ident})" if cell.text and cell.bracket else cell.ident


def _length(text: str) -> int:
    if text.isascii():
        return len(text)
    from rich.cells import cell_len

    return cell_len(text)


# ---- tables ---------------------------------------------------------------------------------


def _fitted_widths(
    columns: Sequence[Column], cells: Sequence[Sequence[Cell]], width: int
) -> list[int] | None:
    """Each table column's width, or None when the minimums do not fit in ``width``.

    A column that may not wrap gets its widest cell; a wrapping one at least its longest
    identifier (kept whole) and ``TEXT_FLOOR``, and a share of what is left. Other long words
    in a wrapping column may fold, as rich folds them."""
    shown = [i for i, column in enumerate(columns) if column.in_table]
    natural: list[int] = []
    least: list[int] = []
    for i in shown:
        column = columns[i]
        texts = [line for row in cells for line in _table_lines(row[i])]
        widest = max((_length(text) for text in [column.header, *texts]), default=0)
        natural.append(widest)
        if column.role is not Role.TEXT or column.no_wrap:
            least.append(widest)
            continue
        idents = (_length(_bracketed(row[i])) for row in cells)
        least.append(max(max(idents, default=0), min(TEXT_FLOOR, widest)))
    room = width - 3 * len(shown) + 1  # one space of padding each side, one between columns
    if sum(least) > room:
        return None
    return _share(natural, least, room)


def _share(natural: list[int], least: list[int], room: int) -> list[int]:
    """Widths between ``least`` and ``natural`` that fill ``room``: the narrow columns are
    shown whole first, then the wide ones share what is left evenly (a common cap)."""
    if sum(natural) <= room:
        return natural
    low, high = 0, max(natural)
    while low < high:  # the largest cap that fits
        cap = (low + high + 1) // 2
        if sum(_capped(natural, least, cap)) <= room:
            low = cap
        else:
            high = cap - 1
    widths = _capped(natural, least, low)
    spare = room - sum(widths)
    for i, width in enumerate(widths):
        if spare and width < natural[i]:
            widths[i] += 1
            spare -= 1
    return widths


def _capped(natural: list[int], least: list[int], cap: int) -> list[int]:
    return [min(high, max(low, cap)) for high, low in zip(natural, least, strict=True)]


def _table(
    columns: Sequence[Column], cells: Sequence[Sequence[Cell]], widths: list[int], row_lines: bool
) -> Table:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        show_lines=row_lines,
        expand=False,
    )
    shown = [i for i, column in enumerate(columns) if column.in_table]
    for i, column_width in zip(shown, widths, strict=True):
        column = columns[i]
        table.add_column(
            Text(column.header),
            width=column_width,
            justify=column.justify,
            no_wrap=column.role is not Role.TEXT or column.no_wrap,
            overflow="fold",
        )
    for row in cells:
        table.add_row(*(_table_text(row[i]) for i in shown))
    return table


def _table_text(cell: Cell) -> Text:
    from rich.text import Text

    text = Text(cell.text, style=cell.style)
    if ident := _bracketed(cell):
        text.append(f" {ident}" if cell.text else ident)
    for line in cell.lines:
        text.append("\n" + line if text else line)
    return text


# ---- blocks ---------------------------------------------------------------------------------


def _blocks(
    columns: Sequence[Column], cells: Sequence[Sequence[Cell]], width: int
) -> list[Segments]:
    out: list[Segments] = []
    shown = [i for i, column in enumerate(columns) if column.in_blocks]
    heads = [i for i in shown if columns[i].role is Role.HEAD]
    body = [i for i in shown if columns[i].role is not Role.HEAD]
    for row in cells:
        if out:
            out.append([])
        out += _head(columns, row, heads, width)
        for i in body:
            out += _body(columns[i], row[i], width)
    return out


def _head(
    columns: Sequence[Column], row: Sequence[Cell], heads: Sequence[int], width: int
) -> list[Segments]:
    words: Segments = []
    for i in heads:
        cell = row[i]
        if columns[i].labelled and (cell.text or cell.ident):
            words.append((columns[i].header, ""))
        words += [(word, cell.style) for word in cell.text.split()]
        if cell.ident:
            words.append((cell.ident, ""))
    return _wrap_words(words, width, "", INDENT)


def _body(column: Column, cell: Cell, width: int) -> list[Segments]:
    """``label: text`` wrapped, the identifier alone on the next line, then the lines; what
    belongs to a label is indented under it."""
    out: list[Segments] = []
    label = f"{column.header}: " if column.labelled else ""
    inner = HANGING if label else INDENT
    if cell.text:
        out += [[(line, cell.style)] for line in wrap(label + cell.text, width, INDENT, inner)]
    elif label and (cell.ident or cell.lines):
        out.append([(INDENT + label.rstrip(), "")])
    if cell.ident:
        out.append([(inner + cell.ident, "")])
    for line in cell.lines:
        out += [[(text, "")] for text in wrap(line, width, inner, inner + INDENT)]
    return out


def wrap(text: str, width: int, first: str, rest: str) -> list[str]:
    """``text`` in lines of at most ``width`` cells, broken at spaces only: a word longer than
    a line (a URL, an identifier) stands whole on a line of its own. ``first`` and ``rest``
    (spaces) indent the first line and the others."""
    if text.isascii():
        return _wrap_ascii(text, width, first, rest)
    if _length(first) + _length(text) <= width:
        return [first + text]
    words: Segments = [(word, "") for word in text.split()]
    return ["".join(piece for piece, _ in line) for line in _wrap_words(words, width, first, rest)]


def _wrap_ascii(text: str, width: int, first: str, rest: str) -> list[str]:
    """:func:`wrap` where a character is a cell: string searches, not a loop over words."""
    lines = []
    indent = first
    while len(indent) + len(text) > width:
        cut = text.rfind(" ", 0, width - len(indent) + 1)
        if cut <= 0:  # the first word is longer than the line: it gets the line whole
            cut = text.find(" ")
            if cut < 0:
                break
        lines.append(indent + text[:cut].rstrip(" "))
        text = text[cut:].lstrip(" ")
        indent = rest
    lines.append(indent + text)
    return lines


def _wrap_words(words: Segments, width: int, first: str, rest: str) -> list[Segments]:
    lines: list[Segments] = []
    line: Segments = [(first, "")]
    used = _length(first)
    empty = True
    for word, style in words:
        size = _length(word)
        if not empty and used + 1 + size > width:
            lines.append(line)
            line, used, empty = [(rest, "")], _length(rest), True
        if not empty:
            line.append((" ", ""))
            used += 1
        line.append((word, style))
        used += size
        empty = False
    if not empty:
        lines.append(line)
    return lines
