"""The Rich consoles every `strangler` command prints through, made here once.

- Literal text: a console's strings are not read as Rich markup (route names, paths, findings and
  error texts often hold ``[...]``); a command that wants a style passes ``style=`` or a
  :class:`rich.text.Text`. A command that builds markup itself asks for ``markup=True`` and
  escapes every piece of data with :func:`rich.markup.escape`.
- No wrapping into a pipe: Rich lays out at 80 columns when it cannot ask a terminal; when
  stdout (or stderr) is not a terminal, lines and tables keep their natural width instead, unless
  ``COLUMNS`` asks for a width.
- Progress on stderr, on a terminal only: :func:`progress` is disabled otherwise, so piped and
  logged output holds the results alone.
"""

from __future__ import annotations

import os
import sys
from typing import IO

from rich.console import Console
from rich.progress import Progress, ProgressColumn

#: The width a console lays out at when its stream is not a terminal: wider than any line.
PIPE_WIDTH = 100_000


def _width(stream: IO[str]) -> int | None:
    """None (ask the terminal, or ``COLUMNS``) on a terminal or when ``COLUMNS`` is set."""
    if os.environ.get("COLUMNS", "").isdigit() or stream.isatty():
        return None
    return PIPE_WIDTH


def stdout_console(*, markup: bool = False) -> Console:
    """The console of a command's results (stdout)."""
    return Console(highlight=False, markup=markup, width=_width(sys.stdout))


def stderr_console() -> Console:
    """The console of live indicators and warnings (stderr)."""
    return Console(stderr=True, highlight=False, markup=False, width=_width(sys.stderr))


def progress(*columns: str | ProgressColumn, transient: bool = False) -> Progress:
    """A Rich progress display on stderr, shown only when stderr is a terminal. What the command
    prints to stdout meanwhile goes above the display when stdout is that terminal too, and
    straight to stdout otherwise (never into stderr)."""
    console = stderr_console()
    return Progress(
        *columns,
        console=console,
        disable=not console.is_terminal,
        transient=transient,
        redirect_stdout=sys.stdout.isatty(),
    )
