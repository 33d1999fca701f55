"""Output shared by every verb: JSON, tables, progress bars, errors.

Humans on a terminal get rich tables and a progress bar (on stderr); pipes
get plain aligned text and no bar, so scripts can parse or ``grep`` it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_UNSAFE = 3
#: What a shell reports for a process stopped by SIGINT.
EXIT_INTERRUPTED = 130

T = TypeVar("T")


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def print_error(error: BaseException | str) -> None:
    print(f"ckpt: error: {error}", file=sys.stderr)


def print_warning(warning: str) -> None:
    print(f"ckpt: warning: {warning}", file=sys.stderr)


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    cells = [[_cell(value) for value in row] for row in rows]
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(*columns, title=title)
        for row in cells:
            table.add_row(*row)
        Console().print(table)
        return
    print(title)
    widths = [max(len(line) for line in column) for column in zip(columns, *cells, strict=True)]
    for row in (list(columns), *cells):
        padded = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(padded).rstrip())


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def progress(items: Sequence[T], description: str) -> Iterator[T]:
    """Iterate ``items`` with a progress bar when stderr is a terminal."""
    if not sys.stderr.isatty():
        yield from items
        return
    from rich.progress import track

    yield from track(items, description=description, transient=True, console=_stderr_console())


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)
