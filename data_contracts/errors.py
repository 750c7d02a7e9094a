"""The one error type for problems in the data a user brings.

A ``RiskstratDataError`` says, in one sentence, what is wrong, in which file or table and
column, and what to do about it. Libraries (adapters, contracts, features, models, reports)
raise it; the Dagster assets turn it into a step failure carrying the same sentence as
metadata; the CLI prints the sentence and exits 2 without a traceback (``--debug`` shows one).
Anything else that escapes is a bug in riskstrat, not in the data.

Messages name files, tables, columns, rules and counts; never row contents (member data is PHI).
``error_summary`` applies the same rule to every other error before it is printed.
"""

from __future__ import annotations

import linecache
import os
from pathlib import Path


class RiskstratDataError(Exception):
    """A data problem the user can fix: the message names the file/table, the column and what to do.

    ``source`` (file or table) and ``column`` are kept as attributes for run metadata.
    """

    def __init__(self, message: str, *, source: str | None = None, column: str | None = None) -> None:
        super().__init__(message)
        self.source = source
        self.column = column

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


# Errors whose message is an OS reason and a path, never a value read from a file.
_OS_ERRORS = frozenset({
    "OSError", "FileNotFoundError", "FileExistsError", "PermissionError", "IsADirectoryError",
    "NotADirectoryError", "MemoryError", "TimeoutError",
})
RISKSTRAT_PACKAGES = ("pipelines", "data_contracts", "features", "models", "reports", "adapters", "synth")
_PACKAGE_DIRS = tuple(str(Path(__file__).resolve().parents[1] / name) + os.sep for name in RISKSTRAT_PACKAGES)


def raised_by_riskstrat(filename: str, source_line: str) -> bool:
    """True when an error comes from a ``raise`` statement in riskstrat's own code.

    Such a message was written here and follows the rule above. An error raised inside a
    library, or by a builtin on a value in riskstrat's code (``int(text)``, ``mapping[key]``),
    can quote that value.
    """
    return filename.startswith(_PACKAGE_DIRS) and source_line.lstrip().startswith("raise ")


def error_summary(type_name: str, message: str, *, trusted: bool = False) -> str:
    """``Type: first line`` when the message cannot carry row contents, else ``Type`` alone.

    A message from polars, DuckDB, numpy, or a builtin raised on a value can quote the value
    it choked on, i.e. member data, so only the type is shown. OS errors (a reason and a path)
    and ``trusted`` ones (raised by riskstrat, see ``raised_by_riskstrat``) keep their first
    line. ``--debug`` shows everything.
    """
    lines = message.strip().splitlines()
    shown = trusted or type_name in _OS_ERRORS
    return f"{type_name}: {lines[0]}" if shown and lines else type_name


def exception_summary(exc: BaseException) -> str:
    """``error_summary`` for a live exception, trusted when riskstrat's code raised it."""
    frame = exc.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    trusted = frame is not None and raised_by_riskstrat(
        frame.tb_frame.f_code.co_filename, linecache.getline(frame.tb_frame.f_code.co_filename, frame.tb_lineno)
    )
    return error_summary(type(exc).__name__, str(exc), trusted=trusted)
